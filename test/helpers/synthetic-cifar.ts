// Tiny CIFAR binary files in the real format (label byte(s) + 3072 pixel bytes per record), for
// the CIFAR tests and the pretrained ViT's fine-tuning runs.
import * as fs from 'node:fs';
import * as path from 'node:path';

const PIXELS = 3072;

/** Records of label byte(s) + 3072 pixel bytes; pixel p of record r is (r·7 + p + seed) mod 256. */
export function records(labels: number[][], seed: number): Buffer {
  const out = Buffer.alloc(labels.length * (labels[0]!.length + PIXELS));
  let at = 0;
  labels.forEach((ls, r) => {
    for (const l of ls) out[at++] = l;
    for (let p = 0; p < PIXELS; p++) out[at++] = (r * 7 + p + seed) % 256;
  });
  return out;
}

export function writeCifar10(dir: string, perBatch: number[][], test: number[]): void {
  fs.mkdirSync(dir, { recursive: true });
  perBatch.forEach((ls, i) => fs.writeFileSync(path.join(dir, `data_batch_${i + 1}.bin`), records(ls.map((l) => [l]), i)));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), records(test.map((l) => [l]), 100));
}
