// `msam compare --sharpness` and `msam sharpness --checkpoint` on tiny runs over a synthetic
// MNIST-format data set: the measures land in results.json (lambdaMax, trace, m-sharpness per run,
// mean ± std per method) and in a table like the paper's Table 4; the same checkpoint measured
// again gives the same numbers; and λ_max equals what the tensor API gets from the checkpoint's
// weights, rebuilt here by hand (model, data, label smoothing, eval mode).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { runCompare } from '../lib/experiments';
import { experimentLayers } from '../lib/experiments/options';
import { runSharpness, sharpnessOptionsFrom } from '../lib/experiments/sharpness';
import { writeSyntheticMnist } from './helpers/synthetic-mnist';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-sharpness-'));
const dataDir = path.join(tmp, 'data');
// 214 examples: 21 held out for validation, 193 train in 6 steps of 32.
beforeAll(() => writeSyntheticMnist(dataDir, 214, 64));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const tiny = () => experimentLayers({ dataDir, set: ['model.options.width=4'], epochs: '1', batchSize: '32', device: 'cpu', labelSmoothing: '0.1' });
/** 96 training examples in batches of 48; short iterations. */
const budget = { examples: 96, batchSize: 48, maxIterations: 30, tolerance: 1e-4, traceSamples: 6, shardSize: 16, ascentSteps: 3 };

describe('compare --sharpness and sharpness --checkpoint', () => {
  let compareDir = '';
  let runs: { outDir: string; method: string; seed: number; lambdaMax: number; trace: number; mSharpness: number }[] = [];

  it('compare --sharpness: λ_max, trace and m-sharpness per run and per method', async () => {
    const r = await runCompare({ methods: ['vanilla', 'msam'], seeds: [0, 1], layers: tiny(), outDir: path.join(tmp, 'compare'), log: () => {}, sharpness: budget });
    compareDir = r.dir;
    for (const f of ['results.json', 'table.md', 'chart.svg', 'chart.png', 'sharpness.svg', 'sharpness.png']) expect(fs.existsSync(path.join(r.dir, f)), f).toBe(true);
    const results = JSON.parse(fs.readFileSync(path.join(r.dir, 'results.json'), 'utf8')) as {
      runs: typeof runs;
      summary: { method: string; lambdaMax: { n: number; mean: number; std: number }; trace: { n: number; mean: number } }[];
    };
    runs = results.runs;
    expect(runs).toHaveLength(4);
    for (const run of runs) {
      expect(run.lambdaMax).toBeGreaterThan(0);
      expect(Number.isFinite(run.trace)).toBe(true);
      expect(run.mSharpness).toBeGreaterThan(0);
    }
    const vanilla = runs.filter((x) => x.method === 'vanilla').map((x) => x.lambdaMax);
    expect(results.summary.map((s) => [s.method, s.lambdaMax.n])).toEqual([
      ['vanilla', 2],
      ['msam', 2],
    ]);
    expect(results.summary[0]!.lambdaMax.mean).toBeCloseTo((vanilla[0]! + vanilla[1]!) / 2, 12);
    expect(results.summary[0]!.lambdaMax.std).toBeCloseTo(Math.abs(vanilla[0]! - vanilla[1]!) / Math.SQRT2, 12);
    expect(r.table).toMatch(/\| Model +\| Measure +\| +Vanilla \| +mSAM \(m = 4\) \|/);
    expect(r.table).toMatch(/\| smallCnn \(width 4\) \(Fashion-MNIST\) \| λ_max +\| +\d+\.\d\d ± \d+\.\d\d \| +\d+\.\d\d ± \d+\.\d\d \|/);
    expect(r.table).toMatch(/\| +\| trace +\|/);
    expect(r.table).toMatch(/m-sharpness \(16 per shard, ρ = 0\.05\)/);
    expect(fs.readFileSync(path.join(r.dir, 'table.md'), 'utf8').trim()).toBe(r.table);
  });

  it('sharpness --checkpoint measures the same numbers again, from the run directories', async () => {
    const r = await runSharpness({ checkpoints: runs.map((x) => x.outDir), outDir: path.join(tmp, 'again'), log: () => {}, ...budget });
    expect(r.records.map((x) => [x.method, x.seed, x.lambdaMax, x.trace, x.mSharpness])).toEqual(runs.map((x) => [x.method, x.seed, x.lambdaMax, x.trace, x.mSharpness]));
    // compare's table.md ends with the same sharpness tables.
    expect(fs.readFileSync(path.join(compareDir, 'table.md'), 'utf8').trim().endsWith(r.table)).toBe(true);
    expect(JSON.parse(fs.readFileSync(r.files['results'] as string, 'utf8'))).toMatchObject({ experiment: 'sharpness', summary: [{ method: 'vanilla' }, { method: 'msam', m: 4 }] });
  });

  it("λ_max is the Hessian's of the run's training loss at its final weights", async () => {
    const run = runs[2]!; // mSAM, seed 0
    const config = msam.analysis.trainedConfig(path.join(run.outDir, 'checkpoints', 'last.safetensors'));
    const model = msam.models.smallCnn({ width: 4, imageSize: 12, numClasses: 10, inChannels: 1 });
    model.loadStateDict(msam.loadCheckpoint(path.join(run.outDir, 'checkpoints', 'last.safetensors')).model);
    // The analysis' subset: the first 96 of the seed-0 shuffle of the training set, normalized as in training.
    const train = msam.data.loadMnist({ dir: dataDir, split: 'train' });
    const loader = new msam.data.DataLoader({ inputs: train.images, targets: train.labels }, { batchSize: 48, seed: 0, transform: { mean: [0.286], std: [0.353] } });
    const batches = [loader.batch(0, 0), loader.batch(0, 1)];
    expect(config.labelSmoothing).toBe(0.1);
    model.train();
    const r = await msam.analysis.hessianEigenvalues(model, batches, { loss: { loss: 'cross_entropy', labelSmoothing: 0.1 }, maxIterations: 30, tolerance: 1e-4 });
    expect(r.eigenvalues[0]).toBe(run.lambdaMax);
    expect(model.training).toBe(true);
  });

  it('through the CLI: --json, and errors that name the flag', async () => {
    const root = path.resolve(__dirname, '..');
    const cli = async (args: string[]) => {
      const child = spawn(process.execPath, ['-r', 'ts-node/register', path.join(root, 'lib', 'cli.ts'), ...args], {
        cwd: root,
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      return { code, stdout, stderr };
    };
    const run = runs[0]!;
    const ok = await cli(['sharpness', '--checkpoint', run.outDir, '--examples', '96', '--hessian-batch-size', '48', '--max-iterations', '30', '--tolerance', '1e-4', '--trace-samples', '0', '--shard-size', '0', '--device', 'cpu', '--out-dir', path.join(tmp, 'cli'), '--json']);
    expect(ok.stderr).toMatch(/\[sharpness 1\/1\] .*λ1 ≈/);
    expect(ok.code).toBe(0);
    const json = JSON.parse(ok.stdout) as { runs: { lambdaMax: number; trace: number | null; mSharpness: number | null }[] };
    expect(json.runs[0]).toMatchObject({ lambdaMax: run.lambdaMax, trace: null, mSharpness: null });
    // The errors, in this process (the CLI prints the message after 'msam: ' and exits with 1).
    await expect(runSharpness({ checkpoints: [path.join(tmp, 'nothing-here')], log: () => {} })).rejects.toThrow(/^--checkpoint: .*nothing-here does not exist$/);
    const notTrained = path.join(tmp, 'plain.safetensors');
    msam.save(notTrained, { w: msam.zeros([2]) });
    await expect(runSharpness({ checkpoints: [notTrained], log: () => {} })).rejects.toThrow(/plain\.safetensors was not written by msam\.train .*the model cannot be rebuilt/);
    expect(() => sharpnessOptionsFrom({ examples: '0' })).toThrow('--examples: expected an integer ≥ 1, got "0"');
    expect(() => sharpnessOptionsFrom({ tolerance: 'x' })).toThrow('--tolerance: expected a number ≥ 0, got "x"');
    expect(sharpnessOptionsFrom({ examples: 'all', traceSamples: '0', shardSize: '8' })).toEqual({ examples: 'all', trace: false, shardSize: 8 });
  }, 120_000);
});
