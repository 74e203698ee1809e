// A small data set in MNIST's IDX format for training tests: 12×12 images whose class is a bright
// 3×3 square at one of 10 places, on noise, so a tiny CNN learns it in a few steps.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as msam from '../../lib';

/** An IDX file: magic (0, 0, 0x08, rank), big-endian dims, bytes. */
export function idx(shape: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * shape.length);
  head[2] = 0x08;
  head[3] = shape.length;
  shape.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** Writes train-/t10k- images and labels (uncompressed IDX) of nTrain and nTest examples into `dir`. */
export function writeSyntheticMnist(dir: string, nTrain: number, nTest: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const rng = new msam.data.Rng(2024);
  const make = (n: number) => {
    const labels = Uint8Array.from({ length: n }, () => rng.int(10));
    const images = new Uint8Array(n * 144);
    for (let k = 0; k < n; k++) {
      for (let p = 0; p < 144; p++) images[k * 144 + p] = rng.int(60);
      const c = labels[k]!;
      const [y, x] = [1 + 3 * Math.floor(c / 4), 1 + 3 * (c % 4)];
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) images[k * 144 + (y + i) * 12 + x + j] = 200 + rng.int(56);
    }
    return { images: idx([n, 12, 12], images), labels: idx([n], labels) };
  };
  const train = make(nTrain);
  const test = make(nTest);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), train.images);
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), train.labels);
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), test.images);
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), test.labels);
}
