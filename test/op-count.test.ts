// The op counter (csrc/profile/op_count.h) and what it shows of the mSAM step: at most one host read
// per training step in every strategy and configuration, and msam's bookkeeping ops per shard
// independent of the number of parameter tensors (README, "Benchmarks"). The counts are of what the
// code dispatches, so they hold on the CPU build as on a GPU; 'graph' runs only where CUDA does.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { COUNT_CONFIGS, countStepOps } from '../lib/experiments/step-count';
import { describeCuda } from './helpers/cuda';

describe('the op counter', () => {
  it('counts each .item() as one host read, and plain ops as ops without reads', async () => {
    const x = msam.tensor([1, 2, 3], { dtype: 'float64' });
    const { counts: plain } = await msam.countOps(() => x.add(x).mul(x));
    expect(plain.hostReads).toBe(0);
    expect(plain.ops).toBe(2);
    expect(plain.byName).toEqual({ 'aten::add': 1, 'aten::mul': 1 });
    const { result, counts } = await msam.countOps(() => [x.sum().item(), x.max().item(), x.min().item()]);
    expect(result).toEqual([6, 3, 1]);
    expect(counts.hostReads).toBe(3);
    expect(counts.reads).toEqual({ 'aten::_local_scalar_dense': 3 });
  });

  it('counts .cpu() / .to(device) as a host read (a copy between devices on a GPU)', async () => {
    const x = msam.tensor([1, 2, 3]);
    const { counts } = await msam.countOps(() => [x.to('cpu'), x.to('float64')]);
    expect(counts.hostReads).toBe(1); // the dtype-only conversion moves nothing between devices
  });

  it('refuses to nest, and stops when the counted work throws', async () => {
    await expect(
      msam.countOps(async () => {
        await msam.countOps(() => 1);
      }),
    ).rejects.toThrow(/a count is already running/);
    await expect(msam.countOps(() => { throw new Error('boom'); })).rejects.toThrow('boom');
    const one = msam.tensor([1]);
    const { counts } = await msam.countOps(() => one.item()); // usable again
    expect(counts.hostReads).toBe(1);
  });
});

describe('host reads per mSAM step (m = 8, batch 64, gradient and SGD step)', () => {
  for (const model of ['mlp', 'cnn'] as const) {
    it(`${model}: at most one in every strategy and configuration (${COUNT_CONFIGS.join(', ')})`, async () => {
      const rows = await countStepOps({ model, m: 8, batch: 64, strategies: ['loop', 'vectorized'] });
      expect(rows).toHaveLength(2 * COUNT_CONFIGS.length);
      for (const r of rows) {
        expect(r.error, `${r.strategy}/${r.config}`).toBeUndefined();
        expect(r.hostReads, `${r.strategy}/${r.config}: ${JSON.stringify(r.reads)}`).toBeLessThanOrEqual(1);
        expect(r.ops, `${r.strategy}/${r.config}`).toBeGreaterThan(0);
      }
    }, 120_000);
  }

  it("a skipped step (a NaN in one shard) still reads once, and names the shard as before", async () => {
    for (const strategy of ['loop', 'vectorized'] as const) {
      msam.manualSeed(0);
      const model = new msam.nn.Sequential(new msam.nn.Linear(4, 3));
      const sam = new msam.MSAM(model, { step() {} }, { m: 4, rho: 0.1, strategy });
      const input = msam.randn([8, 4]);
      const rows = input.toArray() as number[][];
      (rows[5] as number[])[0] = Number.NaN; // shard 2 of 4 (rows 4 and 5)
      const bad = msam.tensor(rows);
      const { result, counts } = await msam.countOps(() => sam.gradient({ input: bad, target: msam.randint(0, 3, [8]) }));
      expect(result.skipped, strategy).toBe(true);
      expect(result.skipReason, strategy).toMatch(/^non-finite loss -?nan in shard 2$/);
      expect(counts.hostReads, strategy).toBe(1);
    }
  });
});

describe('bookkeeping ops per shard do not grow with the parameter tensors', () => {
  it('loop: an MLP with 2 and with 8 hidden layers (6 and 18 parameter tensors) dispatch the same number', async () => {
    for (const config of ['default', 'asam', 'wdInLoss', 'rho0'] as const) {
      const count = async (layers: number) => (await countStepOps({ model: 'mlp', layers, m: 4, batch: 16, configs: [config], strategies: ['loop'] }))[0]!;
      const a = await count(2);
      const b = await count(8); // counts do not nest: one after the other
      expect(a.bookkeepingPerShard, config).toBeGreaterThan(0);
      expect(b.bookkeepingPerShard, config).toBe(a.bookkeepingPerShard);
      expect(b.ops!, config).toBeGreaterThan(a.ops!); // the forward and backward do grow: the count sees them
    }
  }, 120_000);
});

describeCuda("'graph' on CUDA", () => {
  it('reads the host at most once per step', async () => {
    const rows = await countStepOps({ model: 'mlp', m: 8, batch: 64, strategies: ['graph'], configs: ['default', 'rho0', 'asam', 'wdInLoss'], device: 'cuda' });
    for (const r of rows) {
      expect(r.error, r.config).toBeUndefined();
      expect(r.hostReads, `${r.config}: ${JSON.stringify(r.reads)}`).toBeLessThanOrEqual(1);
    }
  }, 120_000);
});

describe('msam bench --count', () => {
  it('prints the table of counts and the CPU ratios, and writes results.json', async () => {
    const root = path.resolve(__dirname, '..');
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-count-'));
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register', path.join(root, 'lib', 'cli.ts'), 'bench', '--count', '--count-m', '2', '--count-batch', '8', '--out-dir', outDir],
      { cwd: root, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      expect(code, stderr).toBe(0);
      expect(stdout).toMatch(/\| loop \| default \| 1 \| \d+ \| [\d.]+ \|/);
      expect(stdout).toMatch(/\| vectorized \| asam \| 1 \|/);
      expect(stdout).toMatch(/loop: SAM [\d.]+ ms, mSAM [\d.]+ ms, ratio [\d.]+×/);
      const json = JSON.parse(fs.readFileSync(path.join(outDir, 'results.json'), 'utf8')) as { rows: { hostReads: number }[]; ratios: unknown[] };
      expect(json.rows.length).toBe(12);
      expect(json.rows.every((r) => r.hostReads === 1)).toBe(true);
      expect(json.ratios).toHaveLength(2);
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  }, 180_000);
});
