// msam.nn beyond the values (nn-parity.test.ts compares every layer with PyTorch): the Module API
// (names, traversal, modes, moves, gradients, state dicts, printing), the containers, a module
// written in TypeScript that trains, Dropout's randomness, and bad input.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';

const { nn } = msam;

const names = (list: [string, unknown][]) => list.map(([k]) => k);
/** max |a - b| as a number. */
const maxDiff = (a: Tensor, b: Tensor): number => msam.tidy(() => a.sub(b).abs().max().item());
const caught = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
};

// A small CNN, the shapes of torchvision's ResNet stem and keys.
function stem(): msam.nn.Sequential {
  return new nn.Sequential({
    conv1: new nn.Conv2d(3, 4, 3, { padding: 1, bias: false }),
    bn1: new nn.BatchNorm2d(4),
    relu: new nn.ReLU(),
    layer1: new nn.Sequential(
      new nn.Residual({
        body: [
          ['conv1', new nn.Conv2d(4, 4, 3, { padding: 1, bias: false })],
          ['bn1', new nn.BatchNorm2d(4)],
        ],
        post: [['relu', new nn.ReLU()]],
      }),
    ),
    avgpool: new nn.AdaptiveAvgPool2d(1),
    flatten: new nn.Flatten(),
    fc: new nn.Linear(4, 2),
  });
}

describe('Module API: names and traversal', () => {
  it('namedParameters: dotted names, own parameters before the children, as PyTorch', () => {
    const m = stem();
    expect(names(m.namedParameters())).toEqual([
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'layer1.0.conv1.weight',
      'layer1.0.bn1.weight',
      'layer1.0.bn1.bias',
      'fc.weight',
      'fc.bias',
    ]);
    expect(m.parameters().map((p) => p.shape)).toEqual([[4, 3, 3, 3], [4], [4], [4, 4, 3, 3], [4], [4], [2, 4], [2]]);
    expect(m.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
    expect(m.numParameters()).toBe(108 + 8 + 144 + 8 + 8 + 2);
    // MultiheadAttention: its own in_proj_* first, then its child out_proj.
    expect(names(new nn.MultiheadAttention(4, 2).namedParameters())).toEqual([
      'in_proj_weight',
      'in_proj_bias',
      'out_proj.weight',
      'out_proj.bias',
    ]);
  });

  it('buffers and namedBuffers: running statistics with their int64 counter', () => {
    const m = stem();
    expect(names(m.namedBuffers())).toEqual([
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
      'layer1.0.bn1.running_mean',
      'layer1.0.bn1.running_var',
      'layer1.0.bn1.num_batches_tracked',
    ]);
    expect(m.buffers().map((b) => b.dtype)).toEqual(['float32', 'float32', 'int64', 'float32', 'float32', 'int64']);
    expect(m.buffers().every((b) => !b.requiresGrad)).toBe(true);
    expect(new nn.Linear(2, 2).buffers()).toEqual([]);
  });

  it('children and namedChildren: one level, in order, as native module wrappers', () => {
    const m = stem();
    expect(names(m.namedChildren())).toEqual(['conv1', 'bn1', 'relu', 'layer1', 'avgpool', 'flatten', 'fc']);
    expect(m.children().map((c) => c.typeName)).toEqual(['Conv2d', 'BatchNorm2d', 'ReLU', 'Sequential', 'AdaptiveAvgPool2d', 'Flatten', 'Linear']);
    const layer1 = m.children()[3] as msam.nn.Module;
    expect(names(layer1.namedChildren())).toEqual(['0']);
    expect(names((layer1.children()[0] as msam.nn.Module).namedChildren())).toEqual(['conv1', 'bn1', 'relu']);
    expect(m.children().every((c) => c instanceof nn.NativeModule)).toBe(true);
    // A child's parameters are the parent's (the same native tensors).
    const fc = m.children()[6] as msam.nn.Module;
    msam.noGrad(() => (fc.parameters()[1] as Tensor).fill_(0.5));
    expect((m.parameters()[7] as Tensor).toArray()).toEqual([0.5, 0.5]);
  });

  it("an empty name is transparent: the child's keys join the parent's", () => {
    const inner = new nn.Sequential({ fc: new nn.Linear(2, 3) });
    const m = new nn.Sequential([
      ['', inner],
      ['act', new nn.ReLU()],
      ['head', new nn.Linear(3, 1)],
    ]);
    expect(names(m.namedParameters())).toEqual(['fc.weight', 'fc.bias', 'head.weight', 'head.bias']);
    expect(names(m.namedChildren())).toEqual(['', 'act', 'head']);
    expect(Object.keys(m.stateDict())).toEqual(['fc.weight', 'fc.bias', 'head.weight', 'head.bias']);
    expect(String(m)).toContain('(-): Sequential(');
    // ClassToken and PositionEmbedding hold one parameter named '': it takes the module's name.
    const vit = new nn.Sequential({ class_token: new nn.ClassToken(4), pos_embedding: new nn.PositionEmbedding(3, 4) });
    expect(names(vit.namedParameters())).toEqual(['class_token', 'pos_embedding']);
    expect(vit.parameters().map((p) => p.shape)).toEqual([[1, 1, 4], [1, 3, 4]]);
  });

  it('TransformerEncoderLayer has PyTorch’s state-dict keys, post-norm and pre-norm', () => {
    const keys = [
      'self_attn.in_proj_weight',
      'self_attn.in_proj_bias',
      'self_attn.out_proj.weight',
      'self_attn.out_proj.bias',
      'linear1.weight',
      'linear1.bias',
      'linear2.weight',
      'linear2.bias',
      'norm1.weight',
      'norm1.bias',
      'norm2.weight',
      'norm2.bias',
    ].sort();
    for (const normFirst of [false, true]) {
      const m = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, normFirst });
      expect(names(m.namedParameters()).sort()).toEqual(keys);
      expect(m.numParameters()).toBe(3 * 8 * 8 + 3 * 8 + 8 * 8 + 8 + 16 * 8 + 16 + 8 * 16 + 8 + 4 * 8);
    }
  });
});

describe('Module API: modes, moves and gradients', () => {
  it('train() and eval() propagate to every descendant and return the module', () => {
    const m = stem();
    const all = (mod: msam.nn.Module): msam.nn.Module[] => [mod, ...mod.children().flatMap(all)];
    expect(all(m).every((c) => c.training)).toBe(true);
    expect(m.eval()).toBe(m);
    expect(all(m).length).toBe(12);
    expect(all(m).some((c) => c.training)).toBe(false);
    expect(m.train()).toBe(m);
    expect(all(m).every((c) => c.training)).toBe(true);
    m.train(false);
    expect(all(m).some((c) => c.training)).toBe(false);
  });

  it('eval() switches BatchNorm to its running statistics and stops updating them', () => {
    msam.manualSeed(1);
    const bn = new nn.BatchNorm2d(2);
    const [mean, , count] = bn.buffers() as [Tensor, Tensor, Tensor];
    const x = msam.randn([4, 2, 3, 3]).mul(3).add(1);
    bn.forward(x);
    expect(count.item()).toBe(1);
    const before = mean.toArray();
    bn.eval();
    const y = bn.forward(x);
    expect(count.item()).toBe(1);
    expect(mean.toArray()).toEqual(before);
    // (x - running_mean) / sqrt(running_var + eps) with weight 1, bias 0.
    const expected = x.sub(mean.reshape([1, 2, 1, 1])).div((bn.buffers()[1] as Tensor).add(1e-5).sqrt().reshape([1, 2, 1, 1]));
    expect(maxDiff(y, expected)).toBeLessThan(1e-5);
  });

  it("to('float64') keeps parameter identity, casts float buffers and leaves num_batches_tracked int64", () => {
    const m = stem();
    const params = m.parameters();
    const buffers = m.buffers();
    const conv = params[0] as Tensor;
    const handle = conv.handle;
    expect(m.to('float64')).toBe(m);
    expect(conv.dtype).toBe('float64');
    expect(conv.handle).toBe(handle);
    expect(params.every((p) => p.dtype === 'float64' && p.requiresGrad && p.isLeaf)).toBe(true);
    expect(m.parameters().every((p, i) => p === params[i])).toBe(true);
    expect(buffers.map((b) => b.dtype)).toEqual(['float64', 'float64', 'int64', 'float64', 'float64', 'int64']);
    const y = m.forward(msam.randn([2, 3, 5, 5], { dtype: 'float64' }));
    expect(y.dtype).toBe('float64');
    y.sum().backward();
    expect(conv.grad?.dtype).toBe('float64');
    m.to('float32');
    expect(conv.dtype).toBe('float32');
    expect(() => m.to('int64' as never)).toThrow(TypeError);
  });

  it('to() casts existing gradients with their parameters (native and TypeScript modules)', () => {
    class Scale extends nn.Module {
      readonly s = this.registerParameter('s', msam.ones([3]));
      readonly fc = this.registerModule('fc', new nn.Linear(3, 1));
      forward(x: Tensor): Tensor {
        return this.fc.forward(x.mul(this.s));
      }
    }
    const m = new Scale();
    m.forward(msam.ones([2, 3])).sum().backward();
    const grads = m.parameters().map((p) => p.grad as Tensor);
    const g = grads.map((t) => Array.from(t.data() as Float32Array));
    m.to('float64');
    expect(m.parameters().map((p) => p.grad?.dtype)).toEqual(['float64', 'float64', 'float64']);
    expect(grads.map((t) => t.dtype)).toEqual(['float64', 'float64', 'float64']); // in place, as the parameters
    // The next backward (the same gradient again) accumulates into them in float64.
    m.forward(msam.ones([2, 3], { dtype: 'float64' })).sum().backward();
    expect(m.parameters().map((p) => Array.from((p.grad as Tensor).data() as Float64Array))).toEqual(g.map((v) => v.map((e) => 2 * e)));
  });

  it('zeroGrad sets every gradient to null', () => {
    const m = stem();
    m.forward(msam.randn([2, 3, 4, 4])).sum().backward();
    expect(m.parameters().every((p) => p.grad !== null)).toBe(true);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
  });
});

describe('Module API: state dicts', () => {
  it('stateDict: detached tensors that share the values; disposing them leaves the module intact', () => {
    const m = stem();
    const sd = m.stateDict();
    expect(Object.keys(sd)).toEqual([...names(m.namedParameters()), ...names(m.namedBuffers())]);
    expect(Object.values(sd).every((t) => !t.requiresGrad)).toBe(true);
    const fcBias = m.parameters()[7] as Tensor;
    msam.noGrad(() => fcBias.fill_(3));
    expect((sd['fc.bias'] as Tensor).toArray()).toEqual([3, 3]);
    for (const t of Object.values(sd)) t.dispose();
    expect(fcBias.isDisposed).toBe(false);
    const y = m.forward(msam.randn([1, 3, 4, 4]));
    expect(y.shape).toEqual([1, 2]);
    y.sum().backward();
    expect(fcBias.grad?.toArray()).toEqual([1, 1]);
  });

  it('loadStateDict copies values (including int64 buffers) and returns no missing or unexpected keys', () => {
    msam.manualSeed(2);
    const a = stem();
    a.train().forward(msam.randn([2, 3, 4, 4])); // running stats and counters move
    const b = stem();
    const sd = a.stateDict();
    expect(b.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const bState = b.stateDict();
    for (const [k, t] of Object.entries(sd)) expect(bState[k]?.toArray(), k).toEqual(t.toArray());
    expect((bState['bn1.num_batches_tracked'] as Tensor).item()).toBe(1);
    // Copied into b, not shared with it (while a's state dict does share a's values).
    const bias = (sd['fc.bias'] as Tensor).clone();
    msam.noGrad(() => (sd['fc.bias'] as Tensor).fill_(7));
    expect((a.parameters()[7] as Tensor).toArray()).toEqual([7, 7]);
    expect((b.parameters()[7] as Tensor).toArray()).toEqual(bias.toArray());
    msam.noGrad(() => (sd['fc.bias'] as Tensor).copy_(bias));
    const x = msam.randn([2, 3, 4, 4]);
    expect(maxDiff(a.eval().forward(x), b.eval().forward(x))).toBe(0);
  });

  it('strict loadStateDict names the missing, unexpected and mis-shaped keys in one message', () => {
    const m = new nn.Sequential({ fc: new nn.Linear(3, 2), out: new nn.Linear(2, 1) });
    const before = m.parameters().map((p) => p.toArray());
    const sd = {
      'fc.weight': msam.zeros([2, 4]),
      'fc.bias': msam.zeros([2]),
      'out.weight': msam.zeros([1, 2]),
      'head.weight': msam.zeros([1]),
    };
    const err = caught(() => m.loadStateDict(sd)) as Error;
    expect(err.constructor).toBe(Error);
    expect(err.message).toMatch(/^Sequential\.loadStateDict: /);
    expect(err.message).toContain('missing keys: out.bias');
    expect(err.message).toContain('unexpected keys: head.weight');
    expect(err.message).toContain('shape mismatches: fc.weight: expected [2, 3], got [2, 4]');
    // Nothing was loaded.
    expect(m.parameters().map((p) => p.toArray())).toEqual(before);
  });

  it('non-strict loadStateDict reports missing and unexpected keys and loads the rest', () => {
    const m = new nn.Sequential({ fc: new nn.Linear(3, 2), out: new nn.Linear(2, 1) });
    const outBias = (m.parameters()[3] as Tensor).toArray();
    const sd = { 'fc.weight': msam.ones([2, 3]), 'fc.bias': msam.full([2], 2), 'out.weight': msam.full([1, 2], 3), extra: msam.zeros([5]) };
    expect(m.loadStateDict(sd, { strict: false })).toEqual({ missingKeys: ['out.bias'], unexpectedKeys: ['extra'] });
    expect(m.parameters().map((p) => p.toArray())).toEqual([
      [
        [1, 1, 1],
        [1, 1, 1],
      ],
      [2, 2],
      [[3, 3]],
      outBias,
    ]);
    // Shapes must match even when not strict.
    expect(() => m.loadStateDict({ 'fc.bias': msam.zeros([3]) }, { strict: false })).toThrow(/shape mismatches: fc\.bias: expected \[2\], got \[3\]/);
  });

  it('a state dict of another architecture is refused with every difference named', () => {
    const cnn = stem();
    const mlp = new nn.Sequential({ fc1: new nn.Linear(4, 8), fc2: new nn.Linear(8, 2) });
    const err = caught(() => cnn.loadStateDict(mlp.stateDict())) as Error;
    expect(err.constructor).toBe(Error);
    expect(err.message).toMatch(/^Sequential\.loadStateDict: missing keys: conv1\.weight, bn1\.weight, .*, fc\.weight, fc\.bias, bn1\.running_mean, .*, layer1\.0\.bn1\.num_batches_tracked\. /);
    expect(err.message).toMatch(/unexpected keys: fc1\.weight, fc1\.bias, fc2\.weight, fc2\.bias/);
    // Same keys, other shapes: a wider layer.
    const wide = new nn.Sequential({ fc: new nn.Linear(3, 5) });
    expect(() => new nn.Sequential({ fc: new nn.Linear(3, 2) }).loadStateDict(wide.stateDict())).toThrow(
      /shape mismatches: fc\.weight: expected \[2, 3\], got \[5, 3\]; fc\.bias: expected \[2\], got \[5\]/,
    );
    expect(() => new nn.Linear(2, 2).loadStateDict({ weight: [[1, 0], [0, 1]], bias: msam.zeros([2]) } as never)).toThrow(
      new TypeError("Linear.loadStateDict: 'weight' is not a Tensor"),
    );
    expect(cnn.forward(msam.randn([1, 3, 4, 4])).shape).toEqual([1, 2]);
  });
});

describe('Module API: printing', () => {
  it('String(module) shows the tree with each module’s options', () => {
    expect(String(stem())).toBe(
      [
        'Sequential(',
        '  (conv1): Conv2d(3, 4, kernelSize=[3, 3], stride=[1, 1], padding=[1, 1], bias=false)',
        '  (bn1): BatchNorm2d(4, eps=1e-05, momentum=0.1)',
        '  (relu): ReLU()',
        '  (layer1): Sequential(',
        '    (0): Residual(',
        '      (conv1): Conv2d(4, 4, kernelSize=[3, 3], stride=[1, 1], padding=[1, 1], bias=false)',
        '      (bn1): BatchNorm2d(4, eps=1e-05, momentum=0.1)',
        '      (relu): ReLU()',
        '    )',
        '  )',
        '  (avgpool): AdaptiveAvgPool2d(outputSize=[1, 1])',
        '  (flatten): Flatten(startDim=1, endDim=-1)',
        '  (fc): Linear(inFeatures=4, outFeatures=2, bias=true)',
        ')',
      ].join('\n'),
    );
    expect(String(new nn.GELU({ approximate: 'tanh' }))).toBe("GELU(approximate='tanh')");
    expect(String(new nn.Embedding(10, 4, { paddingIdx: -1 }))).toBe('Embedding(10, 4, paddingIdx=9)');
    expect(String(new nn.Conv2d(3, 6, 3, { dilation: 2, groups: 3 }))).toBe(
      'Conv2d(3, 6, kernelSize=[3, 3], stride=[1, 1], padding=[0, 0], dilation=[2, 2], groups=3)',
    );
    expect(String(new nn.Dropout(0.25))).toBe('Dropout(p=0.25)');
  });

  it('util.inspect adds the parameter count', () => {
    expect(inspect(stem())).toMatch(/^Sequential\(\n[\s\S]*\n\)\n278 parameters$/);
    expect(inspect(new nn.Linear(1000, 1000))).toBe('Linear(inFeatures=1000, outFeatures=1000, bias=true)\n1,001,000 parameters');
    expect(inspect(new nn.ReLU())).toBe('ReLU()\n0 parameters');
  });
});

describe('containers', () => {
  it('Sequential from modules, an array, an object and [name, module] pairs', () => {
    const a = () => new nn.Linear(2, 3);
    const b = () => new nn.ReLU();
    expect(names(new nn.Sequential(a(), b()).namedChildren())).toEqual(['0', '1']);
    expect(names(new nn.Sequential([a(), b()]).namedChildren())).toEqual(['0', '1']);
    expect(names(new nn.Sequential({ fc: a(), act: b() }).namedChildren())).toEqual(['fc', 'act']);
    const pairs = new nn.Sequential([
      ['fc', a()],
      ['act', b()],
    ]);
    expect(names(pairs.namedChildren())).toEqual(['fc', 'act']);
    expect(names(pairs.namedParameters())).toEqual(['fc.weight', 'fc.bias']);
    expect(new nn.Sequential().forward(msam.ones([2])).toArray()).toEqual([1, 1]);
  });

  it('Sequential feeds each child the previous output (vs the children called by hand)', () => {
    msam.manualSeed(3);
    const fc1 = new nn.Linear(4, 8);
    const act = new nn.GELU();
    const fc2 = new nn.Linear(8, 3);
    const seq = new nn.Sequential(fc1, act, fc2);
    const x = msam.randn([5, 4]);
    expect(maxDiff(seq.forward(x), fc2.forward(act.forward(fc1.forward(x))))).toBe(0);
  });

  it('Residual: post(body(pre(x)) + shortcut(pre(x))), and the identity on x when there is no shortcut', () => {
    msam.manualSeed(4);
    const x = msam.randn([6, 3]);
    const bn = new nn.BatchNorm1d(3);
    const fc = new nn.Linear(3, 3);
    const down = new nn.Linear(3, 3, { bias: false });
    const relu = new nn.ReLU();
    const full = new nn.Residual({ pre: [['bn', bn]], body: [['fc', fc]], shortcut: ['downsample', down], post: [['relu', relu]] });
    expect(names(full.namedChildren())).toEqual(['bn', 'fc', 'downsample', 'relu']);
    expect(names(full.namedParameters())).toEqual(['bn.weight', 'bn.bias', 'fc.weight', 'fc.bias', 'downsample.weight']);
    msam.noGrad(() => {
      (bn.parameters()[0] as Tensor).copy_(msam.tensor([0.5, 1.5, 2]));
      (bn.buffers()[0] as Tensor).copy_(msam.tensor([0.1, -0.2, 0.3]));
    });
    full.eval();
    const h = x.sub(msam.tensor([0.1, -0.2, 0.3])).div(Math.sqrt(1 + 1e-5)).mul(msam.tensor([0.5, 1.5, 2]));
    const byHand = h.matmul((fc.parameters()[0] as Tensor).transpose(0, 1)).add(fc.parameters()[1] as Tensor)
      .add(h.matmul((down.parameters()[0] as Tensor).transpose(0, 1)))
      .relu();
    expect(maxDiff(full.forward(x), byHand)).toBeLessThan(1e-6);

    // pre without a shortcut: the skip is x itself, not pre(x).
    const tanh = new nn.Tanh();
    const fc2 = new nn.Linear(3, 3);
    const noShortcut = new nn.Residual({ pre: [['act', tanh]], body: [['fc', fc2]] });
    expect(maxDiff(noShortcut.forward(x), fc2.forward(x.tanh()).add(x))).toBe(0);

    // Gradients flow through both paths: d/dx sum(x + fc(x)) = 1 + column sums of W.
    const xg = x.detach().requiresGrad_(true);
    new nn.Residual({ body: [fc2] }).forward(xg).sum().backward();
    const expected = (fc2.parameters()[0] as Tensor).sum(0).add(1).expand([6, 3]);
    expect(maxDiff(xg.grad as Tensor, expected)).toBeLessThan(1e-6);
  });

  it('extra inputs flow through a Sequential: token ids and an attention mask reach MultiheadAttention', () => {
    msam.manualSeed(5);
    const emb = new nn.TokenPositionEmbedding(20, 6, 8, { paddingIdx: 0 });
    const attn = new nn.MultiheadAttention(8, 2);
    const model = new nn.Sequential({ embeddings: emb, attn, select: new nn.TokenSelect(0) });
    const ids = msam.tensor([
      [3, 7, 9, 2, 0, 0],
      [5, 1, 4, 0, 0, 0],
    ]);
    const mask = msam.tensor([
      [1, 1, 1, 1, 0, 0],
      [1, 1, 1, 0, 0, 0],
    ]);
    const y = model.forward(ids, mask);
    expect(y.shape).toEqual([2, 8]);
    expect(maxDiff(y, attn.forward(emb.forward(ids), mask).select(1, 0))).toBe(0);
    // The mask matters, and what sits in the padding does not.
    expect(maxDiff(y, model.forward(ids))).toBeGreaterThan(1e-3);
    const otherPadding = msam.tensor([
      [3, 7, 9, 2, 11, 12],
      [5, 1, 4, 13, 14, 15],
    ]);
    expect(maxDiff(y, model.forward(otherPadding, mask))).toBeLessThan(1e-6);
    // A bool mask works the same way.
    expect(maxDiff(y, model.forward(ids, mask.bool()))).toBe(0);
    // And through a TransformerEncoderLayer (its Residual blocks pass the mask on).
    const encoder = new nn.Sequential({ embeddings: emb, layer: new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16 }) }).eval();
    const z = encoder.forward(ids, mask).narrow(1, 0, 3);
    expect(maxDiff(z, encoder.forward(otherPadding, mask).narrow(1, 0, 3))).toBeLessThan(1e-5);
  });
});

describe('layers: randomness and special rows', () => {
  it('Dropout: identity in eval; in train about p of the entries zeroed and the rest scaled by exactly 1/(1-p)', () => {
    msam.manualSeed(6);
    for (const [p, dtype] of [
      [0.3, 'float32'],
      [0.25, 'float64'],
    ] as const) {
      const drop = new nn.Dropout(p);
      const x = msam.randn([200, 500], { dtype });
      const y = drop.forward(x);
      const kept = y.ne(0);
      const zeroFraction = 1 - kept.to('float64').mean().item();
      expect(Math.abs(zeroFraction - p), `zero fraction ${zeroFraction} for p = ${p}`).toBeLessThan(0.01);
      const scaled = x.mul(1 / (1 - p));
      expect(msam.where(kept, y.sub(scaled), 0).abs().max().item()).toBe(0);
      drop.eval();
      expect(maxDiff(drop.forward(x), x)).toBe(0);
    }
    // Each forward draws a new mask; p = 0 and p = 1 are the edge cases.
    const d = new nn.Dropout(0.5);
    const ones = msam.ones([1000]);
    expect(maxDiff(d.forward(ones), d.forward(ones))).toBeGreaterThan(0);
    expect(maxDiff(new nn.Dropout(0).forward(ones), ones)).toBe(0);
    expect(new nn.Dropout(1).forward(ones).abs().max().item()).toBe(0);
    // Inside a container, eval() reaches it.
    const seq = new nn.Sequential(new nn.Identity(), new nn.Dropout(0.9)).eval();
    expect(maxDiff(seq.forward(ones), ones)).toBe(0);
  });

  it('Embedding: the paddingIdx row starts at zero and gets no gradient', () => {
    for (const [paddingIdx, row] of [
      [2, 2],
      [-1, 9],
      [-10, 0],
    ] as const) {
      const emb = new nn.Embedding(10, 3, { paddingIdx });
      const w = emb.parameters()[0] as Tensor;
      expect(w.select(0, row).toArray(), `paddingIdx ${paddingIdx}`).toEqual([0, 0, 0]);
      msam.noGrad(() => w.fill_(1));
      const y = emb.forward(msam.tensor([[row, 1, row, 4]]));
      expect(y.select(1, 0).toArray()).toEqual([[1, 1, 1]]); // forward reads the row as it is
      y.mul(msam.arange(12).reshape([1, 4, 3]).to('float32')).sum().backward();
      const g = w.grad as Tensor;
      expect(g.select(0, row).toArray(), `paddingIdx ${paddingIdx}`).toEqual([0, 0, 0]);
      expect(g.select(0, 1).toArray()).toEqual([3, 4, 5]);
      expect(g.select(0, 4).toArray()).toEqual([9, 10, 11]);
    }
    expect(String(new nn.TokenPositionEmbedding(10, 4, 2, { paddingIdx: -1 }))).toContain('Embedding(10, 2, paddingIdx=9)');
  });
});

describe('a TypeScript nn.Module with its own forward', () => {
  /** Standardizes its input with a buffer, scales it by a parameter, then runs native children. */
  class Regressor extends nn.Module {
    readonly scale: Tensor;
    readonly center: Tensor;
    readonly body: msam.nn.Sequential;
    readonly head: msam.nn.Linear;
    constructor() {
      super();
      this.scale = this.registerParameter('scale', msam.ones([4]));
      this.center = this.registerBuffer('center', msam.zeros([4]));
      this.body = this.registerModule('body', new nn.Sequential({ fc: new nn.Linear(4, 16), act: new nn.Tanh() }));
      this.head = this.registerModule('head', new nn.Linear(16, 1));
    }
    forward(x: Tensor): Tensor {
      return this.head.forward(this.body.forward(x.sub(this.center).mul(this.scale)));
    }
  }

  function data() {
    msam.manualSeed(7);
    const x = msam.randn([64, 4]).add(2);
    const w = msam.tensor([[1.5], [-2], [0.5], [1]]);
    const y = x.sub(2).matmul(w).tanh().add(x.select(1, 0).sub(2).mul(0.3).unsqueeze(1));
    return { x, y };
  }

  function sgdStep(m: msam.nn.Module, x: Tensor, y: Tensor, lr: number): number {
    return msam.tidy(() => {
      m.zeroGrad();
      const loss = msam.mseLoss(m.forward(x), y);
      loss.backward();
      msam.noGrad(() => {
        for (const p of m.parameters()) p.sub_((p.grad as Tensor).mul(lr));
      });
      return loss.item();
    });
  }

  it('registers parameters, buffers and (native) children under PyTorch-style names', () => {
    const m = new Regressor();
    expect(m.typeName).toBe('Regressor');
    expect(names(m.namedParameters())).toEqual(['scale', 'body.fc.weight', 'body.fc.bias', 'head.weight', 'head.bias']);
    expect(names(m.namedBuffers())).toEqual(['center']);
    expect(names(m.namedChildren())).toEqual(['body', 'head']);
    expect(m.numParameters()).toBe(4 + 64 + 16 + 16 + 1);
    expect(m.scale.requiresGrad && m.scale.isLeaf).toBe(true);
    expect(m.center.requiresGrad).toBe(false);
    expect(String(m)).toBe(
      [
        'Regressor(',
        '  (body): Sequential(',
        '    (fc): Linear(inFeatures=4, outFeatures=16, bias=true)',
        '    (act): Tanh()',
        '  )',
        '  (head): Linear(inFeatures=16, outFeatures=1, bias=true)',
        ')',
      ].join('\n'),
    );
    expect(inspect(m)).toMatch(/\n101 parameters$/);
    m.eval();
    expect([m.training, m.body.training, (m.body.children()[0] as msam.nn.Module).training, m.head.training]).toEqual([false, false, false, false]);
    m.train();
    expect([m.training, m.body.training, m.head.training]).toEqual([true, true, true]);
    expect(() => (m.body as msam.nn.Module).registerModule('x', new nn.ReLU())).toThrow(TypeError);
  });

  it('trains: hand-written SGD steps lower the loss', () => {
    msam.manualSeed(8);
    const m = new Regressor();
    const { x, y } = data();
    msam.noGrad(() => m.center.copy_(x.mean(0)));
    const losses = Array.from({ length: 40 }, () => sgdStep(m, x, y, 0.1));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[39] as number).toBeLessThan((losses[0] as number) * 0.3);
    // Every parameter moved, including the TypeScript-registered one.
    expect(m.scale.toArray()).not.toEqual([1, 1, 1, 1]);
  });

  it('stateDict, loadStateDict, to and zeroGrad work on it', () => {
    msam.manualSeed(9);
    const a = new Regressor();
    const { x, y } = data();
    msam.noGrad(() => a.center.copy_(x.mean(0)));
    for (let i = 0; i < 5; i++) sgdStep(a, x, y, 0.1);

    const sd = a.stateDict();
    expect(Object.keys(sd)).toEqual(['scale', 'body.fc.weight', 'body.fc.bias', 'head.weight', 'head.bias', 'center']);
    const b = new Regressor();
    expect(b.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(maxDiff(a.forward(x), b.forward(x))).toBe(0);
    expect(() => b.loadStateDict({ ...sd, center: msam.zeros([5]) })).toThrow(
      /Regressor\.loadStateDict: shape mismatches: center: expected \[4\], got \[5\]/,
    );

    expect(a.parameters().every((p) => p.grad !== null)).toBe(true);
    a.zeroGrad();
    expect(a.parameters().every((p) => p.grad === null)).toBe(true);

    const scale = a.scale;
    const lossF32 = msam.mseLoss(a.forward(x), y).item();
    a.to('float64');
    expect(a.parameters()[0]).toBe(scale);
    expect(scale.dtype).toBe('float64');
    expect(a.center.dtype).toBe('float64');
    expect(a.parameters().every((p) => p.dtype === 'float64')).toBe(true);
    const [x64, y64] = [x.double(), y.double()];
    const lossF64 = msam.mseLoss(a.forward(x64), y64).item();
    expect(Math.abs(lossF64 - lossF32)).toBeLessThan(1e-5);
    // Keeps training in float64.
    const l0 = sgdStep(a, x64, y64, 0.1);
    expect(sgdStep(a, x64, y64, 0.1)).toBeLessThan(l0);
    expect(a.parameters().every((p) => p.grad?.dtype === 'float64')).toBe(true);
  });
});

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;
interface BadCase {
  name: string;
  run: () => unknown;
  /** The exact class: Error means a plain Error. */
  type: ErrorClass;
  message: RegExp;
}

const disposed = (): Tensor => {
  const t = msam.ones([2, 3]);
  t.dispose();
  return t;
};
class JsModule extends nn.Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

const badCases: BadCase[] = [
  // ---- constructors: sizes ----
  { name: 'Linear(0, 3)', run: () => new nn.Linear(0, 3), type: TypeError, message: /^Linear: option 'inFeatures' must be at least 1, got 0$/ },
  { name: 'Linear(4, -2)', run: () => new nn.Linear(4, -2), type: TypeError, message: /^Linear: option 'outFeatures' must be at least 1, got -2$/ },
  { name: 'Linear(2.5, 3)', run: () => new nn.Linear(2.5, 3), type: TypeError, message: /^Linear: option 'inFeatures' must be an integer$/ },
  { name: 'Conv2d(3, 0, 3)', run: () => new nn.Conv2d(3, 0, 3), type: TypeError, message: /^Conv2d: option 'outChannels' must be at least 1, got 0$/ },
  { name: 'Conv2d kernel [3, 0]', run: () => new nn.Conv2d(3, 4, [3, 0]), type: TypeError, message: /^Conv2d: option 'kernelSize' must hold integers of at least 1$/ },
  { name: 'Conv2d stride 0', run: () => new nn.Conv2d(3, 4, 3, { stride: 0 }), type: TypeError, message: /^Conv2d: option 'stride' must hold integers of at least 1$/ },
  { name: 'Conv2d padding -1', run: () => new nn.Conv2d(3, 4, 3, { padding: -1 }), type: TypeError, message: /^Conv2d: option 'padding' must hold integers of at least 0$/ },
  { name: 'BatchNorm2d(0)', run: () => new nn.BatchNorm2d(0), type: TypeError, message: /^BatchNorm2d: option 'numFeatures' must be at least 1, got 0$/ },
  { name: 'BatchNorm1d momentum 2', run: () => new nn.BatchNorm1d(3, { momentum: 2 }), type: TypeError, message: /^BatchNorm1d: option 'momentum' must be in \[0, 1\], got 2$/ },
  { name: 'LayerNorm(0)', run: () => new nn.LayerNorm(0), type: TypeError, message: /^LayerNorm: option 'normalizedShape' must be at least 1, got 0$/ },
  { name: 'LayerNorm([4, -1])', run: () => new nn.LayerNorm([4, -1]), type: TypeError, message: /^LayerNorm: option 'normalizedShape' must hold integers of at least 1$/ },
  { name: 'Embedding(-5, 2)', run: () => new nn.Embedding(-5, 2), type: TypeError, message: /^Embedding: option 'numEmbeddings' must be at least 1, got -5$/ },
  { name: 'Embedding paddingIdx 10 of 10', run: () => new nn.Embedding(10, 2, { paddingIdx: 10 }), type: TypeError, message: /^Embedding: option 'paddingIdx' must be below numEmbeddings \(10\), got 10$/ },
  { name: 'Embedding paddingIdx -11 of 10', run: () => new nn.Embedding(10, 2, { paddingIdx: -11 }), type: TypeError, message: /^Embedding: option 'paddingIdx' must be at least -10, got -11$/ },
  { name: 'Dropout(1.5)', run: () => new nn.Dropout(1.5), type: TypeError, message: /^Dropout: option 'p' must be in \[0, 1\], got 1\.5$/ },
  { name: 'Dropout(-0.1)', run: () => new nn.Dropout(-0.1), type: TypeError, message: /^Dropout: option 'p' must be in \[0, 1\], got -0\.1$/ },
  { name: 'MaxPool2d(0)', run: () => new nn.MaxPool2d(0), type: TypeError, message: /^MaxPool2d: option 'kernelSize' must hold integers of at least 1$/ },
  { name: 'AdaptiveAvgPool2d([2, 0])', run: () => new nn.AdaptiveAvgPool2d([2, 0]), type: TypeError, message: /^AdaptiveAvgPool2d: option 'outputSize' must hold integers of at least 1$/ },
  { name: 'MultiheadAttention(0, 1)', run: () => new nn.MultiheadAttention(0, 1), type: TypeError, message: /^MultiheadAttention: option 'embedDim' must be at least 1, got 0$/ },
  { name: 'PatchEmbedding patch 0', run: () => new nn.PatchEmbedding(3, 8, 0), type: TypeError, message: /^PatchEmbedding: option 'patchSize' must be at least 1, got 0$/ },
  { name: 'TokenPositionEmbedding maxPositions 0', run: () => new nn.TokenPositionEmbedding(10, 0, 4), type: TypeError, message: /^TokenPositionEmbedding: option 'maxPositions' must be at least 1, got 0$/ },
  { name: 'TransformerEncoderLayer dimFeedforward 0', run: () => new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 0 }), type: TypeError, message: /^TransformerEncoderLayer: option 'dimFeedforward' must be at least 1, got 0$/ },
  { name: 'TransformerEncoderLayer dModel -8', run: () => new nn.TransformerEncoderLayer(-8, 2), type: TypeError, message: /^TransformerEncoderLayer: option 'dModel' must be at least 1, got -8$/ },
  { name: 'TransformerEncoderLayer dropout 1.5', run: () => new nn.TransformerEncoderLayer(8, 2, { dropout: 1.5 }), type: TypeError, message: /^TransformerEncoderLayer: option 'dropout' must be in \[0, 1\], got 1\.5$/ },
  // ---- constructors: groups that do not divide ----
  { name: 'Conv2d groups 2 of 3 in-channels', run: () => new nn.Conv2d(3, 4, 3, { groups: 2 }), type: TypeError, message: /^Conv2d: option 'groups' must divide inChannels \(3\), got 2$/ },
  { name: 'Conv2d groups 4 of 6 out-channels', run: () => new nn.Conv2d(4, 6, 3, { groups: 4 }), type: TypeError, message: /^Conv2d: option 'groups' must divide outChannels \(6\), got 4$/ },
  { name: 'GroupNorm 3 groups of 4 channels', run: () => new nn.GroupNorm(3, 4), type: TypeError, message: /^GroupNorm: option 'numGroups' must divide numChannels \(4\), got 3$/ },
  { name: 'MultiheadAttention 3 heads of 8', run: () => new nn.MultiheadAttention(8, 3), type: TypeError, message: /^MultiheadAttention: option 'numHeads' must divide embedDim \(8\), got 3$/ },
  { name: 'TransformerEncoderLayer 3 heads of 8', run: () => new nn.TransformerEncoderLayer(8, 3), type: TypeError, message: /^TransformerEncoderLayer: option 'nhead' must divide dModel \(8\), got 3$/ },
  // ---- constructors: unknown options, wrong option types ----
  { name: 'Linear unknown option', run: () => new nn.Linear(2, 3, { biass: false } as never), type: TypeError, message: /^Linear: unknown option 'biass'$/ },
  { name: 'Conv2d unknown option', run: () => new nn.Conv2d(3, 4, 3, { padding_mode: 'zeros' } as never), type: TypeError, message: /^Conv2d: unknown option 'padding_mode'$/ },
  { name: 'Linear bias "yes"', run: () => new nn.Linear(2, 3, { bias: 'yes' as never }), type: TypeError, message: /^Linear: option 'bias' must be a boolean$/ },
  { name: 'Linear inFeatures "3"', run: () => new nn.Linear('3' as never, 3), type: TypeError, message: /^Linear: option 'inFeatures' must be an integer$/ },
  { name: 'Conv2d kernel [3]', run: () => new nn.Conv2d(3, 4, [3] as never), type: TypeError, message: /^Conv2d: option 'kernelSize' must be an integer or a list of 2 integers$/ },
  { name: 'GELU approximate "fast"', run: () => new nn.GELU({ approximate: 'fast' as never }), type: TypeError, message: /^GELU: option 'approximate' must be one of 'none', 'tanh'$/ },
  { name: 'BatchNorm2d eps "small"', run: () => new nn.BatchNorm2d(3, { eps: 'small' as never }), type: TypeError, message: /^BatchNorm2d: option 'eps' must be a finite number$/ },
  { name: 'Softmax without dim', run: () => new (nn.Softmax as unknown as new () => msam.nn.Module)(), type: TypeError, message: /^Softmax: option 'dim' is required$/ },
  { name: 'TransformerEncoderLayer misspelt option', run: () => new nn.TransformerEncoderLayer(8, 2, { dimFeedForward: 64 } as never), type: TypeError, message: /^TransformerEncoderLayer: unknown option 'dimFeedForward'$/ },
  { name: "TransformerEncoderLayer activation 'silu'", run: () => new nn.TransformerEncoderLayer(8, 2, { activation: 'silu' as never }), type: TypeError, message: /^TransformerEncoderLayer: option 'activation' must be one of 'relu', 'gelu'$/ },
  { name: "TransformerEncoderLayer normFirst 'yes'", run: () => new nn.TransformerEncoderLayer(8, 2, { normFirst: 'yes' as never }), type: TypeError, message: /^TransformerEncoderLayer: option 'normFirst' must be a boolean$/ },
  { name: 'LayerNorm of a string', run: () => new nn.LayerNorm('4' as never), type: TypeError, message: /^LayerNorm: option 'normalizedShape' is required \(an integer or a list of integers\)$/ },
  // ---- containers ----
  {
    name: 'a TypeScript module in a Sequential',
    run: () => new nn.Sequential({ fc: new nn.Linear(2, 2), custom: new JsModule() }),
    type: TypeError,
    message: /^Sequential: child 'custom' is a TypeScript module \(JsModule\); native containers take native modules/,
  },
  { name: 'a number in a Sequential', run: () => new nn.Sequential(new nn.Linear(2, 2), 5 as never), type: TypeError, message: /^Sequential: child '1' is not a module/ },
  { name: 'a TypeScript module in a Residual', run: () => new nn.Residual({ body: [new JsModule()] }), type: TypeError, message: /^Residual: child '0' is a TypeScript module \(JsModule\)/ },
  { name: 'a Residual without a body', run: () => new nn.Residual({ body: [] }), type: TypeError, message: /^Residual: option 'body' needs at least one module$/ },
  // ---- forward: shapes ----
  {
    name: 'a 1-channel image into a 3-channel Conv2d inside a Sequential',
    run: () => stem().forward(msam.ones([2, 1, 8, 8])),
    type: Error,
    message: /^Sequential\.forward: conv1 \(Conv2d\): expected an input with 3 channels \[N, 3, H, W\], got \[2, 1, 8, 8\]$/,
  },
  {
    name: 'a wrong width deep inside: the whole module path',
    run: () => new nn.Sequential({ encoder: new nn.Sequential({ block: new nn.Residual({ body: [['fc', new nn.Linear(3, 3)]] }) }) }).forward(msam.ones([2, 4])),
    type: Error,
    message: /^Sequential\.forward: encoder\.block\.fc \(Linear\): expected an input \[\.\.\., 3\], got \[2, 4\]$/,
  },
  { name: 'Linear of [2, 4] with inFeatures 3', run: () => new nn.Linear(3, 2).forward(msam.ones([2, 4])), type: Error, message: /^Linear\.forward: expected an input \[\.\.\., 3\], got \[2, 4\]$/ },
  { name: 'BatchNorm2d of a 2-D input', run: () => new nn.BatchNorm2d(3).forward(msam.ones([4, 3])), type: Error, message: /^BatchNorm2d\.forward: expected a 4-D input \[N, C, H, W\] with C = 3, got \[4, 3\]$/ },
  { name: 'BatchNorm1d of a 4-D input', run: () => new nn.BatchNorm1d(3).forward(msam.ones([4, 3, 2, 2])), type: Error, message: /^BatchNorm1d\.forward: expected a 2-D or 3-D input \[N, C\] or \[N, C, L\] with C = 3, got \[4, 3, 2, 2\]$/ },
  { name: 'LayerNorm over the wrong last dim', run: () => new nn.LayerNorm(5).forward(msam.ones([2, 4])), type: Error, message: /^LayerNorm\.forward: expected an input \[\.\.\., \[5\]\], got \[2, 4\]$/ },
  { name: 'MaxPool2d of a 2-D input', run: () => new nn.MaxPool2d(2).forward(msam.ones([4, 4])), type: Error, message: /^MaxPool2d\.forward: expected an input \[N, C, H, W\], got \[4, 4\]$/ },
  { name: 'MultiheadAttention mask of the wrong length', run: () => new nn.MultiheadAttention(8, 2).forward(msam.ones([2, 3, 8]), msam.ones([2, 4])), type: Error, message: /^MultiheadAttention\.forward: expected an attention mask \[2, 3\], got \[2, 4\]$/ },
  { name: 'PatchEmbedding of an image not a multiple of the patch', run: () => new nn.PatchEmbedding(3, 8, 4).forward(msam.ones([1, 3, 10, 8])), type: Error, message: /^PatchEmbedding\.forward: the image size 10x8 is not a multiple of the patch size 4$/ },
  { name: 'TokenPositionEmbedding of a too long sequence', run: () => new nn.TokenPositionEmbedding(10, 4, 2).forward(msam.ones([1, 5], { dtype: 'int64' })), type: Error, message: /^TokenPositionEmbedding\.forward: the sequence length 5 exceeds maxPositions 4$/ },
  { name: 'Residual whose body changes the shape', run: () => new nn.Sequential({ b: new nn.Residual({ body: [new nn.Linear(3, 4)] }) }).forward(msam.ones([2, 3])), type: Error, message: /^Sequential\.forward: b \(Residual\): the body's output \[2, 4\] and the shortcut's \[2, 3\] differ in shape$/ },
  // ---- forward: dtypes ----
  { name: 'an integer input to Linear', run: () => new nn.Linear(2, 3).forward(msam.tensor([[1, 2]])), type: Error, message: /^Linear\.forward: .*dtype/ },
  { name: 'a float64 input to a float32 Linear in a Sequential', run: () => new nn.Sequential({ fc: new nn.Linear(2, 3) }).forward(msam.ones([1, 2], { dtype: 'float64' })), type: Error, message: /^Sequential\.forward: fc \(Linear\): .*dtype/ },
  { name: 'float indices to Embedding', run: () => new nn.Embedding(5, 3).forward(msam.tensor([1.5, 2])), type: Error, message: /^Embedding\.forward: expected integer indices, got a Float tensor$/ },
  { name: 'float ids to TokenPositionEmbedding', run: () => new nn.TokenPositionEmbedding(10, 4, 2).forward(msam.ones([1, 3])), type: Error, message: /^TokenPositionEmbedding\.forward: expected integer token ids \[N, S\], got a Float tensor \[1, 3\]$/ },
  { name: 'an index past the end of an Embedding', run: () => new nn.Embedding(5, 3).forward(msam.tensor([1, 5])), type: RangeError, message: /^Embedding\.forward: index out of range in self$/ },
  { name: 'an index past the end inside a Sequential', run: () => new nn.Sequential({ emb: new nn.Embedding(5, 3) }).forward(msam.tensor([1, 5])), type: RangeError, message: /^Sequential\.forward: emb \(Embedding\): index out of range in self$/ },
  // ---- forward: not tensors ----
  { name: 'forward with a disposed tensor', run: () => new nn.Linear(3, 2).forward(disposed()), type: Error, message: /^Linear\.forward: input 0 is a disposed tensor$/ },
  { name: 'forward with a disposed mask', run: () => new nn.MultiheadAttention(4, 2).forward(msam.ones([1, 2, 4]), disposed()), type: Error, message: /^MultiheadAttention\.forward: input 1 is a disposed tensor$/ },
  { name: 'forward with a number', run: () => new nn.Linear(3, 2).forward(3 as never), type: TypeError, message: /^Linear\.forward: input 0 must be a Tensor, got number$/ },
  { name: 'forward with an array', run: () => new nn.Linear(3, 2).forward([1, 2, 3] as never), type: TypeError, message: /^Linear\.forward: input 0 must be a Tensor, got an array$/ },
  { name: 'forward with a string mask', run: () => new nn.MultiheadAttention(4, 2).forward(msam.ones([1, 2, 4]), 'mask' as never), type: TypeError, message: /^MultiheadAttention\.forward: input 1 must be a Tensor, got string$/ },
  { name: 'forward with nothing', run: () => new nn.Sequential().forward(), type: TypeError, message: /^Sequential\.forward: expected at least one input tensor$/ },
  // ---- moves ----
  { name: "to('int64')", run: () => new nn.Linear(2, 2).to('int64' as never), type: TypeError, message: /^Linear\.to: 'int64' is neither a floating-point dtype nor a device/ },
  { name: "to('tpu')", run: () => new JsModule().to('tpu' as never), type: TypeError, message: /^JsModule\.to: 'tpu' is neither a floating-point dtype nor a device/ },
  { name: 'registerModule on a native module', run: () => (new nn.Linear(2, 2) as msam.nn.Module).registerModule('x', new nn.ReLU()), type: TypeError, message: /^Linear: a native module's children are fixed/ },
  { name: 'registerModule of a non-module', run: () => new JsModule().registerModule('x', {} as never), type: TypeError, message: /^JsModule\.registerModule: 'x' is not a Module$/ },
];

describe('bad input: the right error class, a message naming the module and the cause, and the process goes on', () => {
  for (const c of badCases) {
    it(c.name, () => {
      const err = caught(() => msam.tidy(() => c.run()));
      expect(err, 'it should throw').toBeInstanceOf(Error);
      expect((err as Error).constructor, (err as Error).message).toBe(c.type);
      expect((err as Error).message).toMatch(c.message);
      // Still working: a native forward, backward and a module made afterwards.
      const m = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU());
      const y = m.forward(msam.ones([1, 3]));
      y.sum().backward();
      expect(m.parameters()[0]?.grad?.shape).toEqual([2, 3]);
    });
  }
});
