// msam.data: the seeded PRNG, the DataLoader (order, batching, transforms, augmentation) and the
// errors of bad data files. Small tensors and IDX files the tests write themselves.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';
import { idx } from './helpers/synthetic-mnist';

const { DataLoader, Rng, permutation, drawAugment, loadMnist, disposeBatch } = msam.data;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-data-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));


/** Writes an MNIST-format directory with n train and n test examples of size h×w. */
function writeMnist(dir: string, n: number, opts: { labels?: number[]; gzip?: boolean; h?: number } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const h = opts.h ?? 4;
  const labels = Uint8Array.from(opts.labels ?? Array.from({ length: n }, (_, i) => i % 10));
  const images = Uint8Array.from({ length: n * h * h }, (_, i) => (i * 7) % 256);
  const put = (name: string, bytes: Buffer) => fs.writeFileSync(path.join(dir, opts.gzip ? `${name}.gz` : name), opts.gzip ? zlib.gzipSync(bytes) : bytes);
  for (const split of ['train', 't10k']) {
    put(`${split}-images-idx3-ubyte`, idx([n, h, h], images));
    put(`${split}-labels-idx1-ubyte`, idx([n], labels));
  }
}

const ids = (t: Tensor): number[] => Array.from(t.data() as BigInt64Array, Number);

describe('Rng', () => {
  it('is xoshiro128** (the reference sequence from state [1, 2, 3, 4])', () => {
    const r = Rng.fromState([1, 2, 3, 4]);
    expect(Array.from({ length: 6 }, () => r.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('streams are pure functions of (seed, keys)', () => {
    const draw = (r: InstanceType<typeof Rng>) => Array.from({ length: 8 }, () => r.nextU32());
    expect(draw(new Rng(7, 'order', 3))).toEqual(draw(new Rng(7, 'order', 3)));
    expect(draw(new Rng(7, 'order', 3))).not.toEqual(draw(new Rng(7, 'order', 4)));
    expect(draw(new Rng(7, 'order', 3))).not.toEqual(draw(new Rng(8, 'order', 3)));
    expect(draw(new Rng(7, 'order', 3))).not.toEqual(draw(new Rng(7, 'augment', 3)));
    const r = new Rng(1);
    r.nextU32();
    const copy = Rng.fromState(r.state);
    expect(draw(copy)).toEqual(draw(r));
  });

  it('int(n) is in range and unbiased enough; permutation is a permutation', () => {
    const r = new Rng(3);
    const counts = new Array(6).fill(0) as number[];
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    const p = permutation(1000, new Rng(5));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(() => r.int(0)).toThrow(RangeError);
  });
});

describe('DataLoader: order and batching', () => {
  const N = 103;
  const inputs = msam.arange(0, N).reshape([N, 1]).float();
  const targets = msam.arange(0, N);

  it('shuffles reproducibly by seed: the same order for the same (seed, epoch), a new one each epoch', () => {
    const a = new DataLoader({ inputs, targets }, { batchSize: 10, seed: 42 });
    const b = new DataLoader({ inputs, targets }, { batchSize: 10, seed: 42 });
    const c = new DataLoader({ inputs, targets }, { batchSize: 10, seed: 43 });
    expect([...a.order(0)]).toEqual([...b.order(0)]);
    expect([...a.order(1)]).toEqual([...b.order(1)]);
    expect([...a.order(0)]).not.toEqual([...a.order(1)]);
    expect([...a.order(0)]).not.toEqual([...c.order(0)]);
    // The batches follow the order.
    const first = a.batch(0, 0);
    expect(ids(first.target)).toEqual([...a.order(0).subarray(0, 10)]);
    disposeBatch(first);
  });

  it('batches cover the epoch exactly once; dropLast drops the remainder', () => {
    const all = new DataLoader({ inputs, targets }, { batchSize: 10, seed: 1 });
    expect(all.length).toBe(11);
    const seen: number[] = [];
    const sizes: number[] = [];
    for (const b of all.batches(2)) {
      seen.push(...ids(b.target));
      sizes.push(b.target.shape[0]!);
      expect(ids(b.target)).toEqual(Array.from((b.input as Tensor).reshape([-1]).data() as Float32Array)); // inputs travel with targets
      disposeBatch(b);
    }
    expect(sizes).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));

    const drop = new DataLoader({ inputs, targets }, { batchSize: 10, seed: 1, dropLast: true });
    expect(drop.length).toBe(10);
    const kept = [...drop.batches(2)].flatMap((b) => {
      const t = ids(b.target);
      disposeBatch(b);
      return t;
    });
    expect(new Set(kept).size).toBe(100);
    expect(kept).toEqual([...drop.order(2).subarray(0, 100)]);
  });

  it('batch(epoch, k) is the same whenever it is asked for (resumable at any step)', () => {
    const l = new DataLoader({ inputs, targets }, { batchSize: 8, seed: 9 });
    const late = l.batch(3, 5);
    for (const b of l.batches(0)) disposeBatch(b); // other epochs in between
    const again = l.batch(3, 5);
    expect(ids(again.target)).toEqual(ids(late.target));
    const fromStart = [...l.batches(3, 5)];
    expect(ids(fromStart[0]!.target)).toEqual(ids(late.target));
    for (const b of [late, again, ...fromStart]) disposeBatch(b);
  });

  it('shuffle: false keeps the order; limit takes the first examples', () => {
    const l = new DataLoader({ inputs, targets }, { batchSize: 4, shuffle: false, limit: 10 });
    expect(l.size).toBe(10);
    expect(l.length).toBe(3);
    const b = l.batch(0, 2);
    expect(ids(b.target)).toEqual([8, 9]);
    disposeBatch(b);
  });

  it('checks its arguments and the labels', () => {
    expect(() => new DataLoader({ inputs, targets: msam.arange(0, 5) }, { batchSize: 4 })).toThrow(/5 targets for 103 inputs/);
    expect(() => new DataLoader({ inputs, targets }, { batchSize: 0 })).toThrow(/'batchSize' must be an integer ≥ 1, got 0/);
    expect(() => new DataLoader({ inputs, targets }, { batchSize: 200, dropLast: true })).toThrow(/exceeds the 103 examples/);
    const labels = msam.tensor([0, 3, 9, 10, 2]);
    expect(() => new DataLoader({ inputs: msam.zeros([5, 2]), targets: labels, numClasses: 10 }, { batchSize: 2 })).toThrow(
      /target 3 is 10, out of range for 10 classes/,
    );
    expect(() => new DataLoader({ inputs: msam.zeros([2, 2]), targets: msam.tensor([0, -1]), numClasses: 10 }, { batchSize: 2 })).toThrow(/target 1 is -1/);
    expect(() => new DataLoader({ inputs: msam.zeros([2, 2]), targets: msam.tensor([0, 1]) }, { batchSize: 2, transform: { augment: { flip: true } } })).toThrow(
      /need images \[N, C, H, W\]/,
    );
  });
});

describe('DataLoader: transforms', () => {
  it('bytes become v / 255, normalized by mean and std, in float32', () => {
    const bytes = msam.tensor(Uint8Array.from([0, 1, 127, 128, 254, 255])).reshape([6, 1, 1, 1]);
    const l = new DataLoader({ inputs: bytes, targets: msam.zeros([6], { dtype: 'int64' }) }, { batchSize: 6, shuffle: false, transform: { mean: [0.286], std: [0.353] } });
    const b = l.batch(0, 0);
    const got = Array.from((b.input as Tensor).data() as Float32Array);
    const f = Math.fround;
    const expected = [0, 1, 127, 128, 254, 255].map((v) => f(f(f(v / 255) - f(0.286)) / f(0.353)));
    expect((b.input as Tensor).dtype).toBe('float32');
    got.forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 6));
    disposeBatch(b);
  });

  it('per-channel mean and std', () => {
    const x = msam.full([2, 3, 2, 2], 51).to('uint8'); // 51 / 255 = 0.2
    const l = new DataLoader({ inputs: x, targets: msam.tensor([0, 1]) }, { batchSize: 2, shuffle: false, transform: { mean: [0.1, 0.2, 0.3], std: [0.5, 1, 2] } });
    const b = l.batch(0, 0);
    const v = (b.input as Tensor).toArray() as number[][][][];
    expect(v[1]![0]![1]![1]).toBeCloseTo(0.2, 6);
    expect(v[1]![1]![0]![0]).toBeCloseTo(0, 6);
    expect(v[0]![2]![1]![0]).toBeCloseTo(-0.05, 6);
    disposeBatch(b);
  });

  // Images whose pixels are distinct: value = 1 + example·100 + row·10 + column (before scaling).
  const B = 6;
  const H = 5;
  const W = 7;
  const images = msam.tensor(Float32Array.from({ length: B * 2 * H * W }, (_, i) => {
    const b = Math.floor(i / (2 * H * W));
    const r = Math.floor((i % (H * W)) / W);
    const c = i % W;
    return 1 + b * 100 + r * 10 + c;
  })).reshape([B, 2, H, W]);
  const labels = msam.arange(0, B);
  const augmented = (seed: number, augment: msam.data.AugmentOptions) => {
    const l = new DataLoader({ inputs: images, targets: labels }, { batchSize: B, shuffle: false, seed, transform: { scale: 1, augment } });
    const b = l.batch(4, 0);
    const out = (b.input as Tensor).toArray() as number[][][][];
    disposeBatch(b);
    return out;
  };

  it('random crop with zero padding and horizontal flip: the values a JS reference predicts, per example', () => {
    const pad = 2;
    const out = augmented(11, { crop: pad, flip: true });
    const draw = drawAugment(new Rng(11, 'augment', 4, 0), B, H, W, { crop: pad, flip: true });
    expect(new Set(draw.flip).size).toBe(2); // both flipped and unflipped examples occur in this draw
    for (let b = 0; b < B; b++) {
      for (let ch = 0; ch < 2; ch++) {
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) {
            const r = draw.dy[b]! + i - pad;
            const c = draw.dx[b]! + (draw.flip[b] ? W - 1 - j : j) - pad;
            const want = r < 0 || r >= H || c < 0 || c >= W ? 0 : 1 + b * 100 + r * 10 + c;
            expect(out[b]![ch]![i]![j]).toBe(want);
          }
        }
      }
    }
  });

  it('augmentation is deterministic by seed, and differs across seeds and batches', () => {
    const aug = { crop: 2, flip: true, cutout: 2 };
    expect(augmented(3, aug)).toEqual(augmented(3, aug));
    expect(augmented(3, aug)).not.toEqual(augmented(4, aug));
    const l = new DataLoader({ inputs: images, targets: labels }, { batchSize: 3, shuffle: false, seed: 3, transform: { scale: 1, augment: aug } });
    const [a, b] = [l.batch(0, 0), l.batch(0, 1)];
    const first = (a.input as Tensor).toArray() as number[][][][];
    const second = (b.input as Tensor).toArray() as number[][][][];
    // Different examples, but also different draws: compare the crop offsets through the zero borders.
    expect(JSON.stringify(first.map((e) => e[0]!.map((row) => row.map((v) => (v === 0 ? 0 : 1)))))).not.toBe(
      JSON.stringify(second.map((e) => e[0]!.map((row) => row.map((v) => (v === 0 ? 0 : 1))))),
    );
    disposeBatch(a);
    disposeBatch(b);
  });

  it('cutout zeroes a size×size square at the drawn centre (clipped at the border)', () => {
    const size = 3;
    const out = augmented(5, { cutout: size });
    const draw = drawAugment(new Rng(5, 'augment', 4, 0), B, H, W, { cutout: size });
    for (let b = 0; b < B; b++) {
      const y0 = draw.cy[b]! - 1;
      const x0 = draw.cx[b]! - 1;
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const inside = i >= y0 && i < y0 + size && j >= x0 && j < x0 + size;
          expect(out[b]![1]![i]![j]).toBe(inside ? 0 : 1 + b * 100 + i * 10 + j);
        }
      }
    }
  });
});

describe('bad data files', () => {
  it('a missing directory names the files and the apt package', () => {
    const dir = path.join(tmp, 'nowhere');
    expect(() => loadMnist({ dir })).toThrow(/the directory .*nowhere does not exist/);
    expect(() => loadMnist({ dir })).toThrow(/train-images-idx3-ubyte\.gz, train-labels-idx1-ubyte\.gz, t10k-images-idx3-ubyte\.gz, t10k-labels-idx1-ubyte\.gz/);
    expect(() => loadMnist({ dir })).toThrow(/apt-get install dataset-fashion-mnist/);
  });

  it('a missing file is named', () => {
    const dir = path.join(tmp, 'partial');
    writeMnist(dir, 4);
    fs.rmSync(path.join(dir, 't10k-labels-idx1-ubyte'));
    expect(() => loadMnist({ dir, split: 'test' })).toThrow(/t10k-labels-idx1-ubyte\.gz \(or the same without \.gz\) missing in .*partial.*dataset-fashion-mnist/);
  });

  it('a truncated IDX file names the file and the record, raw or gzip', () => {
    for (const gzip of [false, true]) {
      const dir = path.join(tmp, `truncated-${gzip}`);
      writeMnist(dir, 10, { gzip });
      const file = path.join(dir, `train-images-idx3-ubyte${gzip ? '.gz' : ''}`);
      // 10 records of 16 bytes after a 16-byte header; keep 3.5 records.
      const raw = idx([10, 4, 4], Uint8Array.from({ length: 160 }, (_, i) => i % 256)).subarray(0, 16 + 56);
      fs.writeFileSync(file, gzip ? zlib.gzipSync(raw) : raw);
      expect(() => loadMnist({ dir })).toThrow(new RegExp(`${file.replace(/[.]/g, '\\.')}: truncated.*10 records of 16 bytes, the data ends in record 3`));
      if (gzip) {
        // A gzip stream cut short (a partial download) is reported the same way.
        const whole = zlib.gzipSync(idx([10, 4, 4], Uint8Array.from({ length: 160 }, (_, i) => (i * 31) % 256)));
        fs.writeFileSync(file, whole.subarray(0, whole.length - 40));
        expect(() => loadMnist({ dir })).toThrow(/truncated \(the gzip stream ends early\)/);
      }
    }
  });

  it('out-of-range labels name the file and the record', () => {
    const dir = path.join(tmp, 'labels');
    writeMnist(dir, 5, { labels: [0, 1, 2, 12, 3] });
    expect(() => loadMnist({ dir })).toThrow(/train-labels-idx1-ubyte: record 3: label 12 is out of range for 10 classes/);
  });

  it('a good directory loads (gzip or not)', () => {
    const dir = path.join(tmp, 'good');
    writeMnist(dir, 6, { gzip: true });
    const d = loadMnist({ dir, split: 'test' });
    expect(d.images.shape).toEqual([6, 1, 4, 4]);
    expect(ids(d.labels)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
