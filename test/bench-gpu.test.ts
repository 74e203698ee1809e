// bench/gpu.ts, run as the GPU session runs it but tiny and on the CPU: the JSON it writes has the
// documented shape, our vanilla and PyTorch's vanilla were both measured, a strategy that cannot
// run here is an error in its cell (not a crashed bench), and the markdown table is printed.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { torchPython } from '../bench/python';
import { parseConfig, type Measure, type Result } from '../bench/gpu';

const root = path.resolve(__dirname, '..');

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register', path.join(root, 'bench', 'gpu.ts'), ...args], {
    cwd: root,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const measured = (m: Measure | undefined): number => {
  if (m === undefined || 'error' in m) throw new Error(`not measured: ${JSON.stringify(m)}`);
  return m.ms;
};

describe('bench/gpu.ts (a CPU smoke run)', () => {
  it.skipIf(torchPython() === null)(
    'ResNet-50, batch 4, m = 2, one step: every cell measured or an error; the JSON and the table',
    async () => {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'msam-gpu-bench-')), 'gpu.json');
      const r = await runBench(['--device', 'cpu', '--models', 'resnet50', '--batch', '4', '--m', '2', '--iters', '1', '--warmup', '0', '--image-size', '8', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const result = JSON.parse(fs.readFileSync(out, 'utf8')) as Result;
      expect(fs.readdirSync(path.dirname(out))).toEqual(['gpu.json']); // written atomically: no temporary left
      expect(result.complete).toBe(true);
      expect(result.config).toMatchObject({ batch: 4, m: 2, precision: 'fp32', device: 'cpu', iters: 1, warmup: 0, imageSize: 8 });
      expect(result.msam.libtorch).toBe(msam.version().libtorch);
      expect(result.pytorch).toMatchObject({ torch: expect.any(String) });
      expect(result.rows).toHaveLength(1);
      const row = result.rows[0]!;
      expect(row).toMatchObject({ model: 'resnet50', imageSize: 8, numClasses: 10 });
      expect(Object.keys(row.ours).sort()).toEqual(['graph', 'loop', 'sam', 'vanilla', 'vectorized']);
      expect(Object.keys(row.pytorch).sort()).toEqual(['loop', 'sam', 'vanilla', 'vmap']);
      // Our vanilla and PyTorch's vanilla, SAM and the mSAM loops: real times, no memory peak on the CPU.
      for (const m of [row.ours.vanilla, row.ours.sam, row.ours.loop, row.pytorch.vanilla, row.pytorch.sam, row.pytorch.loop]) {
        expect(measured(m)).toBeGreaterThan(0);
        expect(m).toMatchObject({ peakBytes: null });
      }
      // 'graph' cannot run on the CPU: its cell says why, and the bench went on.
      expect(row.ours.graph).toEqual({ error: expect.stringMatching(/strategy 'graph' needs a CUDA model\/build/) });
      for (const k of ['vectorized'] as const) expect(row.ours[k]).toSatisfy((m: Measure) => ('error' in m ? m.error.length > 0 : m.ms > 0));
      expect(row.pytorch.vmap).toSatisfy((m: Measure) => ('error' in m ? /unavailable|Error/.test(m.error) : m.ms > 0));
      // The table: a header and the row, times in the cells; the error listed under it.
      expect(r.stdout).toMatch(/\| model \| vanilla \| SAM \| mSAM loop \| mSAM graph \| mSAM vectorized \| PyTorch vanilla \|/);
      expect(r.stdout).toMatch(/\| ResNet-50 \(CIFAR\) \(8²\) \| \d+(\.\d)? \| \d+(\.\d)? \| \d+(\.\d)? \| error \|/);
      expect(r.stdout).toMatch(/msam graph: .*needs a CUDA model\/build/);
    },
    240_000,
  );

  it('bad flags are refused, naming them', () => {
    expect(() => parseConfig(['--precision', 'fp64'])).toThrow(/--precision must be fp32 or bf16/);
    expect(() => parseConfig(['--models', 'resnet51'])).toThrow(/unknown model 'resnet51'/);
    expect(() => parseConfig(['--batch', '4', '--m', '8'])).toThrow(/--m \(8\) exceeds --batch \(4\)/);
    expect(() => parseConfig(['--iters', '0'])).toThrow(/--iters must be an integer ≥ 1/);
    expect(() => parseConfig(['--device', 'gpu'])).toThrow(/--device must be cpu, cuda or cuda:N/);
    expect(() => parseConfig(['--batches', '4'])).toThrow(/unknown flag --batches/);
    expect(parseConfig([])).toMatchObject({ models: ['resnet50', 'wrn28-10', 'vit-b16'], batch: 512, m: 32, precision: 'fp32', device: 'cuda', tf32: true });
  });
});
