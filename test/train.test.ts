// msam.train: configuration (validation, presets, precedence), a tiny training run and the files
// it writes, resume equivalence (bit for bit), the hybrid schedule, and SIGINT through the CLI.
// The data is a small MNIST-format set the tests write: classes are bright squares at
// class-dependent places, so a tiny CNN learns them in a few steps.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { deterministic, readLines, tensorsOf, tinyRun } from './helpers/run-files';
import { trainLayersFromOptions } from '../lib/train/flags';
import { writeSyntheticMnist } from './helpers/synthetic-mnist';
import { buildModel, phaseAt, shardsOf, PRESET_NAMES, resolveTrainConfig, ConfigError, checkpointConfig, type StepInfo, type TrainInput } from '../lib/train';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-train-'));
const dataDir = path.join(tmp, 'data');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// 360 training examples: 36 held out for validation (data.valFraction 0.1), 324 train in 10 steps of 32.
beforeAll(() => writeSyntheticMnist(dataDir, 360, 200));

const tiny = (outDir: string, extra: TrainInput = {}): TrainInput => tinyRun(dataDir, outDir, extra);

describe('configuration', () => {
  it('every preset validates', () => {
    for (const name of PRESET_NAMES) {
      const c = resolveTrainConfig({ source: 'test', values: { preset: name } });
      expect(c.preset).toBe(name);
      expect(c.epochs).toBeGreaterThan(0);
    }
    const wrn = resolveTrainConfig({ source: 'test', values: { preset: 'cifar100-wrn28-10' } });
    expect(wrn.optimizer).toEqual({ name: 'sgd', lr: 0.75, momentum: 0.9, nesterov: false, weightDecay: 5e-4 });
    expect(shardsOf(wrn)).toBe(32); // micro-batches of 16 of 512
    expect([wrn.rho, wrn.labelSmoothing, wrn.epochs, wrn.schedule]).toEqual([0.2, 0.1, 200, { name: 'oneCycle', warmupFraction: 0.05, minWarmupSteps: 20, divFactor: 25, finalDivFactor: 1e4, anneal: 'cos' }]);
    const vit = resolveTrainConfig({ source: 'test', values: { preset: 'cifar100-vit-b16' } });
    expect([vit.optimizer.name, vit.optimizer.lr, vit.optimizer.weightDecay, vit.gradClip, vit.rho, vit.epochs]).toEqual(['adamw', 1e-3, 0.3, 1, 0.3, 20]);
    const sst2 = resolveTrainConfig({ source: 'test', values: { preset: 'glue-sst2-roberta' } });
    expect([shardsOf(sst2), sst2.batchSize, sst2.optimizer.lr, sst2.schedule.name === 'oneCycle' && sst2.schedule.warmupFraction]).toEqual([8, 32, 5e-6, 0.06]);
    // The default is fashion-mnist.
    expect(resolveTrainConfig().preset).toBe('fashion-mnist');
  });

  it('errors name the field, the value and where it came from', () => {
    const bad = (values: Record<string, unknown>, source = 'test config') => {
      try {
        resolveTrainConfig({ source, values });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(bad({ rho: -1 })).toMatch(/rho \(from test config\): Too small: expected number to be >=0, got -1/);
    expect(bad({ optimizer: { lr: 'fast' } })).toMatch(/optimizer\.lr \(from test config\): .*expected number.*got "fast"/);
    expect(bad({ optimizer: { name: 'adamw', momentum: 0.9 } })).toMatch(/optimizer\.momentum \(from test config\): unknown field \(expected one of name, lr, betas, eps, weightDecay\)/);
    expect(bad({ epoch: 3 })).toMatch(/epoch \(from test config\): unknown field \(expected one of .*epochs/);
    expect(bad({ method: 'asam' })).toMatch(/method .*got "asam"/);
    expect(bad({ m: 500 })).toMatch(/m \(from test config\): must be at most batchSize \(128\), got 500/);
    expect(bad({ m: 4, microBatchSize: 8 })).toMatch(/microBatchSize.*give either 'm' or 'microBatchSize', not both/);
    expect(bad({ method: 'vanilla', hybrid: { fraction: 0.5 } })).toMatch(/hybrid .*set method 'msam' or 'sam'/);
    expect(bad({ hybrid: { fraction: 1.5 } })).toMatch(/hybrid\.fraction .*<=1, got 1\.5/);
    expect(bad({ precision: 'fp16' })).toMatch(/precision/);
    expect(bad({ device: 'tpu' })).toMatch(/device .*got "tpu"/);
    expect(bad({ preset: 'imagenet' })).toMatch(/preset \(from test config\): unknown preset "imagenet"; the presets are fashion-mnist, cifar10-resnet50/);
    expect(bad({ schedule: { name: 'step' } })).toMatch(/schedule\.everyEpochs: required \(number\), not set/);
  });

  it('precedence: flags over the config file over the preset, each field on its own', () => {
    const file = path.join(tmp, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ preset: 'cifar10-wrn28-10', epochs: 7, rho: 0.1, optimizer: { lr: 0.2 }, data: { dir: '/data/cifar' } }));
    const c = resolveTrainConfig(...trainLayersFromOptions({ config: file, lr: '0.3', m: '8', hybrid: '0.25', hybridPosition: 'last' }));
    expect(c.preset).toBe('cifar10-wrn28-10'); // the file's preset
    expect(c.optimizer).toMatchObject({ name: 'sgd', lr: 0.3, momentum: 0.9, weightDecay: 5e-4 }); // flag > file > preset
    expect([c.epochs, c.rho, c.m, c.data.dir, c.data.augment.crop]).toEqual([7, 0.1, 8, '/data/cifar', 4]);
    expect(c.hybrid).toEqual({ fraction: 0.25, position: 'last' });
    // --preset beats the file's preset; --optimizer adamw drops SGD's options instead of inheriting them.
    const d = resolveTrainConfig(...trainLayersFromOptions({ config: file, preset: 'cifar10-resnet50', optimizer: 'adamw', lr: '3e-4' }));
    expect(d.preset).toBe('cifar10-resnet50');
    expect(d.optimizer).toEqual({ name: 'adamw', lr: 3e-4, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    expect(d.epochs).toBe(7);
    // Setting microBatchSize drops the preset's m (they say the same thing); --method sam ignores m.
    expect(shardsOf(resolveTrainConfig({ source: 'test', values: { microBatchSize: 32 } }))).toBe(4);
    expect(shardsOf(resolveTrainConfig(...trainLayersFromOptions({ method: 'sam' })))).toBe(1);
    // --set reaches any field; a bad flag names itself.
    const e = resolveTrainConfig(...trainLayersFromOptions({ set: ['optimizer.nesterov=true', 'data.augment.cutout=8'] }));
    expect([e.optimizer.name === 'sgd' && e.optimizer.nesterov, e.data.augment.cutout]).toEqual([true, 8]);
    expect(() => resolveTrainConfig(...trainLayersFromOptions({ config: file, batchSize: 'lots' }))).toThrow(/batchSize \(from --batch-size\): .*got "lots"/);
    expect(() => trainLayersFromOptions({ config: path.join(tmp, 'missing.json') })).toThrow(/cannot read the config file .*missing\.json/);
  });

  it('models come from msam.models, sized by the data set unless model.options says otherwise', () => {
    const net = buildModel({ name: 'resnet18', options: { stem: 'cifar' } }, { inputShape: [3, 32, 32], numClasses: 7 });
    const logits = msam.noGrad(() => net.eval().forward(msam.randn([2, 3, 32, 32])));
    expect(logits.shape).toEqual([2, 7]);
    const cnn = buildModel({ name: 'smallCnn', options: { width: 4, numClasses: 3 } }, { inputShape: [1, 12, 12], numClasses: 10 });
    expect(msam.noGrad(() => cnn.eval().forward(msam.randn([2, 1, 12, 12]))).shape).toEqual([2, 3]);
    expect(() => buildModel({ name: 'smallCnn', options: { channels: [4] } }, { inputShape: [1, 12, 12], numClasses: 10 })).toThrow(
      /^model\.options: smallCnn: unknown option 'channels'/,
    );
  });

  it('the hybrid schedule: which steps are sharp', () => {
    const T = 20;
    const steps = (hybrid: { fraction: number; position: 'first' | 'last' } | null, method: 'msam' | 'vanilla' = 'msam') =>
      Array.from({ length: T }, (_, s) => phaseAt({ method, hybrid }, s, T)).join('').replace(/sharp/g, 'S').replace(/vanilla/g, 'v');
    expect(steps(null)).toBe('S'.repeat(20));
    expect(steps(null, 'vanilla')).toBe('v'.repeat(20));
    expect(steps({ fraction: 0.25, position: 'first' })).toBe('SSSSS' + 'v'.repeat(15));
    expect(steps({ fraction: 0.25, position: 'last' })).toBe('v'.repeat(15) + 'SSSSS');
    expect(steps({ fraction: 1, position: 'last' })).toBe('S'.repeat(20));
  });
});

describe('a tiny training run', () => {
  it('trains, evaluates every epoch, and writes results.json, metrics.jsonl and checkpoints', async () => {
    const outDir = path.join(tmp, 'run');
    const steps: StepInfo[] = [];
    const epochs: (number | null)[] = [];
    const r = await msam.train(tiny(outDir), { onStep: (s) => void steps.push(s), onEpoch: (m) => void epochs.push(m.valAccuracy) });
    expect(r.interrupted).toBe(false);
    expect([r.method, r.m, r.rho, r.epochs, r.steps, r.device]).toEqual(['msam', 4, 0.05, 2, 20, 'cpu']);
    expect(r.testAccuracy).toBeGreaterThan(0.5); // 10 classes: chance is 0.1
    expect([r.valExamples, r.skippedSteps, r.earlyStopped]).toEqual([36, 0, false]);
    expect(r.seconds).toBeGreaterThan(0);
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(steps.every((s) => s.stats.shards === 4 && s.phase === 'sharp' && !s.stats.skipped)).toBe(true);
    expect(steps[0]!.lr).toBeCloseTo(0.1 / 25, 10); // oneCycle starts at maxLr / 25

    const results = JSON.parse(fs.readFileSync(path.join(outDir, 'results.json'), 'utf8')) as Record<string, unknown>;
    expect(results).toMatchObject({ testAccuracy: r.testAccuracy, method: 'msam', m: 4, rho: 0.05, epochs: 2 });
    expect(typeof results['seconds']).toBe('number');
    expect((results['config'] as { batchSize: number }).batchSize).toBe(32);

    const lines = readLines(path.join(outDir, 'metrics.jsonl'));
    const epochLines = lines.filter((l) => l['type'] === 'epoch');
    expect(epochLines.map((l) => l['epoch'])).toEqual([1, 2]);
    expect(epochLines.map((l) => l['valAccuracy'])).toEqual(epochs);
    expect(epochLines[1]).toMatchObject({ step: 20, valAccuracy: epochs[1], sharpSteps: 10, skippedSteps: 0 });
    // Train accuracy on as many training examples as the validation set has (36): a count of them.
    for (const l of epochLines) {
      expect(l['trainEvalExamples']).toBe(36);
      expect(Number.isInteger(Math.round((l['trainAccuracy'] as number) * 36 * 1e6) / 1e6)).toBe(true);
    }
    expect(epochLines[1]?.['trainAccuracy']).toBeGreaterThan(0.5);
    expect(epochLines.every((l) => !('testAccuracy' in l))).toBe(true); // the test set is not read during training
    const bestLine = epochLines.find((l) => l['best'] === true && l['step'] === r.bestStep);
    expect(bestLine?.['valAccuracy']).toBe(r.bestValAccuracy);
    // The test lines come last: the last model, then the best on validation (when it is another).
    const testLines = lines.filter((l) => l['type'] === 'test');
    expect(testLines[0]).toMatchObject({ model: 'last', step: 20, testAccuracy: r.testAccuracy });
    expect(testLines.at(-1)).toMatchObject({ step: r.bestStep, testAccuracy: r.bestTestAccuracy });
    expect(lines.slice(-testLines.length)).toEqual(testLines);
    // metrics.csv: a header and the same lines as rows.
    const csv = fs.readFileSync(path.join(outDir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv.length).toBe(lines.length + 1);
    const header = (csv[0] as string).split(',');
    const row = (csv[csv.length - testLines.length] as string).split(',');
    expect(Number(row[header.indexOf('testAccuracy')])).toBe(r.testAccuracy);
    expect(row[header.indexOf('type')]).toBe('test');
    // The training curves: an SVG with both panels (train and validation accuracy), and a PNG.
    const curves = fs.readFileSync(path.join(outDir, 'curves.svg'), 'utf8');
    expect(curves).toMatch(/^<svg /);
    expect(curves).toContain('accuracy (%), eval mode');
    expect(curves).toContain('train (36 examples)');
    expect(fs.readFileSync(path.join(outDir, 'curves.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(curves).toContain('loss (axis not from 0)');
    expect(lines.filter((l) => l['type'] === 'step').map((l) => l['step'])).toEqual([3, 6, 9, 12, 15, 18]);

    for (const f of ['last.safetensors', 'last.safetensors.json', 'best.safetensors', 'best.safetensors.json']) {
      expect(fs.existsSync(path.join(outDir, 'checkpoints', f))).toBe(true);
    }
    expect(fs.readdirSync(path.join(outDir, 'checkpoints')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const best = msam.loadCheckpoint(path.join(outDir, 'checkpoints', 'best.safetensors'));
    expect(Object.keys(best.model)).toContain('conv1.weight');
    expect(best.extra).toMatchObject({ epoch: r.bestEpoch, step: r.bestStep, valAccuracy: r.bestValAccuracy });
    expect(checkpointConfig(path.join(outDir, 'checkpoints', 'last.safetensors')).seed).toBe(5);
  });

  it('a hybrid run switches from mSAM to vanilla at the right step (and the other way round)', async () => {
    for (const position of ['first', 'last'] as const) {
      const phases: string[] = [];
      await msam.train(tiny(path.join(tmp, `hybrid-${position}`), { epochs: 1, hybrid: { fraction: 0.3, position } }), {
        onStep: (s) => void phases.push(`${s.phase}:${s.stats.shards}`),
      });
      const sharp = 'sharp:4';
      const plain = 'vanilla:1';
      expect(phases).toEqual(position === 'first' ? [...Array(3).fill(sharp), ...Array(7).fill(plain)] : [...Array(7).fill(plain), ...Array(3).fill(sharp)]);
    }
  });

  it("strategy 'vectorized' trains the same run as the loop (float tolerance)", async () => {
    const run = async (strategy: 'loop' | 'vectorized') => {
      const epochs: { trainLoss: number; valLoss: number }[] = [];
      const r = await msam.train(tiny(path.join(tmp, `strategy-${strategy}`), { epochs: 1, strategy, chunkSize: 3, model: { name: 'smallCnn', options: { width: 4, dropout: 0 } } }), {
        onEpoch: (m) => void epochs.push({ trainLoss: m.trainLoss, valLoss: m.valLoss as number }),
      });
      return { r, epoch: epochs[0]! };
    };
    const loop = await run('loop');
    const vectorized = await run('vectorized');
    expect(vectorized.r.config.strategy).toBe('vectorized');
    expect(loop.epoch.trainLoss).toBeGreaterThan(0);
    expect(Math.abs(vectorized.epoch.trainLoss - loop.epoch.trainLoss)).toBeLessThan(1e-5);
    expect(Math.abs(vectorized.epoch.valLoss - loop.epoch.valLoss)).toBeLessThan(1e-5);
  });

  it('method sam is m = 1, vanilla is ρ = 0 and m = 1; gradient clipping and AdamW run', async () => {
    const seen: string[] = [];
    const r = await msam.train(tiny(path.join(tmp, 'sam'), { epochs: 1, method: 'sam', m: undefined, optimizer: { name: 'adamw', lr: 3e-3 }, gradClip: 1 }), {
      onStep: (s) => void seen.push(`${s.phase}:${s.stats.shards}:${s.stats.perturbedLoss !== s.stats.loss}`),
    });
    expect(new Set(seen)).toEqual(new Set(['sharp:1:true']));
    expect(r.m).toBe(1);
    const v: string[] = [];
    await msam.train(tiny(path.join(tmp, 'vanilla'), { epochs: 1, method: 'vanilla', m: undefined }), {
      onStep: (s) => void v.push(`${s.phase}:${s.stats.shards}:${s.stats.perturbedLoss === s.stats.loss}`),
    });
    expect(new Set(v)).toEqual(new Set(['vanilla:1:true']));
  });
});

describe('resume', () => {
  // The small CNN has BatchNorm (running statistics) and dropout (libtorch's generator state); the MLP neither.
  const models = {
    smallCnn: {},
    mlp: { model: { name: 'mlp', options: { hidden: [32] } } },
  } satisfies Record<string, TrainInput>;
  it.each(Object.keys(models))('%s: 2 epochs straight = 1 epoch + resume = stopped mid-epoch + resume: metrics and weights bit for bit', async (name) => {
    const model = models[name as keyof typeof models];
    const dir = (what: string) => path.join(tmp, `${name}-${what}`);
    const straight = dir('straight');
    const a = await msam.train(tiny(straight, model));

    // Stopped after the first epoch (as SIGINT would), then resumed from the run directory alone.
    const split = dir('split');
    const stopAfterEpoch = new AbortController();
    const first = await msam.train(tiny(split, model), { signal: stopAfterEpoch.signal, onEpoch: () => stopAfterEpoch.abort() });
    expect(first.interrupted).toBe(true);
    expect(fs.existsSync(path.join(split, 'results.json'))).toBe(false);
    const b = await msam.train({ resume: split });

    // Stopped in the middle of the first epoch, then resumed with the full configuration given again.
    const mid = dir('mid');
    const stopMid = new AbortController();
    const part = await msam.train(tiny(mid, model), { signal: stopMid.signal, onStep: (s) => void (s.step === 7 && stopMid.abort()) });
    expect([part.interrupted, part.steps]).toEqual([true, 7]);
    const c = await msam.train(tiny(mid, { ...model, resume: true }));

    for (const [d, r] of [
      [split, b],
      [mid, c],
    ] as const) {
      expect(r.testAccuracy).toBe(a.testAccuracy);
      expect(r.steps).toBe(20);
      expect(deterministic(readLines(path.join(d, 'metrics.jsonl')))).toEqual(deterministic(readLines(path.join(straight, 'metrics.jsonl'))));
      const want = tensorsOf(path.join(straight, 'checkpoints', 'last.safetensors'));
      const got = tensorsOf(path.join(d, 'checkpoints', 'last.safetensors'));
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const k of Object.keys(want)) expect(got[k], k).toBe(want[k]);
    }
  });

  it('a resumed run must keep the configuration; a missing checkpoint is named', async () => {
    const dir = path.join(tmp, 'run'); // written by the tiny run above
    await expect(msam.train(tiny(dir, { resume: true, batchSize: 16 }))).rejects.toThrow(/batchSize: differs from the checkpoint's \(32 there, 16 here\)/);
    await expect(msam.train(tiny(dir, { resume: true, data: { name: 'mnist', dir: dataDir, valFraction: 0.2 } }))).rejects.toThrow(/data\.valFraction: differs from the checkpoint's \(0\.1 there, 0\.2 here\)/);
    await expect(msam.train(tiny(dir, { resume: true, rho: 0.1 }))).rejects.toThrow(/rho: differs from the checkpoint's/);
    await expect(msam.train({ resume: path.join(tmp, 'nothing-here') })).rejects.toThrow(/the checkpoint .*nothing-here does not exist/);
    await expect(msam.train({ resume: true })).rejects.toThrow(/resume: true needs outDir/);
  });
});

describe('the CLI', () => {
  const root = path.resolve(__dirname, '..');
  const cli = (args: string[]) =>
    spawn(process.execPath, ['-r', 'ts-node/register', path.join(root, 'lib', 'cli.ts'), ...args], {
      cwd: root,
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('SIGINT saves a checkpoint and exits cleanly; --resume continues from it', async () => {
    const outDir = path.join(tmp, 'cli');
    const args = ['train', '--data-dir', dataDir, '--set', 'model.options.width=4', '--epochs', '8', '--batch-size', '32'];
    const child = cli([...args, '--device', 'cpu', '--out-dir', outDir, '--progress', 'plain', '--log-every', '1']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // A few steps in (step 3 of epoch 2): interrupt.
        if (/epoch 2\/8 step 3\/10/.test(stderr)) resolve();
      });
      child.on('exit', () => reject(new Error(`the CLI exited before the interrupt:\n${stderr}`)));
    });
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    expect(stderr).toMatch(/interrupt: stopping after this step and saving a checkpoint/);
    expect(stderr).not.toMatch(/Error|at .*\.ts:\d+/);
    expect(stdout).toMatch(/interrupted \(SIGINT\) after \d+ steps; checkpoint .*last\.safetensors\ncontinue with: msam train --resume /);
    const last = path.join(outDir, 'checkpoints', 'last.safetensors');
    const state = (msam.loadCheckpoint(last).extra as { state: { epoch: number; stepInEpoch: number; globalStep: number } }).state;
    expect(state.globalStep).toBeGreaterThanOrEqual(13); // interrupted after step 3 of epoch 2, a few steps later at most
    expect(state.epoch).toBeLessThan(8);
    expect(state.globalStep).toBe(10 * state.epoch + state.stepInEpoch);
    expect(fs.readdirSync(path.join(outDir, 'checkpoints')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(fs.existsSync(path.join(outDir, 'results.json'))).toBe(false);

    // Continue: the configuration comes from the checkpoint.
    const resumed = cli(['train', '--resume', outDir, '--progress', 'none']);
    let out = '';
    resumed.stdout.on('data', (d: Buffer) => (out += d.toString()));
    resumed.stderr.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise((resolve) => resumed.on('exit', resolve))).toBe(0);
    expect(out).toMatch(/^test accuracy \d+\.\d\d% \(best on validation.*\) · mSAM \(m = 4, ρ = 0\.05\) · 8 epochs, 80 steps in /);
    expect(out).toContain(`wrote ${outDir}: results.json, metrics.jsonl, metrics.csv, checkpoints/last.safetensors, checkpoints/best.safetensors`);
    const epochs = readLines(path.join(outDir, 'metrics.jsonl')).filter((l) => l['type'] === 'epoch');
    expect(epochs.map((l) => l['epoch'])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('--help on train and presets; a bad flag is an error naming it', async () => {
    const run = async (args: string[]) => {
      const child = cli(args);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      return { code, out };
    };
    const help = await run(['train', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--preset <name>[\s\S]*--config <file>[\s\S]*--resume[\s\S]*--hybrid <fraction>/);
    const v = await run(['--version']);
    expect(v.code).toBe(0);
    expect(v.out.trim()).toBe(`${msam.version().msam} (libtorch ${msam.version().libtorch})`);
    const bad = await run(['train', '--rho', '-1', '--epochs', 'two']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/msam: invalid training config:\n {2}rho \(from --rho\): .*got -1\n {2}epochs \(from --epochs\): .*got "two"/);
  });
});
