// Finding and running the reference (PyTorch in Python, on the same libtorch generation as msam's
// binary), and the statistic the benchmarks report.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../lib/native';
import { version } from '../lib/runtime';

/** The reference Python for this process's libtorch, or why there is none. */
export interface ReferencePython {
  /** The interpreter (null when none fits). */
  python: string | null;
  /** Its torch version ("2.15.0+cu132"). */
  torch: string | null;
  /** Why none fits (empty when one does). */
  reason: string;
}

const majorMinor = (v: string): string => v.split('.').slice(0, 2).join('.');

/** torch.__version__ without importing torch (which takes seconds): torch/version.py read from where the package is. */
function torchVersionOf(python: string): string | null {
  const script =
    "import importlib.util as u, os, re; s = u.find_spec('torch'); " +
    "f = os.path.join(s.submodule_search_locations[0], 'version.py') if s else ''; " +
    "m = re.search(r\"__version__\\s*=\\s*'([^']+)'\", open(f).read()) if f and os.path.exists(f) else None; print(m.group(1) if m else '')";
  const r = spawnSync(python, ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

const cache = new Map<string, ReferencePython>();

/**
 * The Python whose PyTorch is the reference for msam's binary: the same libtorch major.minor, so
 * that the 1.13 build is checked against Debian's torch 1.13 (/usr/bin/python3) and a 2.x build
 * against the 2.x of the environment it was built from (scripts/setup.sh --cuda: .venv). Tried in
 * order: MSAM_PYTHON (or MSAM_TEST_PYTHON), the project's .venv, its .venv-ref (the test-only
 * transformers/timm environment over /usr/bin/python3 that scripts/reference-venv.sh makes), python3,
 * /usr/bin/python3; the first whose torch fits and imports `modules` wins.
 */
export function referencePython(modules: string[] = ['torch']): ReferencePython {
  const key = modules.join(',');
  const hit = cache.get(key);
  if (hit) return hit;
  const want = majorMinor(version().libtorch);
  const venv = path.join(packageRoot(), '.venv', 'bin', 'python');
  const refVenv = path.join(packageRoot(), '.venv-ref', 'bin', 'python');
  const candidates = [process.env['MSAM_PYTHON'], process.env['MSAM_TEST_PYTHON'], venv, refVenv, 'python3', '/usr/bin/python3'].filter(
    (p, i, all): p is string => typeof p === 'string' && p.length > 0 && all.indexOf(p) === i && (!p.includes('/') || fs.existsSync(p)),
  );
  const seen: string[] = [];
  let result: ReferencePython | null = null;
  for (const python of candidates) {
    const torch = torchVersionOf(python);
    seen.push(`${python}: ${torch === null ? 'no torch' : `torch ${torch}`}`);
    if (torch === null || majorMinor(torch) !== want) continue;
    const r = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) {
      const last = (r.stderr || String(r.error)).trim().split('\n').pop();
      seen[seen.length - 1] += ` (cannot import ${modules.join(', ')}: ${last})`;
      continue;
    }
    result = { python, torch, reason: '' };
    break;
  }
  result ??= {
    python: null,
    torch: null,
    reason: `no Python with torch ${want}.x${modules.length > 1 ? ` and ${modules.slice(1).join(', ')}` : ''} for msam's libtorch ${version().libtorch} (${seen.join('; ')})`,
  };
  cache.set(key, result);
  return result;
}

/** The reference Python's interpreter, or null (the benchmarks' form). */
export function torchPython(): string | null {
  return referencePython().python;
}

/** Runs a Python script with arguments and parses the JSON it prints last. */
export function runPythonJson<T>(script: string, args: string[] = []): T {
  const ref = referencePython();
  if (ref.python === null) throw new Error(`${ref.reason}: set MSAM_PYTHON, or apt-get install python3-torch (libtorch 1.13), or bash scripts/setup.sh --cuda (2.x)`);
  const out = execFileSync(ref.python, [script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as T;
}

/** The median of a sample (the statistic every benchmark here reports). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
