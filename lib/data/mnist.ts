// Fashion-MNIST and MNIST from their IDX files (Debian's dataset-fashion-mnist puts them in
// /usr/share/datasets/fashion-mnist).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensor } from '../tensor';
import type { Tensor } from '../tensor/core';
import { DataFileError, readIdx } from './idx';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface ImageDataset {
  /** [N, 1, 28, 28] uint8 */
  images: Tensor;
  /** [N] int64 */
  labels: Tensor;
  numClasses: number;
}

const FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;

function locate(dir: string, base: string, hint: string): string {
  for (const name of [`${base}.gz`, base]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`MNIST-format data not found: looked for ${base}.gz or ${base} in ${dir}. ${hint}`);
}

/** Loads one split of an MNIST-format data set (Fashion-MNIST by default). */
export function loadMnist(opts: { dir?: string; split?: 'train' | 'test'; numClasses?: number } = {}): ImageDataset {
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const split = opts.split ?? 'train';
  const numClasses = opts.numClasses ?? 10;
  const hint = dir === FASHION_MNIST_DIR ? 'Install it with `sudo apt-get install dataset-fashion-mnist`, or pass another directory.' : 'Pass the directory that holds the IDX files.';
  const [imgBase, lblBase] = FILES[split];
  const imgFile = locate(dir, imgBase, hint);
  const lblFile = locate(dir, lblBase, hint);
  const img = readIdx(imgFile);
  const lbl = readIdx(lblFile);
  if (img.shape.length !== 3) throw new DataFileError(imgFile, `expected images [N, H, W], got a rank-${img.shape.length} array`);
  if (lbl.shape.length !== 1) throw new DataFileError(lblFile, `expected labels [N], got a rank-${lbl.shape.length} array`);
  if (img.shape[0] !== lbl.shape[0]) throw new DataFileError(lblFile, `${lbl.shape[0]} labels for ${img.shape[0]} images in ${imgFile}`);
  const bad = lbl.data.findIndex((v) => v >= numClasses);
  if (bad >= 0) throw new DataFileError(lblFile, `record ${bad}: label ${lbl.data[bad]} is out of range for ${numClasses} classes`);
  const [n, h, w] = img.shape as [number, number, number];
  const images = tensor(img.data).reshape([n, 1, h, w]);
  const labels = tensor(Int32Array.from(lbl.data)).long();
  return { images, labels, numClasses };
}
