// msam.train's model selection and budgets: the validation split chooses the best model and stops
// early, the test set is read once at the end (and never changes what is chosen); max steps,
// evaluations and checkpoints every N steps, keeping k, extending a finished run, starting from
// saved weights; and visible failures (skipped steps counted, K in a row stop the run).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { deterministic, readLines, tensorsOf, tinyRun } from './helpers/run-files';
import { buildSchedule, resolveTrainConfig, type EvaluationInfo, type StepInfo, type TrainInput } from '../lib/train';
import { idx, writeSyntheticMnist } from './helpers/synthetic-mnist';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-select-'));
const dataDir = path.join(tmp, 'data');
/** The same training set with another test set: labels rotated by one, images as they were. */
const otherTestDir = path.join(tmp, 'data-other-test');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

beforeAll(() => {
  writeSyntheticMnist(dataDir, 360, 200);
  fs.cpSync(dataDir, otherTestDir, { recursive: true });
  const labels = fs.readFileSync(path.join(dataDir, 't10k-labels-idx1-ubyte')).subarray(8);
  fs.writeFileSync(path.join(otherTestDir, 't10k-labels-idx1-ubyte'), idx([labels.length], labels.map((l) => (l + 1) % 10)));
});

const tiny = (outDir: string, extra: TrainInput = {}): TrainInput => tinyRun(dataDir, outDir, extra);


describe('validation: the best model and early stopping never read the test set', () => {
  it('the test set is evaluated once, at the end; another test set changes no choice', async () => {
    const run = async (dir: string, test: string) => {
      const events: (EvaluationInfo & { afterStep: number })[] = [];
      let step = 0;
      const r = await msam.train(tiny(path.join(tmp, dir), { data: { name: 'mnist', dir: test }, epochs: 3, evalEvery: 4 }), {
        onStep: (s) => void (step = s.step),
        onEvaluate: (e) => void events.push({ ...e, afterStep: step }),
      });
      return { r, events, lines: readLines(path.join(tmp, dir, 'metrics.jsonl')) };
    };
    const a = await run('select-a', dataDir);
    const b = await run('select-b', otherTestDir);
    // Validation every 4 steps and at every epoch's end; the test set only after the last step.
    const tests = a.events.filter((e) => e.split === 'test');
    expect(a.events.filter((e) => e.split === 'validation').map((e) => e.step)).toEqual([4, 8, 10, 12, 16, 20, 24, 28, 30]);
    expect(tests.every((e) => e.afterStep === 30)).toBe(true);
    expect(tests.map((e) => e.model)).toEqual(a.r.bestStep === 30 ? ['last'] : ['last', 'best']);
    // The test labels differ (rotated), so the test numbers do; nothing chosen or trained does.
    expect(b.r.testAccuracy).not.toBe(a.r.testAccuracy);
    expect([b.r.bestStep, b.r.bestValAccuracy, b.r.bestEpoch]).toEqual([a.r.bestStep, a.r.bestValAccuracy, a.r.bestEpoch]);
    const training = (lines: Record<string, unknown>[]) => deterministic(lines.filter((l) => l['type'] !== 'test'));
    expect(training(b.lines)).toEqual(training(a.lines));
    expect(tensorsOf(path.join(tmp, 'select-b', 'checkpoints', 'best.safetensors'))).toEqual(tensorsOf(path.join(tmp, 'select-a', 'checkpoints', 'best.safetensors')));
    // The reported best-model test accuracy is that of best.safetensors on the test set.
    const best = a.events.find((e) => e.split === 'test' && e.model === (a.r.bestStep === 30 ? 'last' : 'best'));
    expect(a.r.bestTestAccuracy).toBe(best?.accuracy);
    expect(a.r.valExamples).toBe(36);
  });

  it('early stopping: stops after `patience` evaluations without a better validation metric', async () => {
    const r = await msam.train(tiny(path.join(tmp, 'early'), { epochs: 6, evalEvery: 2, earlyStopPatience: 2 }));
    const evals = readLines(path.join(tmp, 'early', 'metrics.jsonl')).filter((l) => l['type'] === 'epoch' || l['type'] === 'eval');
    expect(r.earlyStopped).toBe(true);
    expect(r.steps).toBeLessThan(60);
    expect(r.testAccuracy).not.toBeNull();
    // The last two evaluations were not better; the one before them is the best.
    expect(evals.slice(-2).map((l) => l['best'])).toEqual([false, false]);
    const bestLine = evals.filter((l) => l['best'] === true).at(-1);
    expect(bestLine?.['step']).toBe(r.bestStep);
    expect(evals.at(-3)?.['step']).toBe(r.bestStep);
    expect(fs.existsSync(path.join(tmp, 'early', 'results.json'))).toBe(true);
  });

  it('valFraction 0: no validation, the last model is reported; patience then is an error', async () => {
    const r = await msam.train(tiny(path.join(tmp, 'noval'), { epochs: 1, data: { name: 'mnist', dir: dataDir, valFraction: 0 } }));
    expect([r.valExamples, r.bestStep, r.bestTestAccuracy]).toEqual([0, null, r.testAccuracy]);
    expect(fs.existsSync(path.join(tmp, 'noval', 'checkpoints', 'best.safetensors'))).toBe(false);
    await expect(msam.train(tiny(path.join(tmp, 'noval2'), { data: { name: 'mnist', dir: dataDir, valFraction: 0 }, earlyStopPatience: 2 }))).rejects.toThrow(
      /earlyStopPatience.*set data\.valFraction \(--val-fraction\) above 0/,
    );
  });
});

describe('step budgets', () => {
  it('maxSteps: the run stops there and the schedule is computed for it', async () => {
    const steps: StepInfo[] = [];
    const r = await msam.train(tiny(path.join(tmp, 'max'), { epochs: 5, maxSteps: 15 }), { onStep: (s) => void steps.push(s) });
    expect([r.steps, r.epochs]).toEqual([15, 2]);
    const lrAt = buildSchedule(resolveTrainConfig({ source: 'test', values: tiny('x', { maxSteps: 15 }) as Record<string, unknown> }), 10, 15);
    expect(steps.map((s) => s.lr)).toEqual(Array.from({ length: 15 }, (_, i) => lrAt(i)));
    expect(steps.at(-1)?.lr).toBeLessThan(1e-4); // one cycle ends near 0 at step 15, not at 50
    const epochLines = readLines(path.join(tmp, 'max', 'metrics.jsonl')).filter((l) => l['type'] === 'epoch');
    expect(epochLines.map((l) => l['step'])).toEqual([10, 15]);
  });

  it('saveEvery and keep: checkpoints every N steps, the last k kept; a copy without its sidecar resumes', async () => {
    const dir = path.join(tmp, 'keep');
    const stop = new AbortController();
    await msam.train(tiny(dir, { checkpoint: { saveEvery: 3, keep: 3 } }), { signal: stop.signal, onStep: (s) => void (s.step === 13 && stop.abort()) });
    const ck = fs.readdirSync(path.join(dir, 'checkpoints')).filter((f) => f.endsWith('.safetensors') && f !== 'best.safetensors').sort();
    // Saves at 3, 6, 9, 10 (epoch end), 12 and 13 (the stop): the last two besides last.safetensors.
    expect(ck).toEqual(['last.safetensors', 'step-00000012.safetensors', 'step-00000013.safetensors']);
    // Resume from a copy of step 12 without its .json (and the best model beside it): the header
    // holds what resume needs.
    const moved = path.join(tmp, 'moved');
    fs.mkdirSync(moved);
    fs.copyFileSync(path.join(dir, 'checkpoints', 'step-00000012.safetensors'), path.join(moved, 'last.safetensors'));
    fs.copyFileSync(path.join(dir, 'checkpoints', 'best.safetensors'), path.join(moved, 'best.safetensors'));
    const r = await msam.train({ resume: moved, outDir: path.join(tmp, 'keep-resumed') });
    expect(r.steps).toBe(20);
    const straight = await msam.train(tiny(path.join(tmp, 'keep-straight')));
    expect(r.testAccuracy).toBe(straight.testAccuracy);
    expect(tensorsOf(path.join(tmp, 'keep-resumed', 'checkpoints', 'last.safetensors'))).toEqual(tensorsOf(path.join(tmp, 'keep-straight', 'checkpoints', 'last.safetensors')));
  });

  it('a finished run is extended with more epochs; the schedule is recomputed for the new length', async () => {
    const dir = path.join(tmp, 'extend');
    await msam.train(tiny(dir, { epochs: 1 }));
    const steps: StepInfo[] = [];
    const r = await msam.train({ resume: dir, epochs: 2 }, { onStep: (s) => void steps.push(s) });
    expect(r.steps).toBe(20);
    const lrAt = buildSchedule(resolveTrainConfig({ source: 'test', values: tiny('x') as Record<string, unknown> }), 10, 20);
    expect(steps.map((s) => [s.step, s.lr])).toEqual(Array.from({ length: 10 }, (_, i) => [11 + i, lrAt(10 + i)]));
    const lines = readLines(path.join(dir, 'metrics.jsonl'));
    expect(lines.filter((l) => l['type'] === 'epoch').map((l) => l['epoch'])).toEqual([1, 2]);
    expect(lines.filter((l) => l['type'] === 'test').map((l) => l['step'])[0]).toBe(20); // the first run's test lines were replaced
  });

  it('initFrom: the weights of a checkpoint, a fresh optimizer and schedule', async () => {
    const first: number[] = [];
    await msam.train(tiny(path.join(tmp, 'fresh'), { epochs: 1 }), { onStep: (s) => void first.push(s.stats.loss) });
    const again: StepInfo[] = [];
    const r = await msam.train(tiny(path.join(tmp, 'init'), { epochs: 1, initFrom: path.join(tmp, 'select-a', 'checkpoints', 'last.safetensors') }), { onStep: (s) => void again.push(s) });
    expect(again[0]?.step).toBe(1);
    expect(again[0]?.lr).toBeCloseTo(0.1 / 25, 10); // the schedule starts again
    expect(again[0]!.stats.loss).toBeLessThan(first[0]! / 2); // trained weights: a much lower first loss
    expect(r.testAccuracy).toBeGreaterThan(0.5);
    await expect(msam.train(tiny(path.join(tmp, 'init2'), { initFrom: path.join(tmp, 'nope.safetensors') }))).rejects.toThrow(/initFrom: the checkpoint .*nope\.safetensors does not exist/);
  });
});

describe('visible failures and early errors', () => {
  it('skipped (non-finite) steps: NaN stats, counted, and K in a row stop the run', async () => {
    const steps: StepInfo[] = [];
    const run = msam.train(tiny(path.join(tmp, 'nan'), { optimizer: { name: 'sgd', lr: 1e6 }, maxNonFiniteSteps: 4 }), { onStep: (s) => void steps.push(s) });
    await expect(run).rejects.toThrow(/the loss is non-finite in 4 consecutive steps .* — the learning rate may be too high/);
    const skipped = steps.filter((s) => s.stats.skipped);
    expect(skipped.length).toBeGreaterThanOrEqual(4);
    expect(skipped.every((s) => Number.isNaN(s.stats.loss) && Number.isNaN(s.stats.perturbedLoss))).toBe(true);
    expect(steps.slice(-4).every((s) => s.stats.skipped)).toBe(true);

    // Counted and warned about when the run goes on.
    const log: string[] = [];
    const r = await msam.train(tiny(path.join(tmp, 'nan2'), { epochs: 1, optimizer: { name: 'sgd', lr: 1e6 }, maxNonFiniteSteps: 0, log: { progress: 'plain' } }), {
      log: (l) => void log.push(l),
    });
    expect(r.skippedSteps).toBeGreaterThan(1);
    const epoch = readLines(path.join(tmp, 'nan2', 'metrics.jsonl')).find((l) => l['type'] === 'epoch');
    expect(epoch?.['skippedSteps']).toBe(r.skippedSteps);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'nan2', 'results.json'), 'utf8')).skippedSteps).toBe(r.skippedSteps);
    expect(log.join('\n')).toMatch(new RegExp(`warning: ${r.skippedSteps} of the epoch's 10 steps were skipped .*the learning rate \\(peak 1000000\\) may be too high`));
    expect(log.join('\n')).toMatch(/step \d+\/10 {2}loss \S+ \(\d+ skipped\)/);
  });

  it('vanilla with m, graph on the CPU, an outDir that is a file: errors before any folder is made', async () => {
    const out = path.join(tmp, 'never');
    await expect(msam.train(tiny(out, { method: 'vanilla', m: 8 }))).rejects.toThrow(/m \(from train\(\) config\): method 'vanilla' has no shards/);
    await expect(msam.train(tiny(out, { strategy: 'graph' }))).rejects.toThrow(/strategy: 'graph' replays a captured CUDA graph: it needs a CUDA device/);
    expect(fs.existsSync(out)).toBe(false);
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    await expect(msam.train(tiny(file))).rejects.toThrow(/outDir: .*a-file is a file, not a directory/);
    // A preset's m under an experiment's vanilla cell is not an error.
    expect(resolveTrainConfig({ source: 'flags', values: { m: 8 } }, { source: 'cell', values: { method: 'vanilla' } }).method).toBe('vanilla');
  });
});
