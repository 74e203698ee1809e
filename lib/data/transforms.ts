// Batch transforms, run with tensor ops on the batch's device: bytes to float, scaling and
// normalization, and the CIFAR-style augmentations (random crop with zero padding, horizontal
// flip, cutout). The random choices are drawn in JavaScript from a seeded Rng (rng.ts) and passed
// in as plain numbers, so a batch's augmentation depends only on (seed, epoch, batch index).
import { ops } from '../ops';
import type { Tensor } from '../tensor/core';
import { tensor } from '../tensor/creation';
import { pad } from '../tensor/functional';
import { tidy } from '../tensor/memory';
import type { Rng } from './rng';

export interface AugmentOptions {
  /** Random crop back to the original size after zero padding of this many pixels on each side (CIFAR: 4); 0 is off. */
  crop?: number;
  /** Horizontal flip with probability 1/2. */
  flip?: boolean;
  /** Cutout (DeVries & Taylor): a square of this side, centred uniformly (clipped at the border), set to 0 after normalization; 0 is off. */
  cutout?: number;
}

export interface TransformOptions {
  /** Multiplies the values first; default 1/255 for uint8 inputs, else 1. */
  scale?: number;
  /** Per-channel (or one) mean subtracted after scaling. */
  mean?: number[];
  /** Per-channel (or one) standard deviation divided by after the mean. */
  std?: number[];
  /** Random augmentations (training batches only). */
  augment?: AugmentOptions;
  /**
   * Resize images to this side (or [height, width]) after crop and flip, before normalization and
   * cutout: bilinear and antialiased, as torchvision's Resize on tensors (e.g. CIFAR's 32² to a
   * pretrained ViT's 224²).
   */
  resize?: number | [number, number];
}

/** The random choices of one batch's augmentation: per example. */
export interface AugmentDraw {
  /** Crop offsets in [0, 2·padding]. */
  dy: Int32Array;
  dx: Int32Array;
  /** 1: flipped. */
  flip: Uint8Array;
  /** Cutout centres in [0, H) × [0, W). */
  cy: Int32Array;
  cx: Int32Array;
}

/**
 * Draws a batch's augmentation from `rng`: per example, in this order, crop dy and dx (when crop
 * is on), the flip bit (when flip is on), cutout cy and cx (when cutout is on).
 */
export function drawAugment(rng: Rng, batch: number, height: number, width: number, o: AugmentOptions): AugmentDraw {
  const d: AugmentDraw = {
    dy: new Int32Array(batch),
    dx: new Int32Array(batch),
    flip: new Uint8Array(batch),
    cy: new Int32Array(batch),
    cx: new Int32Array(batch),
  };
  const p = o.crop ?? 0;
  for (let i = 0; i < batch; i++) {
    if (p > 0) {
      d.dy[i] = rng.int(2 * p + 1);
      d.dx[i] = rng.int(2 * p + 1);
    } else {
      d.dy[i] = p;
      d.dx[i] = p;
    }
    if (o.flip === true) d.flip[i] = rng.nextU32() >>> 31;
    if ((o.cutout ?? 0) > 0) {
      d.cy[i] = rng.int(height);
      d.cx[i] = rng.int(width);
    }
  }
  return d;
}

const indexTensor = (values: Int32Array | number[], shape: number[], device: string): Tensor =>
  tidy(() => tensor(Int32Array.from(values)).long().reshape(shape).to(device as 'cpu'));

/**
 * Random crop after zero padding and horizontal flip of a float [B, C, H, W] batch, per example:
 * output[b, :, i, j] = padded[b, :, dy[b] + i, dx[b] + (flip[b] ? W - 1 - j : j)]. Two gathers.
 */
export function cropAndFlip(x: Tensor, padding: number, draw: Pick<AugmentDraw, 'dy' | 'dx' | 'flip'>): Tensor {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  return tidy(() => {
    const padded = padding > 0 ? pad(x, [padding, padding, padding, padding]) : x;
    const Wp = W + 2 * padding;
    const rows = new Int32Array(B * H);
    const cols = new Int32Array(B * W);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < H; i++) rows[b * H + i] = draw.dy[b]! + i;
      for (let j = 0; j < W; j++) cols[b * W + j] = draw.dx[b]! + (draw.flip[b] === 1 ? W - 1 - j : j);
    }
    const r = indexTensor(rows, [B, 1, H, 1], x.device).expand([B, C, H, Wp]);
    const c = indexTensor(cols, [B, 1, 1, W], x.device).expand([B, C, H, W]);
    return padded.gather(2, r).gather(3, c);
  });
}

/** Zeroes a size×size square centred at (cy, cx) (clipped at the border) in each example of [B, C, H, W]. */
export function cutout(x: Tensor, size: number, draw: Pick<AugmentDraw, 'cy' | 'cx'>): Tensor {
  const [B, , H, W] = x.shape as [number, number, number, number];
  return tidy(() => {
    // Rows [y0, y0 + size) and columns [x0, x0 + size) with y0 = cy - ⌊size/2⌋, as the reference code.
    const lo = Math.floor(size / 2);
    const y0 = indexTensor(Array.from(draw.cy, (v) => v - lo), [B, 1, 1, 1], x.device);
    const x0 = indexTensor(Array.from(draw.cx, (v) => v - lo), [B, 1, 1, 1], x.device);
    const ar = (n: number, shape: number[]) => indexTensor(Array.from({ length: n }, (_, i) => i), shape, x.device);
    const ri = ar(H, [1, 1, H, 1]);
    const ci = ar(W, [1, 1, 1, W]);
    const inRows = ri.ge(y0).to(x.dtype).mul(ri.lt(y0.add(size)).to(x.dtype));
    const inCols = ci.ge(x0).to(x.dtype).mul(ci.lt(x0.add(size)).to(x.dtype));
    return x.mul(inRows.mul(inCols).neg().add(1));
  });
}

/**
 * Images [B, C, H, W] resized to `size` as torchvision's `Resize(size, antialias=True)` resizes
 * tensors: bilinear with half-pixel centres (align_corners false), the triangle filter widened by
 * the scale when shrinking (ATen's _upsample_bilinear2d_aa, which torchvision calls). Floats only.
 */
export function resize(x: Tensor, size: number | [number, number]): Tensor {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  if (![h, w].every((v) => Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`resize: the size must be positive integers, got ${JSON.stringify(size)}`);
  if (x.ndim !== 4) throw new RangeError(`resize: expected images [N, C, H, W], got shape [${x.shape.join(', ')}]`);
  if (!x.dtype.startsWith('float')) throw new TypeError(`resize: expected floating-point images, got ${x.dtype}`);
  return ops.call('aten::_upsample_bilinear2d_aa', '', x, [h, w], false) as Tensor;
}

/** (x·scale − mean) / std per channel of [B, C, ...]; one value applies to every channel. */
export function normalize(x: Tensor, scale: number, mean: number[] | undefined, std: number[] | undefined): Tensor {
  return tidy(() => {
    // 1/255 divides by 255 (as torchvision's ToTensor), so bytes map to exactly v / 255 in float32.
    let y = scale === 1 ? x : scale === 1 / 255 ? x.div(255) : x.mul(scale);
    const C = x.shape[1] ?? 1;
    const perChannel = (v: number[], what: string): Tensor | number => {
      if (v.length === 1) return v[0]!;
      if (v.length !== C) throw new RangeError(`normalize: ${what} has ${v.length} values for ${C} channels`);
      const shape = [1, C, ...x.shape.slice(2).map(() => 1)];
      return tensor(Float32Array.from(v)).reshape(shape).to(x.device).to(x.dtype);
    };
    if (mean !== undefined) y = y.sub(perChannel(mean, 'mean'));
    if (std !== undefined) {
      if (std.some((s) => !(s > 0))) throw new RangeError(`normalize: std must be > 0, got [${std.join(', ')}]`);
      y = y.div(perChannel(std, 'std'));
    }
    return y;
  });
}
