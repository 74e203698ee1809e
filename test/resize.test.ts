// Image resizing (data.imageSize, the DataLoader's transform.resize): bilinear and antialiased as
// torchvision's Resize on tensors. Hand-derived values for an upsampling and a shrinking (where
// the antialiased filter differs from plain bilinear), then torchvision's own output.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { DataLoader } from '../lib/data/loader';
import { resize } from '../lib/data/transforms';
import { reference } from './helpers/reference';

const ref = reference(['torch', 'torchvision'], 'resize against torchvision');
const rows = (t: msam.Tensor) => t.double().toArray() as number[][][][];

describe('resize: bilinear, antialiased', () => {
  it('upsampling 2×2 → 4×4: half-pixel centres, edges held (hand-derived)', () => {
    // Output pixel i samples the input at (i + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25, clamped to
    // [0, 1]: weights of the second pixel 0, 0.25, 0.75, 1 along each axis.
    const x = msam.tensor([[[[0, 1], [2, 3]]]], { dtype: 'float32' });
    const t = [0, 0.25, 0.75, 1];
    const expected = t.map((ry) => t.map((cx) => 2 * ry + cx));
    const y = resize(x, 4);
    expect(y.shape).toEqual([1, 1, 4, 4]);
    (rows(y)[0]![0] as number[][]).forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(expected[i]![j]!, 6)));
  });

  it('shrinking 1×4 → 1×2 widens the triangle filter by the scale (antialiasing; plain bilinear differs)', () => {
    // Output 0 is centred at 1.0 in input coordinates; the filter's half-width is 2: input centres
    // 0.5, 1.5, 2.5, 3.5 weigh 0.75, 0.75, 0.25, 0, normalized to 3/7, 3/7, 1/7. Output 1 (centre 3)
    // weighs 0, 1/7, 3/7, 3/7. Plain bilinear would give 0.5 and 2.5.
    const x = msam.tensor([[[[0, 1, 2, 3]]]], { dtype: 'float32' });
    const y = rows(resize(x, [1, 2]))[0]![0]![0] as number[];
    expect(y[0]).toBeCloseTo(5 / 7, 6);
    expect(y[1]).toBeCloseTo(16 / 7, 6);
  });

  it('rejects what it cannot resize, naming it', () => {
    expect(() => resize(msam.zeros([3, 4, 4]), 8)).toThrow(/resize: expected images \[N, C, H, W\], got shape \[3, 4, 4\]/);
    expect(() => resize(msam.zeros([1, 1, 4, 4]), 0)).toThrow(/resize: the size must be positive integers, got 0/);
    expect(() => resize(msam.zeros([1, 1, 4, 4], { dtype: 'uint8' }), 8)).toThrow(/expected floating-point images, got uint8/);
    const images = msam.zeros([4, 3, 8, 8], { dtype: 'uint8' });
    expect(() => new DataLoader({ inputs: images, targets: msam.zeros([4], { dtype: 'int64' }) }, { batchSize: 2, transform: { resize: 16, augment: { cutout: 2 } } })).toThrow(/cutout and resize together are not supported/);
  });

  it('the loader resizes after crop and flip and before normalization: [B, 3, 48, 48]', () => {
    const images = msam.randint(0, 256, [4, 3, 32, 32]).to('uint8');
    const loader = new DataLoader({ inputs: images, targets: msam.zeros([4], { dtype: 'int64' }) }, { batchSize: 4, shuffle: false, transform: { resize: 48, mean: [0.5], std: [0.5] } });
    const b = loader.batch(0, 0);
    expect((b.input as msam.Tensor).shape).toEqual([4, 3, 48, 48]);
    // Normalization is affine per channel and the filter's weights sum to 1: resizing first or last agrees.
    const other = resize(images.float().div(255).sub(0.5).div(0.5), 48);
    expect((b.input as msam.Tensor).sub(other).abs().max().item()).toBeLessThan(1e-5);
  });

  it.skipIf(!ref.ok)(`equals torchvision's Resize(antialias=True) on tensors: 32² → 224², 64² → 24², 30×20 → 45×16${ref.ok ? '' : ` (skipped: ${ref.reason})`}`, () => {
    const cases: [number[], [number, number]][] = [
      [[2, 3, 32, 32], [224, 224]],
      [[2, 3, 64, 64], [24, 24]],
      [[1, 3, 30, 20], [45, 16]],
    ];
    const inputs = cases.map(([shape]) => msam.rand(shape, { dtype: 'float64' }).mul(255));
    const script = `
import json, sys, torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
cases = json.load(sys.stdin)
out = [F.resize(torch.tensor(c["x"], dtype=torch.float64), c["size"], interpolation=InterpolationMode.BILINEAR, antialias=True).tolist() for c in cases]
print(json.dumps(out))`;
    const stdin = JSON.stringify(cases.map(([, size], i) => ({ x: inputs[i]!.toArray(), size })));
    const expected = JSON.parse(execFileSync(ref.python as string, ['-c', script], { input: stdin, encoding: 'utf8', maxBuffer: 1 << 28 })) as number[][][][][];
    cases.forEach(([, size], i) => {
      const ours = resize(inputs[i]!, size);
      const theirs = msam.tensor(expected[i]!, { dtype: 'float64' });
      expect(ours.shape).toEqual(theirs.shape);
      expect(ours.sub(theirs).abs().max().item()).toBeLessThan(1e-9);
    });
  });
});
