// CIFAR-10/100 (binary version): the tests write tiny files in the real format (a few records),
// load them and check every value; each bad-data case and its message; and a tiny training run of
// a CIFAR preset on a synthetic CIFAR-10 directory.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { loadCifar } from '../lib/data/cifar';
import { records, writeCifar10 } from './helpers/synthetic-cifar';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-cifar-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PIXELS = 3072;

describe('CIFAR-10', () => {
  const dir = path.join(tmp, 'cifar-10-batches-bin');
  writeCifar10(dir, [[3, 9], [0], [1, 2, 4], [5], [6]], [7, 8]);

  it('reads the five training batches in order: images [N, 3, 32, 32] uint8, labels int64', () => {
    const d = loadCifar({ dir, variant: 'cifar10' });
    expect(d.images.shape).toEqual([8, 3, 32, 32]);
    expect(d.images.dtype).toBe('uint8');
    expect(d.labels.dtype).toBe('int64');
    expect(Array.from(d.labels.data(), Number)).toEqual([3, 9, 0, 1, 2, 4, 5, 6]);
    expect(d.numClasses).toBe(10);
    const px = d.images.data() as Uint8Array;
    // Record 1 of data_batch_1 (seed 0): pixel p = (7 + p) mod 256; the red plane first, row-major.
    expect(px[PIXELS + 0]).toBe(7);
    expect(px[PIXELS + 1024 + 32 * 2 + 5]).toBe((7 + 1024 + 69) % 256); // green, row 2, column 5
    // Record 0 of data_batch_3 (seed 2) is example 3.
    expect(px[3 * PIXELS + 2048]).toBe((2 + 2048) % 256);
  });

  it('reads test_batch.bin for the test split', () => {
    const d = loadCifar({ dir, variant: 'cifar10', split: 'test' });
    expect(d.images.shape).toEqual([2, 3, 32, 32]);
    expect(Array.from(d.labels.data(), Number)).toEqual([7, 8]);
    expect((d.images.data() as Uint8Array)[PIXELS + 3]).toBe((7 + 3 + 100) % 256);
  });

  it('a missing directory names the files looked for and where to get them', () => {
    expect(() => loadCifar({ dir: path.join(tmp, 'nowhere'), variant: 'cifar10' })).toThrow(
      /CIFAR-10 not found: the directory .*nowhere does not exist; it should hold data_batch_1\.bin, data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin, test_batch\.bin\. Download the binary version from https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar-10-binary\.tar\.gz/,
    );
  });

  it('a missing file is named', () => {
    const d2 = path.join(tmp, 'c10-missing');
    writeCifar10(d2, [[1], [1], [1], [1], [1]], [1]);
    fs.rmSync(path.join(d2, 'data_batch_4.bin'));
    expect(() => loadCifar({ dir: d2, variant: 'cifar10' })).toThrow(/CIFAR-10 not found: data_batch_4\.bin missing in .*c10-missing/);
    expect(loadCifar({ dir: d2, variant: 'cifar10', split: 'test' }).labels.shape).toEqual([1]);
  });

  it('a truncated file names the file and the record', () => {
    const d2 = path.join(tmp, 'c10-truncated');
    writeCifar10(d2, [[1, 2, 3], [1], [1], [1], [1]], [1]);
    const f = path.join(d2, 'data_batch_1.bin');
    fs.truncateSync(f, 2 * 3073 + 1000);
    expect(() => loadCifar({ dir: d2, variant: 'cifar10' })).toThrow(/data_batch_1\.bin: truncated: record 2 is cut short \(1000 of its 3073 bytes/);
  });

  it('an out-of-range label names the file and the record', () => {
    const d2 = path.join(tmp, 'c10-label');
    writeCifar10(d2, [[1], [1, 2], [1], [1], [1]], [1]);
    const f = path.join(d2, 'data_batch_2.bin');
    const b = fs.readFileSync(f);
    b[3073] = 10;
    fs.writeFileSync(f, b);
    expect(() => loadCifar({ dir: d2, variant: 'cifar10' })).toThrow(/data_batch_2\.bin: record 1: label 10 is out of range for 10 classes \[0, 10\)/);
  });
});

describe('CIFAR-100', () => {
  const dir = path.join(tmp, 'cifar-100-binary');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'train.bin'), records([[4, 30], [19, 99], [0, 0]], 1));
  fs.writeFileSync(path.join(dir, 'test.bin'), records([[11, 50]], 2));

  it('reads train.bin and test.bin with the fine labels', () => {
    const d = loadCifar({ dir, variant: 'cifar100' });
    expect(d.images.shape).toEqual([3, 3, 32, 32]);
    expect(Array.from(d.labels.data(), Number)).toEqual([30, 99, 0]);
    expect(d.numClasses).toBe(100);
    expect((d.images.data() as Uint8Array)[2 * PIXELS + 10]).toBe((14 + 10 + 1) % 256);
    const t = loadCifar({ dir, variant: 'cifar100', split: 'test' });
    expect(Array.from(t.labels.data(), Number)).toEqual([50]);
  });

  it('rejects fine labels ≥ 100 and coarse labels ≥ 20, naming file and record', () => {
    const d2 = path.join(tmp, 'c100-bad');
    fs.mkdirSync(d2);
    fs.writeFileSync(path.join(d2, 'train.bin'), records([[1, 1], [1, 100]], 0));
    fs.writeFileSync(path.join(d2, 'test.bin'), records([[20, 1]], 0));
    expect(() => loadCifar({ dir: d2, variant: 'cifar100' })).toThrow(/train\.bin: record 1: label 100 is out of range for 100 classes/);
    expect(() => loadCifar({ dir: d2, variant: 'cifar100', split: 'test' })).toThrow(/test\.bin: record 0: coarse label 20 is out of range for 20 superclasses/);
  });

  it('a missing directory names train.bin and test.bin and the download', () => {
    expect(() => loadCifar({ dir: path.join(tmp, 'none'), variant: 'cifar100' })).toThrow(/CIFAR-100 not found: .*it should hold train\.bin, test\.bin\. .*cifar-100-binary\.tar\.gz/);
  });
});

describe('a CIFAR preset trains on a data directory', () => {
  it('cifar10-resnet50 with a tiny model: 1 epoch with crop, flip and normalization, reporting accuracy', async () => {
    const dir = path.join(tmp, 'synthetic-cifar10');
    // Classes are bright squares at class-dependent places on noise.
    const rng = new msam.data.Rng(7);
    fs.mkdirSync(dir, { recursive: true });
    const write = (file: string, n: number) => {
      const out = Buffer.alloc(n * 3073);
      for (let r = 0; r < n; r++) {
        const c = rng.int(10);
        out[r * 3073] = c;
        for (let p = 0; p < PIXELS; p++) out[r * 3073 + 1 + p] = rng.int(60);
        const [y, x] = [4 + 8 * Math.floor(c / 4), 4 + 6 * (c % 4)];
        for (let ch = 0; ch < 3; ch++) for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) out[r * 3073 + 1 + ch * 1024 + (y + i) * 32 + x + j] = 220;
      }
      fs.writeFileSync(path.join(dir, file), out);
    };
    for (let i = 1; i <= 5; i++) write(`data_batch_${i}.bin`, 16);
    write('test_batch.bin', 20);

    const outDir = path.join(tmp, 'run');
    const r = await msam.train(
      {
        preset: 'cifar10-resnet50',
        data: { dir },
        model: { name: 'smallCnn', options: { width: 4 } },
        m: 2,
        epochs: 1,
        batchSize: 16,
        optimizer: { lr: 0.05 },
        device: 'cpu',
        outDir,
        log: { progress: 'none' },
      },
      { handleSigint: false, log: () => {} },
    );
    expect(r.interrupted).toBe(false);
    expect(r.steps).toBe(4); // 80 examples, 8 held out for validation: 72 train in 4 batches of 16
    expect(r.valExamples).toBe(8);
    expect(r.metric).toBe('accuracy');
    expect(r.testMetric).toBe(r.testAccuracy);
    expect(r.config.data.augment).toEqual({ crop: 4, flip: true, cutout: 0 });
    expect(fs.existsSync(path.join(outDir, 'results.json'))).toBe(true);
  });

  it('the CIFAR loader pipeline: augmented, normalized float batches', () => {
    const d = loadCifar({ dir: path.join(tmp, 'synthetic-cifar10'), variant: 'cifar10' });
    const loader = new msam.data.DataLoader(
      { inputs: d.images, targets: d.labels, numClasses: 10 },
      { batchSize: 8, seed: 1, transform: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], augment: { crop: 4, flip: true } } },
    );
    const b = loader.batch(0, 0);
    const x = b.input as msam.Tensor;
    expect(x.shape).toEqual([8, 3, 32, 32]);
    expect(x.dtype).toBe('float32');
    // Zero padding shows as (0 − 0.5) / 0.25 = −2 somewhere (a crop offset ≠ 4 in 8 draws is all but certain).
    expect(x.min().item()).toBeCloseTo(-2, 5);
    msam.data.disposeBatch(b);
    loader.dispose();
  });
});
