// data.labelNoise (--label-noise): exactly the stated fraction of the training labels changed, each
// to another class; a pure function of the seed; validation and test labels never touched.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { loadData } from '../lib/train/datasets';
import { corruptLabels, runSplits } from '../lib/train';
import { tinyRun } from './helpers/run-files';
import { writeSyntheticMnist } from './helpers/synthetic-mnist';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-noise-'));
const dataDir = path.join(tmp, 'data');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
beforeAll(() => writeSyntheticMnist(dataDir, 1000, 200));

const labels = (t: msam.Tensor): number[] => Array.from(t.data() as ArrayLike<number | bigint>, Number);
const images = (t: msam.Tensor): number[] => Array.from(t.data() as ArrayLike<number>);

/** The run's sets as train() makes them, read back as plain arrays. */
function sets(labelNoise: number, seed: number) {
  const data = loadData({ name: 'mnist', dir: dataDir, maxLength: 128, valFraction: 0.1, labelNoise, augment: { crop: 0, flip: false, cutout: 0 } });
  const s = runSplits(data.train, { valFraction: 0.1, labelNoise }, data.numClasses, seed);
  const val = s.val as msam.data.Dataset;
  const out = {
    train: labels(s.train.targets),
    trainImages: images(s.train.inputs as msam.Tensor),
    val: labels(val.targets),
    valImages: images(val.inputs as msam.Tensor),
    test: labels(data.test.targets),
    report: s.labelNoise,
  };
  for (const t of [s.train.inputs, s.train.targets, val.inputs, val.targets, data.test.inputs, data.test.targets].flat()) t.dispose();
  return out;
}

describe('label noise', () => {
  it('changes exactly round(fraction · N) training labels, each to another class, and nothing else', () => {
    const clean = sets(0, 3);
    expect(clean.report).toBeNull();
    for (const fraction of [0.25, 0.5, 1]) {
      const noisy = sets(fraction, 3);
      const n = clean.train.length;
      expect(n).toBe(900);
      const changed = noisy.train.flatMap((y, i) => (y !== clean.train[i] ? [i] : []));
      expect(changed.length).toBe(Math.round(fraction * n));
      expect(noisy.report).toEqual({ fraction, corrupted: Math.round(fraction * n), examples: n });
      for (const y of noisy.train) expect(Number.isInteger(y) && y >= 0 && y < 10).toBe(true);
      // The images, the validation split and the test set are exactly as without noise.
      expect(noisy.trainImages).toEqual(clean.trainImages);
      expect(noisy.val).toEqual(clean.val);
      expect(noisy.valImages).toEqual(clean.valImages);
      expect(noisy.test).toEqual(clean.test);
    }
  });

  it('is a pure function of the seed', () => {
    const a = sets(0.25, 7).train;
    expect(sets(0.25, 7).train).toEqual(a);
    const b = sets(0.25, 8).train;
    expect(b).not.toEqual(a);
  });

  it('draws the new class uniformly from the other classes', () => {
    // 10 000 labels of class 0, all corrupted: each of the 9 other classes ~ 1111 (binomial σ ≈ 31).
    const train: msam.data.Dataset = { inputs: msam.zeros([10000, 1]), targets: msam.zeros([10000], { dtype: 'int64' }) };
    const { train: noisy, report } = corruptLabels(train, 10, 1, 0);
    const ys = labels(noisy.targets);
    expect(report.corrupted).toBe(10000);
    const counts = Array.from({ length: 10 }, (_, c) => ys.filter((y) => y === c).length);
    expect(counts[0]).toBe(0);
    for (const c of counts.slice(1)) expect(Math.abs(c - 10000 / 9)).toBeLessThan(5 * Math.sqrt(10000 * (1 / 9) * (8 / 9)));
    for (const t of [noisy.inputs, noisy.targets].flat()) t.dispose();
  });

  it('a run reports it and its options are validated', async () => {
    const r = await msam.train(tinyRun(dataDir, path.join(tmp, 'run'), { data: { name: 'mnist', dir: dataDir, labelNoise: 0.2, trainLimit: 300 }, epochs: 1 }));
    expect(r.labelNoise).toEqual({ fraction: 0.2, corrupted: 54, examples: 270 });
    const results = JSON.parse(fs.readFileSync(path.join(tmp, 'run', 'results.json'), 'utf8')) as { labelNoise: unknown };
    expect(results.labelNoise).toEqual(r.labelNoise);
    await expect(msam.train(tinyRun(dataDir, path.join(tmp, 'bad'), { data: { name: 'mnist', dir: dataDir, labelNoise: 1.5 } }))).rejects.toThrow(/data\.labelNoise/);
    expect(fs.existsSync(path.join(tmp, 'bad'))).toBe(false);
  });
});
