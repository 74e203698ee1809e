// CIFAR-10 and CIFAR-100, the binary version (https://www.cs.toronto.edu/~kriz/cifar.html), from a
// directory the user gives. Nothing is downloaded at run time.
//
//   CIFAR-10  (cifar-10-binary.tar.gz → cifar-10-batches-bin/): data_batch_1.bin … data_batch_5.bin
//             and test_batch.bin; records of 1 label byte (0–9) + 3072 pixel bytes.
//   CIFAR-100 (cifar-100-binary.tar.gz → cifar-100-binary/): train.bin and test.bin; records of
//             2 label bytes (coarse 0–19, fine 0–99) + 3072 pixel bytes. The fine label is used.
//
// The 3072 pixel bytes are the red, green and blue planes of a 32×32 image, row-major: exactly the
// [3, 32, 32] layout, so a file's pixels are copied as they are.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensor } from '../tensor/creation';
import { DataFileError } from './idx';
import type { ImageDataset } from './mnist';

export type CifarVariant = 'cifar10' | 'cifar100';

const PIXELS = 3 * 32 * 32;

const LAYOUT = {
  cifar10: {
    title: 'CIFAR-10',
    files: { train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'], test: ['test_batch.bin'] },
    labelBytes: 1,
    numClasses: 10,
    source: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (unpacked, it is the directory cifar-10-batches-bin)',
  },
  cifar100: {
    title: 'CIFAR-100',
    files: { train: ['train.bin'], test: ['test.bin'] },
    labelBytes: 2,
    numClasses: 100,
    source: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz (unpacked, it is the directory cifar-100-binary)',
  },
} as const;

/** The files a variant's split is read from (the names of the binary version). */
export function cifarFiles(variant: CifarVariant, split: 'train' | 'test'): readonly string[] {
  return LAYOUT[variant].files[split];
}

/**
 * Loads one split of CIFAR-10 or CIFAR-100 (binary version) from `dir`: images [N, 3, 32, 32]
 * uint8, labels [N] int64 (CIFAR-100: the fine labels). Errors name the files looked for and where
 * to get them, a truncated file and its record, or an out-of-range label's file and record.
 */
export function loadCifar(opts: { dir: string; variant: CifarVariant; split?: 'train' | 'test' }): ImageDataset {
  const layout = LAYOUT[opts.variant];
  if (layout === undefined) throw new RangeError(`loadCifar: variant must be 'cifar10' or 'cifar100', got ${String(opts.variant)}`);
  const split = opts.split ?? 'train';
  const dir = opts.dir;
  const all = [...layout.files.train, ...layout.files.test];
  const hint = `Download the binary version from ${layout.source} and pass the directory that holds them (nothing is downloaded at run time).`;
  if (typeof dir !== 'string' || !fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new Error(`${layout.title} not found: the directory ${String(dir)} does not exist; it should hold ${all.join(', ')}. ${hint}`);
  }
  const files = layout.files[split].map((f) => path.join(dir, f));
  const missing = layout.files[split].filter((_, i) => !fs.existsSync(files[i] as string));
  if (missing.length > 0) {
    throw new Error(`${layout.title} not found: ${missing.join(', ')} missing in ${dir} (the ${split} split reads ${layout.files[split].join(', ')}). ${hint}`);
  }

  const record = layout.labelBytes + PIXELS;
  const buffers = files.map((file) => {
    const bytes = fs.readFileSync(file);
    if (bytes.length === 0) throw new DataFileError(file, 'empty file (no records)');
    if (bytes.length % record !== 0) {
      const complete = Math.floor(bytes.length / record);
      throw new DataFileError(file, `truncated: record ${complete} is cut short (${bytes.length % record} of its ${record} bytes; ${complete} complete records before it)`);
    }
    return { file, bytes, n: bytes.length / record };
  });
  const n = buffers.reduce((a, b) => a + b.n, 0);
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let at = 0;
  for (const { file, bytes, n: count } of buffers) {
    for (let r = 0; r < count; r++) {
      const off = r * record;
      // CIFAR-100: coarse, then fine.
      const label = bytes[off + layout.labelBytes - 1] as number;
      if (label >= layout.numClasses) {
        throw new DataFileError(file, `record ${r}: label ${label} is out of range for ${layout.numClasses} classes [0, ${layout.numClasses})`);
      }
      if (layout.labelBytes === 2 && (bytes[off] as number) >= 20) {
        throw new DataFileError(file, `record ${r}: coarse label ${bytes[off]} is out of range for 20 superclasses [0, 20)`);
      }
      labels[at] = label;
      pixels.set(bytes.subarray(off + layout.labelBytes, off + record), at * PIXELS);
      at++;
    }
  }
  return {
    images: tensor(pixels).reshape([n, 3, 32, 32]),
    labels: tensor(labels).long(),
    numClasses: layout.numClasses,
  };
}
