// Data-parallel mSAM over c10d (Gloo, CPU): real worker processes on 127.0.0.1 with free ports.
//  - after one step, every rank's gradient is the single-process mSAM gradient of the same shards
//    (float64, 1e-10), against the library's one-process step and the independent reference;
//  - a 2-process training run reproduces the 1-process loss curve;
//  - a worker killed mid-run makes the other stop with a clear error, and --resume continues from
//    the last checkpoint to exactly what an uninterrupted run gives.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { launch, freePort } from '../lib/distributed/launch';
import { rankShare, splitRange } from '../lib/distributed/split';
import { worldFromEnv } from '../lib/distributed/env';
import { withoutLaunchFlags } from '../lib/distributed/commands';
import { GRAD_CASE, gradBatch, gradModel } from './helpers/dist-grad-case';
import { gradsOf, msamReference } from './helpers/msam-reference';
import { writeSyntheticMnist } from './helpers/synthetic-mnist';

const root = path.resolve(__dirname, '..');
const tsNode = ['-r', 'ts-node/register'];
const workerEnv = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' };
let tmp: string;
let dataDir: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-dist-'));
  dataDir = path.join(tmp, 'data');
  writeSyntheticMnist(dataDir, 1423, 200);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const maxDiff = (a: ArrayLike<number>[], b: ArrayLike<number>[]): number => {
  expect(a.length).toBe(b.length);
  let d = 0;
  a.forEach((x, i) => {
    const y = b[i] as ArrayLike<number>;
    expect(x.length).toBe(y.length);
    for (let k = 0; k < x.length; k++) d = Math.max(d, Math.abs((x[k] as number) - (y[k] as number)));
  });
  return d;
};

describe('the split of a batch among ranks', () => {
  it('gives each rank whole shards, and the ranks together the single-process shards in order', () => {
    for (const [B, m, world] of [[11, 5, 2], [512, 32, 3], [10, 10, 4], [7, 3, 3], [100, 7, 2], [33, 8, 8]] as const) {
      const x = msam.arange(B);
      const global = x.tensorSplit(m).map((t) => t.toArray() as number[]);
      const local: number[][] = [];
      let next = 0;
      for (let r = 0; r < world; r++) {
        const s = rankShare(B, m, world, r);
        expect(s.start).toBe(next);
        next = s.end;
        // The rank's own tensor_split into its m gives exactly its run of the global shards.
        local.push(...x.narrow(0, s.start, s.end - s.start).tensorSplit(s.m).map((t) => t.toArray() as number[]));
      }
      expect(next).toBe(B);
      expect(local).toEqual(global);
    }
    expect(splitRange(10, 3, 0)).toEqual([0, 4]);
    expect(() => rankShare(16, 1, 2, 0)).toThrow(/m \(1 shards\) must be at least the number of processes \(2\)/);
  });

  it('reads torchrun\'s environment and names a bad variable', () => {
    expect(worldFromEnv({})).toBeNull();
    expect(worldFromEnv({ WORLD_SIZE: '4', RANK: '3', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '1234', LOCAL_RANK: '1' })).toEqual({
      masterAddr: '10.0.0.1',
      masterPort: 1234,
      rank: 3,
      worldSize: 4,
      localRank: 1,
    });
    expect(() => worldFromEnv({ WORLD_SIZE: '2', RANK: 'x' })).toThrow(/RANK must be an integer ≥ 0, got "x"/);
    expect(() => worldFromEnv({ WORLD_SIZE: '2', RANK: '2' })).toThrow(/RANK \(2\) must be below WORLD_SIZE \(2\)/);
    expect(withoutLaunchFlags(['train', '--nproc', '2', '--epochs', '3', '--master-port=99', '--m', '4'])).toEqual(['train', '--epochs', '3', '--m', '4']);
  });

  it('rejects bad options naming the field', async () => {
    expect(msam.dist.backends().gloo).toBe(true);
    await expect(msam.dist.initProcessGroup({ rank: 2, worldSize: 2 })).rejects.toThrow(/option 'rank' must be an integer in \[0, 2\)/);
    await expect(msam.dist.initProcessGroup({ rank: 0, worldSize: 1, masterPort: 70000 })).rejects.toThrow(/option 'masterPort' must be a port/);
    await expect(msam.dist.initProcessGroup({ rank: 0, worldSize: 1, backend: 'mpi' as 'gloo' })).rejects.toThrow(/option 'backend' must be 'gloo', 'nccl' or 'auto'/);
    const model = new msam.nn.Linear(2, 2);
    const opt = new msam.optim.SGD(model.parameters(), { lr: 0.1 });
    expect(() => new msam.MSAM(model, opt, { processGroup: {} as msam.dist.ProcessGroup })).toThrow(/option 'processGroup' must be a msam.dist.ProcessGroup/);
  });

  it('a rank whose peers never come fails the rendezvous after its timeout, naming the master', async () => {
    const port = await freePort();
    const t0 = performance.now();
    await expect(msam.dist.initProcessGroup({ rank: 1, worldSize: 2, masterPort: port, timeout: 2 })).rejects.toThrow(
      new RegExp(`rendezvous failed \\(rank 1 of 2, master 127\\.0\\.0\\.1:${port}\\)`),
    );
    expect(performance.now() - t0).toBeLessThan(30_000);
  });

  it('in one process, two ranks all-reduce and broadcast (each on its own worker thread)', async () => {
    const port = await freePort();
    const [g0, g1] = await Promise.all([0, 1].map((rank) => msam.dist.initProcessGroup({ rank, worldSize: 2, masterPort: port, timeout: 30 })));
    const a = [msam.tensor([1, 2], { dtype: 'float64' }), msam.tensor([[1]], { dtype: 'int64' })];
    const b = [msam.tensor([10, 20], { dtype: 'float64' }), msam.tensor([[5]], { dtype: 'int64' })];
    await Promise.all([g0!.allReduce(a), g1!.allReduce(b)]);
    expect(a.map((t) => t.toArray())).toEqual([[11, 22], [[6]]]);
    expect(b.map((t) => t.toArray())).toEqual([[11, 22], [[6]]]);
    const c = msam.tensor([3.5]);
    const d = msam.tensor([0], { dtype: 'float32' });
    await Promise.all([g0!.broadcast(c, 0), g1!.broadcast(d, 0)]);
    expect(d.toArray()).toEqual([3.5]);
    // The trainer refuses what several processes cannot run before any collective.
    await expect(msam.train({ method: 'sam', epochs: 1, batchSize: 8 }, { processGroup: g1! })).rejects.toThrow(/method: SAM is m = 1/);
    await expect(msam.train({ method: 'msam', m: 1, epochs: 1, batchSize: 8 }, { processGroup: g1! })).rejects.toThrow(/m: a batch of 8 has 1 shard\(s\), fewer than the 2 processes/);
    g0!.close();
    g1!.close();
    expect(() => g0!.allReduceSync(c)).toThrow(/the process group was closed/);
  });
});

describe('one data-parallel mSAM step (2 processes, Gloo)', () => {
  it('leaves on every rank the single-process gradient of the same 5 shards (float64, 1e-10), then the same SGD step', async () => {
    const outs = [0, 1].map((r) => path.join(tmp, `grad-${r}.json`));
    const r = await launch({
      command: process.execPath,
      args: [...tsNode, path.join(root, 'test', 'helpers', 'dist-grad-worker.ts'), path.join(tmp, 'grad-RANK.json')],
      nproc: 2,
      env: workerEnv,
      log: () => {},
    });
    expect(r).toEqual({ exitCode: 0, failed: null });
    type Out = { rank: number; localM: number; localB: number; stats: msam.StepStats; native: number[][]; closureStats: msam.StepStats; closure: number[][]; stepStats: msam.StepStats; weights: number[][] };
    const ranks = outs.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Out);
    expect(ranks.map((o) => [o.localM, o.localB])).toEqual([[3, 7], [2, 4]]); // shards of 3, 2, 2 | 2, 2

    // The same step in one process, on the whole batch with m = 5.
    const model = gradModel();
    const { x, y } = gradBatch();
    const ref = msamReference(model, x, y, { m: GRAD_CASE.m, rho: GRAD_CASE.rho });
    const model1 = gradModel();
    const params = model1.parameters();
    const opt = new msam.optim.SGD(params, { lr: 0.1, momentum: 0.9 });
    const sam = new msam.MSAM(model1, opt, { m: GRAD_CASE.m, rho: GRAD_CASE.rho });
    const stats = await sam.gradient({ input: x, target: y });
    const single = gradsOf(model1);
    expect(maxDiff(single, ref.grads)).toBeLessThan(1e-10);
    await sam.step({ input: x, target: y });
    const weights = params.map((p) => Array.from(p.detach().data() as Float64Array));

    for (const o of ranks) {
      expect(maxDiff(o.native, ref.grads)).toBeLessThan(1e-10);
      expect(maxDiff(o.native, single)).toBeLessThan(1e-10);
      expect(maxDiff(o.closure, single)).toBeLessThan(1e-10);
      expect(maxDiff(o.weights, weights)).toBeLessThan(1e-10);
      for (const s of [o.stats, o.closureStats]) {
        expect(s.shards).toBe(5);
        expect(s.skipped).toBe(false);
        expect(Math.abs(s.loss - ref.loss)).toBeLessThan(1e-10);
        expect(Math.abs(s.perturbedLoss - ref.perturbedLoss)).toBeLessThan(1e-10);
        expect(Math.abs(s.gradNorm - ref.gradNorm)).toBeLessThan(1e-10);
        expect(Math.abs(s.loss - stats.loss)).toBeLessThan(1e-10);
      }
    }
    // Both ranks hold the very same numbers (one all-reduce result, one optimizer step).
    expect(ranks[0]!.weights).toEqual(ranks[1]!.weights);
    // The all-reduce did the work: rank 0's own 3 shards alone give another gradient.
    const alone = gradModel();
    const share = rankShare(GRAD_CASE.B, GRAD_CASE.m, 2, 0);
    await new msam.MSAM(alone, new msam.optim.SGD(alone.parameters(), { lr: 0.1 }), { m: share.m, rho: GRAD_CASE.rho }).gradient({
      input: x.narrow(0, share.start, share.end - share.start),
      target: y.narrow(0, share.start, share.end - share.start),
    });
    expect(maxDiff(gradsOf(alone), single)).toBeGreaterThan(1e-3);
  }, 120_000);
});

// ---- training runs through the CLI ----

const cliArgs = (outDir: string, extra: string[]) => [
  // 1423 examples: 142 held out for validation, 1281 train in 40 steps of 32.
  'train', '--data-dir', dataDir, '--device', 'cpu', '--threads', '1', '--batch-size', '32', '--m', '4', '--train-limit', '1423',
  '--out-dir', outDir, '--progress', 'plain', '--log-every', '1', ...extra,
];

interface CliRun {
  child: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = workerEnv): CliRun {
  const child = spawn(process.execPath, [...tsNode, path.join(root, 'lib', 'cli.ts'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, stderr: () => stderr, done };
}

type Line = Record<string, number | string | boolean>;
const lines = (dir: string): Line[] =>
  fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
const withoutTimes = (ls: Line[]) => ls.map(({ seconds: _s, examplesPerSecond: _e, ...rest }) => rest);

describe('training with 2 processes', () => {
  it('reproduces the 1-process loss curve (msam train --nproc 2)', async () => {
    const one = path.join(tmp, 'one');
    const two = path.join(tmp, 'two');
    const extra = ['--epochs', '1', '--set', 'model.options.width=4', '--set', 'model.options.dropout=0'];
    const single = runCli(cliArgs(one, extra));
    expect((await single.done).code).toBe(0);
    const pair = runCli(cliArgs(two, ['--nproc', '2', ...extra]));
    const r = await pair.done;
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/test accuracy/); // rank 0 alone reports
    expect(r.stdout.match(/test accuracy/g)).toHaveLength(1);
    const a = lines(one).filter((l) => l['type'] === 'step');
    const b = lines(two).filter((l) => l['type'] === 'step');
    expect(b).toHaveLength(40);
    expect(a).toHaveLength(40);
    for (let k = 0; k < a.length; k++) {
      expect(b[k]!['shards']).toBe(4);
      // float32 sums grouped differently (two all-reduced halves): agreement to float32 rounding, growing slowly over 40 steps.
      expect(Math.abs((b[k]!['loss'] as number) - (a[k]!['loss'] as number))).toBeLessThan(2e-5 * Math.max(1, a[k]!['loss'] as number));
      expect(Math.abs((b[k]!['perturbedLoss'] as number) - (a[k]!['perturbedLoss'] as number))).toBeLessThan(2e-5 * Math.max(1, a[k]!['perturbedLoss'] as number));
      expect(Math.abs((b[k]!['gradNorm'] as number) - (a[k]!['gradNorm'] as number))).toBeLessThan(1e-4 * Math.max(1, a[k]!['gradNorm'] as number));
    }
    // The loss went down: the run trained.
    expect(a[39]!['loss'] as number).toBeLessThan((a[0]!['loss'] as number) * 0.9);
    const resultsTwo = JSON.parse(fs.readFileSync(path.join(two, 'results.json'), 'utf8')) as msam.TrainResult;
    const resultsOne = JSON.parse(fs.readFileSync(path.join(one, 'results.json'), 'utf8')) as msam.TrainResult;
    expect(resultsTwo.processes).toBe(2);
    expect(resultsTwo.m).toBe(4);
    // Evaluation uses BatchNorm statistics averaged over the ranks (each updated by its own shards).
    expect(Math.abs((resultsTwo.testAccuracy ?? 0) - (resultsOne.testAccuracy ?? 0))).toBeLessThanOrEqual(0.03);
  }, 240_000);

  it('a killed worker stops the other with a clear error; --resume then continues to exactly the uninterrupted run', async () => {
    const extra = ['--epochs', '3', '--set', 'model.options.width=4', '--set', 'model.options.dropout=0.25'];
    const reference = path.join(tmp, 'reference');
    expect((await runCli(cliArgs(reference, ['--nproc', '2', ...extra])).done).code).toBe(0);

    // Two workers started by hand (as torchrun would), so that the test can kill one.
    const outDir = path.join(tmp, 'killed');
    const port = await freePort();
    const env = (rank: number) => ({ ...workerEnv, MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RANK: String(rank), WORLD_SIZE: '2' });
    const rank0 = runCli(cliArgs(outDir, extra), env(0));
    const rank1 = runCli(cliArgs(outDir, extra), env(1));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (fs.existsSync(path.join(outDir, 'checkpoints', 'last.safetensors')) && /epoch 2\/3 step 3\/40/.test(rank0.stderr())) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
      void rank0.done.then(() => {
        clearInterval(timer);
        reject(new Error('rank 0 ended before the kill'));
      });
    });
    rank1.child.kill('SIGKILL');
    const t0 = performance.now();
    const r0 = await rank0.done;
    const stoppedAfter = performance.now() - t0;
    expect(stoppedAfter).toBeLessThan(30_000);
    expect(r0.code).toBe(1);
    expect(r0.stderr).toMatch(/msam: rank 0: .*c10d allReduce failed on rank 0 of 2 \(gloo\): another rank has stopped/);
    expect((await rank1.done).code).toBeNull(); // killed

    // The checkpoint is the end of epoch 1; resuming runs epochs 2 and 3 again.
    const saved = msam.loadCheckpoint(path.join(outDir, 'checkpoints', 'last.safetensors'));
    expect((saved.extra as { state: { epoch: number } }).state.epoch).toBe(1);
    const resumed = await runCli(['train', '--resume', outDir, '--nproc', '2', '--progress', 'none']).done;
    expect(resumed.stderr).not.toMatch(/Error/);
    expect(resumed.code).toBe(0);
    expect(withoutTimes(lines(outDir))).toEqual(withoutTimes(lines(reference)));
    const a = msam.load(path.join(outDir, 'checkpoints', 'last.safetensors')).tensors;
    const b = msam.load(path.join(reference, 'checkpoints', 'last.safetensors')).tensors;
    const modelKeys = Object.keys(b).filter((k) => k.startsWith('model.'));
    expect(modelKeys.length).toBeGreaterThan(4);
    for (const k of modelKeys) expect(a[k]!.toArray()).toEqual(b[k]!.toArray());
  }, 300_000);
});
