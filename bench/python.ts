// Finding and running the reference (PyTorch in Python, on the same libtorch where possible), and
// the statistic the benchmarks report.
import { execFileSync } from 'node:child_process';

let cached: string | null | undefined;

/** A python3 that can import torch (MSAM_PYTHON, then python3, then /usr/bin/python3), or null. */
export function torchPython(): string | null {
  if (cached !== undefined) return cached;
  cached = null;
  for (const py of [process.env.MSAM_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
      cached = py;
      break;
    } catch {
      // not this one
    }
  }
  return cached;
}

/** Runs a Python script with arguments and parses the JSON it prints last. */
export function runPythonJson<T>(script: string, args: string[] = []): T {
  const py = torchPython();
  if (py === null) throw new Error('no python3 with torch found (set MSAM_PYTHON, or apt-get install python3-torch)');
  const out = execFileSync(py, [script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as T;
}

/** The median of a sample (the statistic every benchmark here reports). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
