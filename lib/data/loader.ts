// DataLoader: mini-batches of in-memory tensors, with seeded shuffling and augmentation.
//
//   const loader = new DataLoader({ inputs: images, targets: labels }, {
//     batchSize: 128, seed: 0, dropLast: true,
//     transform: { mean: [0.286], std: [0.353], augment: { crop: 4, flip: true } },
//   });
//   for (const batch of loader.batches(epoch)) { await sam.step(batch); disposeBatch(batch); }
//
// Everything random is a pure function of (seed, epoch, batch index): epoch e's order is a
// Fisher–Yates shuffle from Rng(seed, 'order', e), batch k's augmentation comes from
// Rng(seed, 'augment', e, k). So `loader.batch(e, k)` gives the same batch whenever it is asked
// for, and a run can resume at any step. Nothing here uses libtorch's generators.
//
// Overlap with training: a native mSAM step runs on a worker thread, so the trainer builds batch
// k + 1 (with loader.batch) after starting step k and before awaiting it.
import type { Batch } from '../msam';
import { Tensor, expectTensor } from '../tensor/core';
import { tensor } from '../tensor/creation';
import { tidy } from '../tensor/memory';
import type { Device } from '../types';
import { Rng, permutation } from './rng';
import { cropAndFlip, cutout, drawAugment, normalize, resize, type TransformOptions } from './transforms';

export interface Dataset {
  /**
   * [N, ...] examples (uint8 images, float features, int64 token ids), or several tensors of N
   * examples each (token ids and an attention mask): a batch's `input` is then the list, in order.
   */
  inputs: Tensor | Tensor[];
  /** [N] int64 class indices (or [N, ...] regression targets). */
  targets: Tensor;
  /** When given, every target is checked to be an integer in [0, numClasses). */
  numClasses?: number;
}

export interface DataLoaderOptions {
  batchSize: number;
  /** A new order every epoch (default true); false keeps the data set's order. */
  shuffle?: boolean;
  /** Drop the last incomplete batch (default false, as PyTorch). */
  dropLast?: boolean;
  /** Seeds the order and the augmentation (default 0). */
  seed?: number;
  /** Where batches are made; the data set is moved there once. Default: where the data set is. */
  device?: Device;
  /** Scaling, normalization and augmentation (on images [N, C, H, W]). */
  transform?: TransformOptions;
  /** Only the first `limit` examples (quick runs and tests). */
  limit?: number;
}

/** Disposes a batch's tensors. */
export function disposeBatch(batch: Batch): void {
  for (const t of Array.isArray(batch.input) ? batch.input : [batch.input]) t.dispose();
  batch.target.dispose();
}

export class DataLoader {
  /** The (first) inputs. */
  readonly inputs: Tensor;
  /** Every input tensor (one, or several for multi-input data sets). */
  readonly inputList: Tensor[];
  readonly targets: Tensor;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;
  readonly transform: TransformOptions;
  /** Examples in the data set (after `limit`). */
  readonly size: number;

  constructor(data: Dataset, opts: DataLoaderOptions) {
    const where = 'DataLoader';
    if (data === null || typeof data !== 'object') throw new TypeError(`${where}: expected a data set { inputs, targets }`);
    const multi = Array.isArray(data.inputs);
    if (multi && (data.inputs as Tensor[]).length === 0) throw new RangeError(`${where}: inputs is an empty list`);
    let list = (multi ? (data.inputs as Tensor[]) : [data.inputs as Tensor]).map((t, i) => expectTensor(t, `${where}: inputs${multi ? `[${i}]` : ''}`));
    let targets = expectTensor(data.targets, `${where}: targets`);
    const n = list[0]!.shape[0];
    if (n === undefined) throw new RangeError(`${where}: inputs must have a first (example) dimension`);
    list.forEach((t, i) => {
      if (t.shape[0] !== n) throw new RangeError(`${where}: inputs[${i}] has ${t.shape[0] ?? 0} examples, inputs[0] ${n}`);
    });
    if (targets.shape[0] !== n) throw new RangeError(`${where}: ${targets.shape[0] ?? 0} targets for ${n} inputs`);
    const positiveInt = (v: unknown, field: string): number => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new RangeError(`${where}: option '${field}' must be an integer ≥ 1, got ${String(v)}`);
      return v;
    };
    this.batchSize = positiveInt(opts.batchSize, 'batchSize');
    const limit = opts.limit === undefined ? n : Math.min(n, positiveInt(opts.limit, 'limit'));
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(this.seed)) throw new RangeError(`${where}: option 'seed' must be an integer, got ${this.seed}`);
    this.transform = opts.transform ?? {};
    this.size = limit;
    if (this.dropLast && limit < this.batchSize) {
      throw new RangeError(`${where}: batchSize ${this.batchSize} exceeds the ${limit} examples, and dropLast leaves no batch`);
    }
    const device = opts.device ?? list[0]!.device;
    [targets, ...list] = tidy(() => {
      const cut = (t: Tensor) => (limit < n ? t.narrow(0, 0, limit).contiguous() : t);
      return [cut(targets).to(device), ...list.map((t) => cut(t).to(device))];
    });
    this.multi = multi;
    const inputs = list[0]!;
    if (data.numClasses !== undefined) checkLabels(targets, data.numClasses);
    const aug = this.transform.augment;
    if (aug !== undefined && ((aug.crop ?? 0) > 0 || aug.flip === true || (aug.cutout ?? 0) > 0) && inputs.ndim !== 4) {
      throw new RangeError(`${where}: crop, flip and cutout need images [N, C, H, W], got inputs of shape [${inputs.shape.join(', ')}]`);
    }
    // Cutout's squares are drawn in the stored image's coordinates: after a resize they would miss.
    if (this.transform.resize !== undefined && (aug?.cutout ?? 0) > 0) throw new RangeError(`${where}: cutout and resize together are not supported (cutout would be drawn at the stored size)`);
    if (this.transform.resize !== undefined && inputs.ndim !== 4) throw new RangeError(`${where}: resize needs images [N, C, H, W], got inputs of shape [${inputs.shape.join(', ')}]`);
    this.inputs = inputs;
    this.inputList = list;
    this.targets = targets;
  }

  /** Whether batches carry a list of inputs. */
  readonly multi: boolean;

  /** Batches per epoch. */
  get length(): number {
    return this.dropLast ? Math.floor(this.size / this.batchSize) : Math.ceil(this.size / this.batchSize);
  }

  /** The example indices of epoch `epoch`, in order (a seeded permutation when shuffling). */
  order(epoch: number): Int32Array {
    if (!this.shuffle) return Int32Array.from({ length: this.size }, (_, i) => i);
    return permutation(this.size, new Rng(this.seed, 'order', epoch));
  }

  #orders = new Map<number, Int32Array>();
  #orderOf(epoch: number): Int32Array {
    let o = this.#orders.get(epoch);
    if (o === undefined) {
      o = this.order(epoch);
      this.#orders.clear(); // one epoch at a time is all a training loop needs
      this.#orders.set(epoch, o);
    }
    return o;
  }

  /**
   * Batch `index` of epoch `epoch`, transformed and augmented: the same tensors whenever asked.
   * The caller owns them (disposeBatch).
   */
  batch(epoch: number, index: number): Batch {
    if (!(Number.isSafeInteger(index) && index >= 0 && index < this.length)) {
      throw new RangeError(`DataLoader.batch: index must be an integer in [0, ${this.length}), got ${index}`);
    }
    const order = this.#orderOf(epoch);
    const start = index * this.batchSize;
    const ids = order.subarray(start, Math.min(start + this.batchSize, this.size));
    return tidy(() => {
      const idx = tensor(ids).long().to(this.inputs.device);
      const target = this.targets.indexSelect(0, idx);
      if (this.multi) return { input: this.inputList.map((t) => this.#apply(t.indexSelect(0, idx), epoch, index)), target };
      const raw = this.inputs.indexSelect(0, idx);
      return { input: this.#apply(raw, epoch, index), target };
    });
  }

  /** The batches of an epoch from `start` on (a plain iterator: build, use, dispose). */
  *batches(epoch: number, start = 0): Generator<Batch, void, undefined> {
    for (let k = start; k < this.length; k++) yield this.batch(epoch, k);
  }

  #apply(raw: Tensor, epoch: number, index: number): Tensor {
    const t = this.transform;
    const isBytes = raw.dtype === 'uint8';
    if (!isBytes && !raw.dtype.startsWith('float') && t.mean === undefined && t.std === undefined && t.scale === undefined) {
      return raw; // token ids and other integer inputs pass through
    }
    let x = raw.dtype === 'float64' ? raw : raw.float();
    const aug = t.augment ?? {};
    const crop = aug.crop ?? 0;
    const flip = aug.flip === true;
    const hole = aug.cutout ?? 0;
    let draw = null;
    if (crop > 0 || flip || hole > 0) {
      const [B, , H, W] = x.shape as [number, number, number, number];
      draw = drawAugment(new Rng(this.seed, 'augment', epoch, index), B, H, W, aug);
      // Padding is black (0 before scaling), as torchvision's RandomCrop on the raw image.
      if (crop > 0 || flip) x = cropAndFlip(x, crop, draw);
    }
    if (t.resize !== undefined) x = resize(x, t.resize);
    x = normalize(x, t.scale ?? (isBytes ? 1 / 255 : 1), t.mean, t.std);
    if (draw !== null && hole > 0) x = cutout(x, hole, draw);
    return x;
  }

  /** Frees the loader's copy of the data (when it made one: a limit or another device). */
  dispose(): void {
    for (const t of this.inputList) t.dispose();
    this.targets.dispose();
  }
}

/** Targets must be integers in [0, numClasses): the error names the first bad record. */
export function checkLabels(targets: Tensor, numClasses: number): void {
  if (!targets.dtype.startsWith('int') && targets.dtype !== 'uint8') {
    throw new TypeError(`DataLoader: class targets must be integers, got ${targets.dtype}`);
  }
  const values = targets.data();
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!(v >= 0 && v < numClasses)) {
      throw new RangeError(`DataLoader: target ${i} is ${v}, out of range for ${numClasses} classes [0, ${numClasses})`);
    }
  }
}
