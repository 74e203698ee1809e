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

const ALL_FILES = [...FILES.train, ...FILES.test];
const INSTALL_HINT = `Debian's package dataset-fashion-mnist provides them in ${FASHION_MNIST_DIR}: \`sudo apt-get install dataset-fashion-mnist\` (or run \`bash scripts/setup.sh\`); or pass the directory that holds them.`;

/** The file of `base` in `dir` (gzip-compressed or not); errors name every missing file and the apt package. */
function locate(dir: string, bases: readonly string[]): string[] {
  const what = dir === FASHION_MNIST_DIR ? 'Fashion-MNIST' : 'MNIST-format data';
  if (!fs.existsSync(dir)) {
    throw new Error(`${what} not found: the directory ${dir} does not exist; it should hold ${ALL_FILES.map((f) => `${f}.gz`).join(', ')} (or the same without .gz). ${INSTALL_HINT}`);
  }
  const found = bases.map((base) => [`${base}.gz`, base].map((name) => path.join(dir, name)).find((f) => fs.existsSync(f)));
  const missing = bases.filter((_, i) => found[i] === undefined);
  if (missing.length > 0) {
    throw new Error(`${what} not found: ${missing.map((b) => `${b}.gz`).join(' and ')} (or the same without .gz) missing in ${dir}. ${INSTALL_HINT}`);
  }
  return found as string[];
}

/** Loads one split of an MNIST-format data set (Fashion-MNIST by default). */
export function loadMnist(opts: { dir?: string; split?: 'train' | 'test'; numClasses?: number } = {}): ImageDataset {
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const split = opts.split ?? 'train';
  const numClasses = opts.numClasses ?? 10;
  const [imgFile, lblFile] = locate(dir, FILES[split]) as [string, string];
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
