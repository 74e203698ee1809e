// models.fromPretrained / savePretrained for ViT in its three key layouts against the libraries
// that define them: test/fixtures/pretrained_ref.py make-vit saves one small random ViT (image 32,
// patch 8, hidden 32, 2 layers, 4 heads, MLP 64, 5 classes) with timm's keys, one with
// torchvision's and one Hugging Face ViTForImageClassification folder, with their logits in float32
// and float64, and timm's logits at 48² after its checkpoint filter resampled the positions.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { noGrad } from '../lib/autograd';
import { runCompare } from '../lib/experiments';
import { reference } from './helpers/reference';
import { writeCifar10 } from './helpers/synthetic-cifar';

const { models } = msam;
const SCRIPT = path.join(__dirname, 'fixtures', 'pretrained_ref.py');
const ref = reference(['torch', 'torchvision', 'transformers', 'timm', 'safetensors'], 'pretrained-vit.test.ts (parity with timm, torchvision and transformers; bash scripts/reference-venv.sh makes it)');
const run = promisify(execFile);

interface Expected {
  images: number[][][][];
  images48: number[][][][];
  logits: Record<string, { float32: number[][]; float64?: number[][] }>;
  loading: Record<string, { missing_keys: string[]; unexpected_keys: string[]; mismatched_keys: string[] }>;
}
type Layout = 'timm' | 'torchvision' | 'hf';

const maxDiff = (a: number[][], b: number[][]): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - (b[i] as number[])[j]!)))));
  return m;
};

function logitsOf(model: msam.nn.Module, images: number[][][][], dtype: 'float32' | 'float64'): number[][] {
  const x = msam.tensor(images, { dtype: 'float64' });
  const xx = x.to(dtype);
  const out = noGrad(() => model.forward(xx));
  const rows = out.double().toArray() as number[][];
  for (const t of [x, xx, out]) t.dispose();
  return rows;
}

describe.skipIf(!ref.ok)(`ViT from timm, torchvision and Hugging Face checkpoints${ref.ok ? '' : ` (skipped: ${ref.reason})`}`, () => {
  let root: string;
  let expected: Expected;
  const measured: string[] = [];
  const where = (layout: Layout): string => path.join(root, layout === 'hf' ? 'vit-hf' : `vit-${layout}.safetensors`);
  const load = (layout: Layout, o: msam.models.FromPretrainedOptions = {}): Promise<msam.models.Pretrained> =>
    models.fromPretrained(where(layout), layout === 'hf' ? o : { arch: 'vit', config: { num_attention_heads: 4 }, ...o });

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-vit-'));
    await run(ref.python as string, [SCRIPT, 'make-vit', root], { timeout: 300_000 });
    expected = JSON.parse(fs.readFileSync(path.join(root, 'expected-vit.json'), 'utf8')) as Expected;
  }, 300_000);
  afterAll(() => {
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
    if (measured.length) console.log(`max |logit difference| vs the reference libraries:\n  ${measured.join('\n  ')}`);
  });

  it.each(['timm', 'torchvision', 'hf'] as const)('%s keys: the same logits in float32 and float64', async (layout) => {
    const a = await load(layout);
    expect(a.report).toEqual({ missing: [], unexpected: [], reinitialized: [] });
    const e = expected.logits[layout]!;
    const d32 = maxDiff(logitsOf(a.model, expected.images, 'float32'), e.float32);
    const b = await load(layout, { dtype: 'float64' });
    const d64 = maxDiff(logitsOf(b.model, expected.images, 'float64'), e.float64!);
    measured.push(`${layout} float32: ${d32.toExponential(2)}, float64: ${d64.toExponential(2)}`);
    expect(d32).toBeLessThanOrEqual(1e-4);
    expect(d64).toBeLessThanOrEqual(1e-10);
    expect(Math.abs(e.float32[0]![0]! - e.float32[1]![0]!)).toBeGreaterThan(0.01);
  });

  it("another image size: the positions resampled as timm's checkpoint filter does", async () => {
    const a = await load('timm', { imageSize: 48 });
    const sd = a.model.stateDict();
    expect(sd['encoder.pos_embedding']!.shape).toEqual([1, 37, 32]);
    const d = maxDiff(logitsOf(a.model, expected.images48, 'float32'), expected.logits['timm@48']!.float32);
    measured.push(`timm at 48² (resampled positions) float32: ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    await expect(load('timm', { imageSize: 50 })).rejects.toThrow(/multiple of the patch size 8/);
  });

  it("a head swap on a ViTModel reports what transformers reports, and initializes as it does", async () => {
    const a = await models.fromPretrained(path.join(root, 'vit-hf-base'), { numClasses: 4 });
    const tf = expected.loading['vit-hf-base:4']!;
    expect(a.report).toEqual({ missing: tf.missing_keys, unexpected: tf.unexpected_keys, reinitialized: [...tf.missing_keys, ...tf.mismatched_keys].sort() });
    const w = a.model.stateDict()['heads.head.weight']!.flatten().toArray() as number[];
    expect(w.some((v) => v !== 0)).toBe(true);
    await expect(models.fromPretrained(path.join(root, 'vit-hf-base'))).rejects.toMatchObject({ name: 'PretrainedError', code: 'KEY_MISMATCH' });
  });

  it.each(['timm', 'torchvision', 'hf'] as const)('%s: saved back in the same layout, its library loads it to the same logits', async (layout) => {
    const a = await load(layout, { numClasses: 3 });
    msam.manualSeed(4);
    noGrad(() => {
      for (const p of a.model.parameters()) {
        const r = msam.randn(p.shape).mul(0.05);
        p.add_(r);
        r.dispose();
      }
    });
    const out = path.join(root, `saved-${layout}`);
    await models.savePretrained(a.model, out);
    const images = path.join(root, `images-${layout}.json`);
    fs.writeFileSync(images, JSON.stringify(expected.images));
    const target = layout === 'hf' ? out : path.join(out, 'model.safetensors');
    const { stdout } = await run(ref.python as string, [SCRIPT, 'vit-logits', layout, target, images, '32', '3'], { maxBuffer: 64 << 20 });
    const back = JSON.parse(stdout.trim().split('\n').pop() as string) as { logits: number[][]; loading: Expected['loading'][string] };
    expect(back.loading).toEqual({ missing_keys: [], unexpected_keys: [], mismatched_keys: [] });
    const d = maxDiff(logitsOf(a.model, expected.images, 'float32'), back.logits);
    measured.push(`${layout} round trip float32: ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
  });

  it("the inputs each checkpoint expects: its image size, and its normalization (preprocessor_config.json, else its layout's)", async () => {
    const half = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
    const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    expect((await load('timm')).images).toEqual({ size: 32, ...half });
    expect((await load('torchvision')).images).toEqual({ size: 32, ...imagenet });
    expect((await load('hf')).images).toEqual({ size: 32, ...half });
    expect((await load('timm', { imageSize: 48 })).images?.size).toBe(48);
    // Hugging Face's image processor file (as ViTImageProcessor.save_pretrained writes it) wins.
    const pre = path.join(root, 'vit-hf-pre');
    fs.cpSync(where('hf'), pre, { recursive: true });
    fs.writeFileSync(path.join(pre, 'preprocessor_config.json'), JSON.stringify({ image_processor_type: 'ViTImageProcessor', image_mean: [0.1, 0.2, 0.3], image_std: [0.4, 0.5, 0.6], size: { height: 32, width: 32 } }));
    expect((await models.fromPretrained(pre)).images).toEqual({ size: 32, mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] });
    const bad = path.join(root, 'vit-hf-badpre');
    fs.cpSync(where('hf'), bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'preprocessor_config.json'), JSON.stringify({ image_mean: [0.5, 0.5, 0.5], image_std: [0, 1, 1] }));
    await expect(models.fromPretrained(bad)).rejects.toThrow(/preprocessor_config\.json.*image_std must be three finite numbers > 0, got \[0,1,1\]/);
  });

  describe('cifar10-vit-b16 --pretrained: fine-tuning on CIFAR resized to the model', () => {
    let data: string;
    const layers = (extra: Record<string, unknown>) => ({
      preset: 'cifar10-vit-b16' as const,
      pretrained: path.join(root, 'vit-hf-pre'),
      data: { dir: data, imageSize: 48 },
      batchSize: 8,
      microBatchSize: 4,
      maxSteps: 2,
      evalBatchSize: 16,
      device: 'cpu' as const,
      log: { progress: 'plain' as const },
      ...extra,
    });
    beforeAll(() => {
      data = path.join(root, 'cifar-10-batches-bin');
      writeCifar10(data, Array.from({ length: 5 }, (_, b) => Array.from({ length: 8 }, (_, i) => (b + i) % 10)), Array.from({ length: 8 }, (_, i) => i));
    });

    it('train: images resized to 48² after crop and flip, normalized as the checkpoint was; the model saved back in its layout', async () => {
      const out = path.join(root, 'run-vit');
      const lines: string[] = [];
      const r = await msam.train(layers({ outDir: out }), { handleSigint: false, log: (l) => void lines.push(l) });
      expect([r.interrupted, r.steps, r.m]).toEqual([false, 2, 2]);
      const log = lines.join('\n');
      expect(log).toContain("images normalized as the checkpoint's (mean [0.1, 0.2, 0.3], std [0.4, 0.5, 0.6])");
      expect(log).toContain('images resized from 32×32 to 48² (bilinear, antialiased) after crop and flip');
      const tuned = await models.fromPretrained(path.join(out, 'pretrained'));
      expect(tuned.config['image_size']).toBe(48);
      expect(tuned.images).toEqual({ size: 48, mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] });
      expect(tuned.model.stateDict()['heads.head.weight']!.shape).toEqual([10, 32]);
    }, 120_000);

    it('compare --pretrained: each method fine-tunes the checkpoint; sharpness rebuilds the model from it', async () => {
      const r = await runCompare({ methods: ['vanilla', 'msam'], seeds: [0], layers: [{ source: 'test', values: layers({}) }], outDir: path.join(root, 'compare-vit'), sharpness: { examples: 16, batchSize: 16, maxIterations: 3, trace: false, mSharpness: false }, log: () => {} });
      expect(r.runs.map((x) => [x.method, x.steps])).toEqual([['vanilla', 2], ['msam', 2]]);
      const results = JSON.parse(fs.readFileSync(path.join(r.dir, 'results.json'), 'utf8')) as { runs: { lambdaMax: number }[] };
      for (const run of results.runs) expect(Number.isFinite(run.lambdaMax)).toBe(true);
    }, 180_000);
  });

  it('a state dict in no known layout is a named error', async () => {
    await expect(models.fromPretrained(path.join(root, 'vit-timm.safetensors'), { arch: 'roberta' })).rejects.toMatchObject({ name: 'PretrainedError', code: 'UNKNOWN_ARCH' });
    await expect(models.fromPretrained(path.join(root, 'vit-hf', 'model.safetensors'), { arch: 'vit' })).rejects.toMatchObject({ name: 'PretrainedError', code: 'BAD_OPTION' });
  });
});
