// msam.models against PyTorch: test/fixtures/models_ref.py (run with the reference Python of msam's
// libtorch generation: Debian's torch 1.13 + torchvision 0.14, or .venv's 2.x) builds each reference model (torchvision's resnets and
// VisionTransformer; the CIFAR-stem resnet, the WideResNet reference, a text classifier over
// nn.TransformerEncoder and the small models written there), randomizes it with a fixed seed
// (BatchNorm running statistics included), and writes its state dict, an input and the eval-mode
// logits as raw little-endian tensors with a JSON manifest into a temporary directory. Here the
// same msam.models call must have exactly the same state-dict keys, shapes and dtypes, load those
// weights, and give the same logits (max |difference| ≤ 1e-4 in float32).
// Then the checks that need no PyTorch: options, bad input, wrong state dicts, structure, init.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { reference } from './helpers/reference';

const { models } = msam;
const GENERATOR = path.join(__dirname, 'fixtures', 'models_ref.py');
const TOLERANCE = 1e-4;

// ---- the reference data --------------------------------------------------------------------

interface Entry {
  name?: string;
  shape: number[];
  dtype: 'float32' | 'int64';
  offset: number;
  nbytes: number;
}
interface Manifest {
  case: string;
  builder: string;
  options: Record<string, unknown>;
  torch: string;
  torchvision: string;
  threads: number;
  state: Entry[];
  inputs: Entry[];
  logits: Entry;
}

// torch and torchvision of msam's libtorch generation (Debian's 1.13 + 0.14, or .venv's 2.x).
const torchRef = reference(['torch', 'torchvision'], 'models.test.ts (parity with torchvision)');
const PYTHON = torchRef.python as string;
const skipReason = os.endianness() !== 'LE' ? 'the reference files are little-endian and this machine is not' : torchRef.ok ? null : torchRef.reason;

// Cases by family, as named in models_ref.py. Each family's files are made by one Python run,
// started by the family's beforeAll; once they are there the next family's run starts, so that it
// overlaps this family's tests.
const FAMILIES: Record<string, string[]> = {
  resnet: ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet18_cifar', 'resnet50_cifar'],
  wideResNet: ['wrn_16_4_dropout', 'wrn_28_10'],
  vit: ['vit_ti16', 'vit_s16', 'vit_b16', 'vit_custom'],
  textClassifier: ['text_small'],
  small: ['small_cnn', 'mlp'],
};

const execFileAsync = promisify(execFile);
let root: string | undefined;
const generating = new Map<string, Promise<void>>();
function generate(family: string): Promise<void> {
  let p = generating.get(family);
  if (p === undefined) {
    root ??= fs.mkdtempSync(path.join(os.tmpdir(), 'msam-models-'));
    const cases = FAMILIES[family] as string[];
    // The same intra-op thread count as msam: float32 sums grouped for another count differ in the
    // last bits, and a hundred layers amplify that (to ~1e-3 in resnet101's logits).
    const args = [GENERATOR, '--threads', String(msam.getNumThreads()), root, ...cases];
    p = execFileAsync(PYTHON, args, { maxBuffer: 16 << 20 }).then(
      () => undefined,
      (e: Error & { stderr?: string }) => {
        throw new Error(`models_ref.py ${cases.join(' ')} failed: ${e.stderr || e.message}`);
      },
    );
    p.catch(() => {}); // reported by the beforeAll that awaits it
    generating.set(family, p);
  }
  return p;
}

function readTensor(data: Buffer, e: Entry): msam.Tensor {
  // A copy into a fresh ArrayBuffer: aligned for the typed array whatever the Buffer's offset.
  const bytes = data.buffer.slice(data.byteOffset + e.offset, data.byteOffset + e.offset + e.nbytes);
  const flat = msam.tensor(e.dtype === 'float32' ? new Float32Array(bytes) : new BigInt64Array(bytes));
  const t = flat.reshape(e.shape);
  if (t !== flat) flat.dispose();
  return t;
}

type Builder = (opts: Record<string, unknown>) => msam.nn.Module;
function build(m: Manifest): msam.nn.Module {
  const builder = (models as unknown as Record<string, Builder>)[m.builder];
  if (typeof builder !== 'function') throw new Error(`no msam.models.${m.builder}`);
  return builder(m.options);
}

const measured: string[] = [];

describe.skipIf(skipReason !== null)(`parity with PyTorch${skipReason === null ? '' : ` (skipped: ${skipReason})`}`, () => {
  afterAll(async () => {
    await Promise.allSettled(generating.values()); // a prefetch may still be writing
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
    if (measured.length) console.log(`max |logit difference| vs PyTorch (tolerance ${TOLERANCE}):\n  ${measured.join('\n  ')}`);
  });

  const families = Object.keys(FAMILIES);
  families.forEach((family, i) => {
    const cases = FAMILIES[family] as string[];
    describe(family, () => {
      beforeAll(async () => {
        await generate(family);
        const next = families[i + 1];
        if (next !== undefined) void generate(next);
      }, 300_000);

      it.each(cases)('%s: same keys and shapes, same logits after loadStateDict', (name) => {
        const dir = path.join(root as string, name);
        const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
        const data = fs.readFileSync(path.join(dir, 'data.bin'));
        const model = build(manifest);

        // Keys, shapes and dtypes, exactly.
        const ours = model.stateDict();
        const describeOurs = Object.fromEntries(Object.entries(ours).map(([k, t]) => [k, `${t.dtype}[${t.shape.join(', ')}]`]));
        for (const t of Object.values(ours)) t.dispose();
        const describeTheirs = Object.fromEntries(manifest.state.map((e) => [e.name as string, `${e.dtype}[${e.shape.join(', ')}]`]));
        expect(describeOurs).toEqual(describeTheirs);

        // Their weights, our forward.
        const state = Object.fromEntries(manifest.state.map((e) => [e.name as string, readTensor(data, e)]));
        model.loadStateDict(state);
        for (const t of Object.values(state)) t.dispose();
        model.eval();
        const inputs = manifest.inputs.map((e) => readTensor(data, e));
        const logits = msam.noGrad(() => model.forward(...inputs));
        expect(logits.shape).toEqual(manifest.logits.shape);
        const got = logits.data() as Float32Array;
        const want = new Float32Array(data.buffer.slice(data.byteOffset + manifest.logits.offset, data.byteOffset + manifest.logits.offset + manifest.logits.nbytes));
        let maxDiff = 0;
        let maxAbs = 0;
        for (let i = 0; i < want.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs((got[i] as number) - (want[i] as number)));
          maxAbs = Math.max(maxAbs, Math.abs(want[i] as number));
        }
        measured.push(`${name}: ${maxDiff.toExponential(2)} (logits up to ${maxAbs.toFixed(2)}, shape [${manifest.logits.shape.join(', ')}])`);
        for (const t of [...inputs, logits]) t.dispose();
        expect(Number.isFinite(maxDiff)).toBe(true);
        expect(maxDiff).toBeLessThanOrEqual(TOLERANCE);
      });
    });
  });
});

// ---- without PyTorch -----------------------------------------------------------------------

const keys = (m: msam.nn.Module): string[] => {
  const sd = m.stateDict();
  for (const t of Object.values(sd)) t.dispose();
  return Object.keys(sd);
};

describe('options are validated, naming the model and the option', () => {
  const bad: [string, () => unknown, RegExp][] = [
    ['zero classes', () => models.resnet18({ numClasses: 0 }), /resnet18: option 'numClasses' must be an integer of at least 1, got 0/],
    ['an unknown stem', () => models.resnet50({ stem: 'tiny' as 'cifar' }), /resnet50: option 'stem' must be one of 'imagenet', 'cifar', got 'tiny'/],
    ['an unknown option', () => models.resnet18({ numClass: 10 } as object), /resnet18: unknown option 'numClass'/],
    ['fractional channels', () => models.resnet34({ inChannels: 1.5 }), /resnet34: option 'inChannels' must be an integer, got 1.5/],
    ['options that are not an object', () => models.resnet101(7 as unknown as object), /resnet101: options must be an object, got number/],
    ['a WRN depth that is not 6n + 4', () => models.wideResNet({ depth: 27 }), /wideResNet: option 'depth' must be 6n \+ 4 .* got 27/],
    ['a negative widening', () => models.wideResNet({ widen: -2 }), /wideResNet: option 'widen' must be an integer of at least 1, got -2/],
    ['a dropout above 1', () => models.wideResNet({ dropout: 1.5 }), /wideResNet: option 'dropout' must be in \[0, 1\], got 1.5/],
    ['an unknown ViT variant', () => models.vit({ variant: 'l16' as 'b16' }), /vit: option 'variant' must be one of 'ti16', 's16', 'b16', got 'l16'/],
    ['a ViT with no variant', () => models.vit(), /vit: option 'variant' is required/],
    ['an image size off the patch grid', () => models.vit({ variant: 's16', imageSize: 100 }), /vit: option 'imageSize' must be a multiple of patchSize \(16\), got 100/],
    ['heads that do not divide the width', () => models.vit({ variant: 'ti16', numHeads: 5 }), /vit: option 'numHeads' must divide hiddenDim \(192\), got 5/],
    ['zero layers', () => models.vit({ variant: 'ti16', numLayers: 0 }), /vit: option 'numLayers' must be an integer of at least 1, got 0/],
    ['no vocabulary size', () => models.textClassifier({} as { vocabSize: number }), /textClassifier: option 'vocabSize' is required/],
    ['a padding index past the vocabulary', () => models.textClassifier({ vocabSize: 10, paddingIdx: 10 }), /textClassifier: option 'paddingIdx' must be below vocabSize \(10\), got 10/],
    ['an unknown text option', () => models.textClassifier({ vocabSize: 10, hidden: 8 } as { vocabSize: number }), /textClassifier: unknown option 'hidden'/],
    ['a negative CNN width', () => models.smallCnn({ width: -1 }), /smallCnn: option 'width' must be an integer of at least 1, got -1/],
    ['a CNN image size off the pooling grid', () => models.smallCnn({ imageSize: 30 }), /smallCnn: option 'imageSize' must be a multiple of 4/],
    ['a zero-width hidden layer', () => models.mlp({ hidden: [64, 0] }), /mlp: option 'hidden' must hold integers of at least 1, got 0 at index 1/],
    ['hidden sizes that are not a list', () => models.mlp({ hidden: 64 as unknown as number[] }), /mlp: option 'hidden' must be an array of integers, got 64/],
  ];
  it.each(bad)('%s', (_, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('bad input and wrong state dicts', () => {
  it('a 1-channel image into a 3-channel stem names the module and the shapes', () => {
    const resnet = models.resnet18({ stem: 'cifar', numClasses: 10 });
    expect(() => resnet.forward(msam.randn([2, 1, 32, 32]))).toThrow(
      /conv1 \(Conv2d\): expected an input with 3 channels \[N, 3, H, W\], got \[2, 1, 32, 32\]/,
    );
    const vit = models.vit({ variant: 'ti16', imageSize: 32, numLayers: 1 });
    expect(() => vit.forward(msam.randn([2, 1, 32, 32]))).toThrow(/conv_proj \(PatchEmbedding\): expected an input \[N, 3, H, W\], got \[2, 1, 32, 32\]/);
    const cnn = models.smallCnn();
    expect(() => cnn.forward(msam.randn([2, 3, 28, 28]))).toThrow(/conv1 \(Conv2d\): expected an input with 1 channels .*got \[2, 3, 28, 28\]/);
  });

  it('a resnet18 state dict into resnet34 names the missing keys', () => {
    const sd = models.resnet18().stateDict();
    expect(() => models.resnet34().loadStateDict(sd)).toThrow(/missing keys: layer1\.2\.conv1\.weight, .*layer4\.2\.bn2\.num_batches_tracked/);
  });

  it('a resnet50 state dict into resnet18 names the unexpected and mismatched keys', () => {
    const sd = models.resnet50().stateDict();
    let message = '';
    try {
      models.resnet18().loadStateDict(sd);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/unexpected keys: .*layer1\.0\.conv3\.weight/);
    expect(message).toMatch(/shape mismatches: .*layer1\.0\.conv1\.weight: expected \[64, 64, 3, 3\], got \[64, 64, 1, 1\]/);
    expect(message).toMatch(/fc\.weight: expected \[1000, 512\], got \[1000, 2048\]/);
  });

  it('an imagenet-stem state dict into a cifar-stem resnet names conv1', () => {
    const sd = models.resnet18({ numClasses: 10 }).stateDict();
    expect(() => models.resnet18({ stem: 'cifar', numClasses: 10 }).loadStateDict(sd)).toThrow(
      /shape mismatches: conv1\.weight: expected \[64, 3, 3, 3\], got \[64, 3, 7, 7\]$/,
    );
  });

  it('a WideResNet state dict into a resnet names keys of both sides', () => {
    const sd = models.wideResNet({ depth: 10, widen: 1 }).stateDict();
    expect(() => models.resnet18({ stem: 'cifar' }).loadStateDict(sd)).toThrow(
      /missing keys: .*layer1\.0\.conv1\.weight.*unexpected keys: .*block1\.layer\.0\.bn1\.weight/,
    );
  });
});

describe('structure', () => {
  it('parameter counts are the reference models\'', () => {
    expect(models.resnet18().numParameters()).toBe(11_689_512);
    expect(models.resnet50().numParameters()).toBe(25_557_032);
    expect(models.wideResNet().numParameters()).toBe(36_479_194);
    expect(models.vit({ variant: 'b16' }).numParameters()).toBe(86_567_656);
    expect(models.vit({ variant: 's16' }).numParameters()).toBe(22_050_664);
  });

  it('the cifar stem has no max-pool and a 3×3 stride-1 conv1', () => {
    const cifar = models.resnet18({ stem: 'cifar', numClasses: 10 });
    const names = cifar.namedChildren().map(([n]) => n);
    expect(names).toEqual(['conv1', 'bn1', 'relu', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'flatten', 'fc']);
    expect(models.resnet18().namedChildren().map(([n]) => n)).toContain('maxpool');
    const y = cifar.forward(msam.randn([2, 3, 32, 32]));
    expect(y.shape).toEqual([2, 10]);
  });

  it('WideResNet projects the pre-activation only where widths change', () => {
    const k = keys(models.wideResNet({ depth: 16, widen: 4 }));
    expect(k).toContain('block1.layer.0.convShortcut.weight'); // 16 → 64
    expect(k).not.toContain('block1.layer.1.convShortcut.weight');
    expect(k).toContain('block3.layer.0.convShortcut.weight');
  });

  it('the text classifier takes (ids, mask) and ignores what the mask hides', () => {
    msam.manualSeed(0);
    const model = models.textClassifier({ vocabSize: 50, maxPositions: 16, hiddenDim: 32, numLayers: 2, numHeads: 4, mlpDim: 64 }).eval();
    const ids = msam.tensor([[0, 5, 6, 7, 1, 1], [0, 9, 8, 7, 6, 5]]);
    const mask = msam.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]);
    const a = model.forward(ids, mask);
    expect(a.shape).toEqual([2, 2]);
    // Other tokens under the mask change nothing.
    const ids2 = msam.tensor([[0, 5, 6, 7, 42, 43], [0, 9, 8, 7, 6, 5]]);
    const b = model.forward(ids2, mask);
    expect(b.sub(a).abs().max().item()).toBeLessThan(1e-6);
    expect(keys(model)).toContain('embeddings.word_embeddings.weight');
  });

  it('small models train: gradients reach every parameter', () => {
    for (const model of [models.smallCnn(), models.mlp({ hidden: [32, 16] })]) {
      const x = msam.randn([4, 1, 28, 28]);
      const loss = model.forward(x).crossEntropy(msam.tensor([0, 1, 2, 3]));
      loss.backward();
      for (const [name, p] of model.namedParameters()) expect(p.grad, name).not.toBeNull();
    }
  });
});

describe('init', () => {
  const { init } = models;
  it('kaimingNormal_ (fan out, relu) has the std torchvision asks for', () => {
    const w = msam.zeros([256, 128, 3, 3]);
    init.kaimingNormal_(w, { mode: 'fanOut', nonlinearity: 'relu' });
    expect(w.std().item()).toBeCloseTo(Math.sqrt(2 / (256 * 9)), 3);
  });
  it('truncNormal_ stays in its bounds with the right spread', () => {
    const w = init.truncNormal_(msam.zeros([100_000]), 0, 1, -2, 2);
    expect(w.min().item()).toBeGreaterThanOrEqual(-2);
    expect(w.max().item()).toBeLessThanOrEqual(2);
    expect(w.std().item()).toBeCloseTo(0.8796, 2); // the std of N(0, 1) truncated to ±2
  });
  it('xavierUniform_ bounds, and fills of parameters that require grad', () => {
    const lin = new msam.nn.Linear(300, 100);
    const w = init.parameter(lin, 'weight') as msam.Tensor;
    init.xavierUniform_(w);
    expect(w.abs().max().item()).toBeLessThanOrEqual(Math.sqrt(6 / 400));
    expect(w.abs().max().item()).toBeGreaterThan(0.9 * Math.sqrt(6 / 400));
    expect(w.requiresGrad).toBe(true);
    init.zeros_(init.parameter(lin, 'bias') as msam.Tensor);
    expect(lin.forward(msam.zeros([1, 300])).abs().max().item()).toBe(0);
  });
  it('a new resnet has torchvision\'s init', () => {
    const r = models.resnet18();
    const sd = r.stateDict();
    expect((sd['layer1.0.conv1.weight'] as msam.Tensor).std().item()).toBeCloseTo(Math.sqrt(2 / (64 * 9)), 2);
    expect((sd['bn1.weight'] as msam.Tensor).min().item()).toBe(1);
    for (const t of Object.values(sd)) t.dispose();
  });
});
