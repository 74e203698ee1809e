// Optimizers against torch.optim: test/fixtures/optim.json holds torch's trajectories of a tiny
// MLP problem (written by test/fixtures/gen_optim.py, run with /usr/bin/python3, and committed);
// this file replays the same problem through msam and compares every parameter after every step.
// Then: resuming from stateDict() continues bit for bit, the state dict's layout and checks,
// option validation, parameter groups, zeroGrad, and that only step() changes state.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';
import type { AdamWOptions, Optimizer, OptimizerStateDict, SGDOptions } from '../lib/optim';

type Options = SGDOptions & AdamWOptions;
interface Case {
  name: string;
  optimizer: 'SGD' | 'AdamW';
  defaults: Options;
  groups: ({ params: number[] } & Options)[] | null;
  clip: { maxNorm: number; normType: number | 'inf' } | null;
  dropGrad: number | null;
  losses: number[];
  norms: number[];
  params: number[][];
}
interface Fixture {
  torch: string;
  steps: number;
  x: number[][];
  y: number[][];
  init: (number[] | number[][])[];
  cases: Case[];
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'optim.json'), 'utf8')) as Fixture;
const f64 = { dtype: 'float64' } as const;
const x = msam.tensor(fixture.x, f64);
const y = msam.tensor(fixture.y, f64);

const freshParams = (): Tensor[] => fixture.init.map((v) => msam.tensor(v, { ...f64, requiresGrad: true }));

function makeOptimizer(c: Pick<Case, 'optimizer' | 'defaults' | 'groups'>, params: Tensor[]): Optimizer<Options> {
  const Cls = c.optimizer === 'SGD' ? msam.optim.SGD : msam.optim.AdamW;
  const spec = c.groups === null ? params : c.groups.map((g) => ({ ...g, params: g.params.map((i) => params[i] as Tensor) }));
  return new Cls(spec as Tensor[], c.defaults) as Optimizer<Options>;
}

/** One training step of the fixture's problem, as gen_optim.py does it; returns the loss and clip norm. */
function trainStep(opt: { zeroGrad(): void; step(): void }, params: Tensor[], c: Pick<Case, 'clip' | 'dropGrad'>, step: number): { loss: number; norm: number | null } {
  return msam.tidy(() => {
    opt.zeroGrad();
    const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
    const loss = msam.mseLoss(msam.linear(msam.tanh(msam.linear(x, w1, b1)), w2, b2), y);
    loss.backward();
    if (c.dropGrad !== null && step % 2 === 1) (params[c.dropGrad] as Tensor).grad = null;
    let norm: number | null = null;
    if (c.clip !== null) norm = msam.optim.clipGradNorm(params, c.clip.maxNorm, c.clip.normType === 'inf' ? Infinity : c.clip.normType);
    opt.step();
    return { loss: loss.item(), norm };
  });
}

/** A float tensor's values as numbers. */
const values = (t: Tensor | null | undefined): number[] => Array.from((t as Tensor).data() as Float64Array);
const flat = (params: Tensor[]): number[] => params.flatMap(values);
const maxAbsDiff = (a: number[], b: number[]): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

const measured: string[] = [];
afterAll(() => {
  if (measured.length > 0) console.log(`optimizer trajectories vs torch ${fixture.torch} (max |diff| over ${fixture.steps} steps):\n  ${measured.join('\n  ')}`);
});

describe('trajectories match torch.optim (float64, 20 steps, to 1e-6)', () => {
  for (const c of fixture.cases) {
    it(c.name, () => {
      const params = freshParams();
      const opt = makeOptimizer(c, params);
      let paramDiff = 0;
      let lossDiff = 0;
      let normDiff = 0;
      for (let step = 0; step < fixture.steps; step++) {
        const { loss, norm } = trainStep(opt, params, c, step);
        lossDiff = Math.max(lossDiff, Math.abs(loss - (c.losses[step] as number)));
        if (norm !== null) normDiff = Math.max(normDiff, Math.abs(norm - (c.norms[step] as number)));
        paramDiff = Math.max(paramDiff, maxAbsDiff(flat(params), c.params[step] as number[]));
      }
      measured.push(`${c.name}: params ${paramDiff.toExponential(1)}, loss ${lossDiff.toExponential(1)}${c.clip ? `, norm ${normDiff.toExponential(1)}` : ''}`);
      expect(paramDiff).toBeLessThan(1e-6);
      expect(lossDiff).toBeLessThan(1e-6);
      expect(normDiff).toBeLessThan(1e-6);
      // and the trajectory really moved: the comparison is not vacuous
      expect(maxAbsDiff(flat(params), fixture.init.flat(2) as number[])).toBeGreaterThan(1e-3);
      opt.dispose();
    });
  }
});

/** A JSON round trip of everything but the tensors, as a checkpoint file would do. */
function throughJson(dict: OptimizerStateDict): OptimizerStateDict {
  const { state, ...rest } = dict;
  return { ...(JSON.parse(JSON.stringify(rest)) as Omit<OptimizerStateDict, 'state'>), state };
}

describe('stateDict -> loadStateDict resumes bit-identically', () => {
  const byName = (name: string): Case => fixture.cases.find((c) => c.name === name) as Case;
  const resumable = [
    'sgd groups: no weight decay on biases',
    'sgd nesterov',
    'sgd momentum, a gradient missing on odd steps',
    'adamw groups: no weight decay on biases',
    'adamw + clipGradNorm(0.1, inf)',
    'adamw, a gradient missing on odd steps',
  ];
  for (const name of resumable) {
    it(name, () => {
      const c = byName(name);
      const straight = freshParams();
      const opt = makeOptimizer(c, straight);
      const resumedParams = freshParams();
      const first = makeOptimizer(c, resumedParams);
      for (let step = 0; step < 10; step++) {
        trainStep(opt, straight, c, step);
        trainStep(first, resumedParams, c, step);
      }
      // A fresh optimizer over copies of the parameters, given the saved state.
      const dict = throughJson(first.stateDict());
      first.dispose();
      const copies = resumedParams.map((p) => p.detach().clone().requiresGrad_(true));
      const second = makeOptimizer(c, copies);
      second.loadStateDict(dict);
      for (const t of Object.values(dict.state)) t.dispose(); // loading copied them
      for (let step = 10; step < 20; step++) {
        trainStep(opt, straight, c, step);
        trainStep(second, copies, c, step);
      }
      expect(flat(copies)).toEqual(flat(straight)); // exact: toEqual on doubles
      const a = opt.stateDict();
      const b = second.stateDict();
      expect(b.steps).toEqual(a.steps);
      expect(Object.keys(b.state).sort()).toEqual(Object.keys(a.state).sort());
      for (const k of Object.keys(a.state)) expect(values(b.state[k])).toEqual(values(a.state[k]));
    });
  }

  it('a learning rate set by a schedule is part of the saved groups', () => {
    const params = freshParams();
    const opt = new msam.optim.SGD(params, { lr: 0.1 });
    opt.setLr(0.0375);
    expect(opt.stateDict().groups[0]?.lr).toBe(0.0375);
  });
});

describe('stateDict layout', () => {
  it('SGD: momentum buffers by parameter index, step counts, groups with options and indices', () => {
    const params = freshParams();
    const opt = new msam.optim.SGD(
      [
        { params: [params[0], params[2]] as Tensor[], weightDecay: 1e-2 },
        { params: [params[1], params[3]] as Tensor[], lr: 0.01 },
      ],
      { lr: 0.1, momentum: 0.9 },
    );
    expect(opt.stateDict()).toEqual({ kind: 'SGD', state: {}, steps: {}, groups: expect.any(Array) as unknown });
    trainStep(opt, params, { clip: null, dropGrad: null }, 0);
    const dict = opt.stateDict();
    expect(Object.keys(dict.state).sort()).toEqual(['0.momentum_buffer', '1.momentum_buffer', '2.momentum_buffer', '3.momentum_buffer']);
    expect(dict.steps).toEqual({ 0: 1, 1: 1, 2: 1, 3: 1 });
    expect(dict.groups).toEqual([
      { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-2, maximize: false, params: [0, 1] },
      { lr: 0.01, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0, maximize: false, params: [2, 3] },
    ]);
    // Group 0 holds W1 and W2: its second parameter (index 1) is W2, shape [2, 4].
    expect(dict.state['1.momentum_buffer']?.shape).toEqual([2, 4]);
  });

  it('AdamW: exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad); betas as a pair', () => {
    const params = freshParams();
    const opt = new msam.optim.AdamW(params, { amsgrad: true });
    trainStep(opt, params, { clip: null, dropGrad: 3 }, 0);
    trainStep(opt, params, { clip: null, dropGrad: 3 }, 1); // no gradient for parameter 3 this time
    const dict = opt.stateDict();
    expect(Object.keys(dict.state).filter((k) => k.startsWith('3.')).sort()).toEqual(['3.exp_avg', '3.exp_avg_sq', '3.max_exp_avg_sq']);
    expect(dict.steps).toEqual({ 0: 2, 1: 2, 2: 2, 3: 1 });
    expect(dict.groups).toEqual([{ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: true, maximize: false, params: [0, 1, 2, 3] }]);
  });

  it('holds copies: later steps do not change a saved dict', () => {
    const params = freshParams();
    const opt = new msam.optim.AdamW(params);
    trainStep(opt, params, { clip: null, dropGrad: null }, 0);
    const dict = opt.stateDict();
    const saved = values(dict.state['0.exp_avg']);
    trainStep(opt, params, { clip: null, dropGrad: null }, 1);
    expect(values(dict.state['0.exp_avg'])).toEqual(saved);
    expect(values(opt.stateDict().state['0.exp_avg'])).not.toEqual(saved);
  });
});

describe('loadStateDict checks everything, and changes nothing on error', () => {
  function trained(): { opt: Optimizer<Options>; params: Tensor[]; dict: OptimizerStateDict } {
    const params = freshParams();
    const opt = makeOptimizer({ optimizer: 'AdamW', defaults: { lr: 0.01 }, groups: [{ params: [0, 1] }, { params: [2, 3], weightDecay: 0 }] }, params);
    trainStep(opt, params, { clip: null, dropGrad: null }, 0);
    return { opt, params, dict: opt.stateDict() };
  }
  const mutations: { name: string; mutate: (d: OptimizerStateDict) => unknown; type: typeof Error; message: RegExp }[] = [
    { name: 'not an object', mutate: () => 42, type: TypeError, message: /AdamW\.loadStateDict: expected a state dict/ },
    { name: 'another kind', mutate: (d) => ({ ...d, kind: 'SGD' }), type: TypeError, message: /the state dict is for "SGD", not "AdamW"/ },
    { name: 'group count', mutate: (d) => ({ ...d, groups: d.groups.slice(0, 1) }), type: RangeError, message: /has 1 parameter groups, this optimizer has 2/ },
    {
      name: 'group parameters',
      mutate: (d) => ({ ...d, groups: [{ ...d.groups[0], params: [0, 1, 2] }, d.groups[1]] }),
      type: RangeError,
      message: /groups\[0\]\.params must be \[0, 1\] \(this optimizer's group 0 has 2 parameters\), got \[0, 1, 2\]/,
    },
    {
      name: 'an invalid option',
      mutate: (d) => ({ ...d, groups: [{ ...d.groups[0], betas: [0.9, 1.5] }, d.groups[1]] }),
      type: RangeError,
      message: /groups\[0\]: option 'betas' must be a pair \[beta1, beta2\] of numbers in \[0, 1\), got \[0\.9, 1\.5\]/,
    },
    {
      name: 'a missing option',
      mutate: (d) => ({ ...d, groups: [{ ...d.groups[0], eps: undefined }, d.groups[1]] }),
      type: TypeError,
      message: /groups\[0\]: option 'eps' is missing/,
    },
    {
      name: 'an unknown option',
      mutate: (d) => ({ ...d, groups: [{ ...d.groups[0], momentum: 0.9 }, d.groups[1]] }),
      type: TypeError,
      message: /groups\[0\]: unknown option 'momentum'/,
    },
    { name: 'a state value that is not a tensor', mutate: (d) => ({ ...d, state: { ...d.state, '0.exp_avg': [1, 2] } }), type: TypeError, message: /state\['0\.exp_avg'\] must be a Tensor/ },
    { name: 'a wrong shape', mutate: (d) => ({ ...d, state: { ...d.state, '0.exp_avg': msam.zeros([3, 4], f64) } }), type: Error, message: /AdamW: cannot load the state: state '0\.exp_avg' has shape \[3, 4\] but parameter 0 has shape \[4, 3\]/ },
    { name: 'an unknown buffer', mutate: (d) => ({ ...d, state: { ...d.state, '0.momentum_buffer': msam.zeros([4, 3], f64) } }), type: Error, message: /state key '0\.momentum_buffer': unknown buffer 'momentum_buffer'/ },
    { name: 'a malformed key', mutate: (d) => ({ ...d, state: { ...d.state, exp_avg: msam.zeros([4, 3], f64) } }), type: Error, message: /state key 'exp_avg' is not of the form '<parameter index>\.<buffer>'/ },
    { name: 'a parameter index out of range', mutate: (d) => ({ ...d, state: { ...d.state, '7.exp_avg': msam.zeros([2], f64) } }), type: Error, message: /state key '7\.exp_avg' names parameter 7 but there are only 4 parameters/ },
    {
      name: 'a missing buffer',
      mutate: (d) => ({ ...d, state: Object.fromEntries(Object.entries(d.state).filter(([k]) => k !== '2.exp_avg_sq')) }),
      type: Error,
      message: /the state of parameter 2 lacks '2\.exp_avg_sq'/,
    },
    { name: 'a buffer without a step count', mutate: (d) => ({ ...d, steps: { 0: 1, 1: 1, 2: 1 } }), type: Error, message: /state key '3\.exp_avg' but parameter 3 has no step count/ },
    { name: 'a fractional step count', mutate: (d) => ({ ...d, steps: { ...d.steps, 1: 1.5 } }), type: RangeError, message: /steps\['1'\] must be a positive integer, got 1\.5/ },
    { name: 'a bad steps key', mutate: (d) => ({ ...d, steps: { ...d.steps, first: 1 } }), type: RangeError, message: /steps key 'first' is not a parameter index/ },
    { name: 'a step count out of range', mutate: (d) => ({ ...d, steps: { ...d.steps, 9: 1 } }), type: Error, message: /steps has an entry for parameter 9 but there are only 4 parameters/ },
  ];
  for (const m of mutations) {
    it(m.name, () => {
      const { opt, params, dict } = trained();
      const before = opt.stateDict();
      const weights = flat(params);
      // The group options change too, so a partial load would show.
      const bad = m.mutate({ ...dict, groups: dict.groups.map((g) => ({ ...g, lr: 0.5 })) });
      let error: unknown;
      try {
        opt.loadStateDict(bad as OptimizerStateDict);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(m.type);
      if (m.type === Error) expect((error as Error).constructor).toBe(Error);
      expect((error as Error).message).toMatch(m.message);
      const after = opt.stateDict();
      expect(after.groups).toEqual(before.groups);
      expect(after.steps).toEqual(before.steps);
      for (const k of Object.keys(before.state)) expect(values(after.state[k])).toEqual(values(before.state[k]));
      expect(flat(params)).toEqual(weights);
    });
  }

  it('casts state to the parameter dtype (a float32 buffer into float64 parameters)', () => {
    const { opt, dict } = trained();
    const exp = dict.state['0.exp_avg'] as Tensor;
    opt.loadStateDict({ ...dict, state: { ...dict.state, '0.exp_avg': exp.float() } });
    expect(opt.stateDict().state['0.exp_avg']?.dtype).toBe('float64');
  });
});

describe('options are checked, errors name the field', () => {
  const p = (): Tensor[] => [msam.zeros([2], { ...f64, requiresGrad: true })];
  const cases: { name: string; run: () => unknown; type: typeof Error; message: RegExp }[] = [
    { name: 'lr < 0', run: () => new msam.optim.SGD(p(), { lr: -0.1 }), type: RangeError, message: /^SGD: option 'lr' must be a finite number >= 0, got -0\.1$/ },
    { name: 'lr NaN', run: () => new msam.optim.AdamW(p(), { lr: NaN }), type: RangeError, message: /^AdamW: option 'lr' must be a finite number >= 0, got NaN$/ },
    { name: 'lr not a number', run: () => new msam.optim.SGD(p(), { lr: '0.1' as unknown as number }), type: TypeError, message: /^SGD: option 'lr' must be a finite number >= 0, got "0\.1"$/ },
    { name: 'SGD without lr', run: () => new msam.optim.SGD(p()), type: TypeError, message: /^SGD: option 'lr' is required/ },
    { name: 'momentum < 0', run: () => new msam.optim.SGD(p(), { lr: 0.1, momentum: -0.9 }), type: RangeError, message: /^SGD: option 'momentum' must be a finite number >= 0, got -0\.9$/ },
    { name: 'weightDecay < 0', run: () => new msam.optim.SGD(p(), { lr: 0.1, weightDecay: -1e-4 }), type: RangeError, message: /option 'weightDecay' must be a finite number >= 0/ },
    { name: 'nesterov without momentum', run: () => new msam.optim.SGD(p(), { lr: 0.1, nesterov: true }), type: RangeError, message: /^SGD: nesterov requires momentum > 0 and dampening = 0, got momentum 0 and dampening 0$/ },
    { name: 'nesterov with dampening', run: () => new msam.optim.SGD(p(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), type: RangeError, message: /nesterov requires momentum > 0 and dampening = 0, got momentum 0\.9 and dampening 0\.1/ },
    { name: 'nesterov not a boolean', run: () => new msam.optim.SGD(p(), { lr: 0.1, nesterov: 1 as unknown as boolean }), type: TypeError, message: /^SGD: option 'nesterov' must be a boolean, got 1$/ },
    { name: 'betas[1] = 1', run: () => new msam.optim.AdamW(p(), { betas: [0.9, 1] }), type: RangeError, message: /^AdamW: option 'betas' must be a pair \[beta1, beta2\] of numbers in \[0, 1\), got \[0\.9, 1\]$/ },
    { name: 'betas[0] < 0', run: () => new msam.optim.AdamW(p(), { betas: [-0.1, 0.99] }), type: RangeError, message: /option 'betas'/ },
    { name: 'betas of one number', run: () => new msam.optim.AdamW(p(), { betas: [0.9] as unknown as [number, number] }), type: TypeError, message: /option 'betas' must be a pair/ },
    { name: 'eps < 0', run: () => new msam.optim.AdamW(p(), { eps: -1 }), type: RangeError, message: /^AdamW: option 'eps' must be a finite number >= 0, got -1$/ },
    { name: 'an unknown option', run: () => new msam.optim.SGD(p(), { lr: 0.1, learningRate: 0.1 } as SGDOptions), type: TypeError, message: /^SGD: unknown option 'learningRate' \(expected lr, momentum, dampening, nesterov, weightDecay, maximize\)$/ },
    { name: "AdamW's names are not SGD's", run: () => new msam.optim.AdamW(p(), { momentum: 0.9 } as AdamWOptions), type: TypeError, message: /^AdamW: unknown option 'momentum'/ },
    { name: 'a group option', run: () => new msam.optim.SGD([{ params: p() }, { params: p(), lr: -1 }], { lr: 0.1 }), type: RangeError, message: /^SGD: paramGroups\[1\]: option 'lr' must be a finite number >= 0, got -1$/ },
    { name: 'a group cross-check', run: () => new msam.optim.SGD([{ params: p(), momentum: 0 }], { lr: 0.1, momentum: 0.9, nesterov: true }), type: RangeError, message: /^SGD: paramGroups\[0\]: nesterov requires momentum > 0/ },
    { name: 'a group without lr', run: () => new msam.optim.SGD([{ params: p(), lr: 0.1 }, { params: p() }]), type: TypeError, message: /^SGD: paramGroups\[1\]: option 'lr' is required/ },
    { name: 'an unknown group option', run: () => new msam.optim.SGD([{ params: p(), wd: 0 } as never], { lr: 0.1 }), type: TypeError, message: /^SGD: paramGroups\[0\]: unknown option 'wd'/ },
    { name: 'params not an array', run: () => new msam.optim.SGD(msam.zeros([2]) as never, { lr: 0.1 }), type: TypeError, message: /^SGD: params must be an array of Tensors or of parameter groups/ },
    { name: 'an empty parameter list', run: () => new msam.optim.SGD([], { lr: 0.1 }), type: RangeError, message: /^SGD: got an empty parameter list$/ },
    { name: 'tensors mixed with groups', run: () => new msam.optim.SGD([...p(), { params: p() }] as never, { lr: 0.1 }), type: TypeError, message: /^SGD: params\[0\] must be a parameter group \{ params, \.\.\.options \} \(do not mix groups and tensors\)/ },
    { name: 'a group param that is not a tensor', run: () => new msam.optim.SGD([{ params: [1] as never }], { lr: 0.1 }), type: TypeError, message: /^SGD: paramGroups\[0\]\.params\[0\] must be a Tensor, got number$/ },
    { name: 'a parameter twice', run: () => { const t = p(); return new msam.optim.SGD([{ params: t }, { params: t }], { lr: 0.1 }); }, type: Error, message: /^SGD: parameter 0 of group 1 appears more than once/ },
    { name: 'a non-leaf parameter', run: () => new msam.optim.SGD([p()[0]!.mul(2)], { lr: 0.1 }), type: Error, message: /^SGD: parameter 0 of group 0 is not a leaf tensor \(it was computed by MulBackward1\)/ },
    { name: 'an integer parameter', run: () => new msam.optim.SGD([msam.zeros([2], { dtype: 'int64' })], { lr: 0.1 }), type: Error, message: /^SGD: parameter 0 of group 0 has dtype Long; parameters must be floating point$/ },
    { name: 'setLr(-1)', run: () => new msam.optim.SGD(p(), { lr: 0.1 }).setLr(-1), type: RangeError, message: /^SGD\.setLr: option 'lr' must be a finite number >= 0, got -1$/ },
    { name: 'setting a bad group lr', run: () => { new msam.optim.SGD(p(), { lr: 0.1 }).paramGroups[0]!.lr = Infinity; }, type: RangeError, message: /^SGD: paramGroups\[0\]: option 'lr' must be a finite number >= 0, got Infinity$/ },
    { name: 'setting nesterov without momentum', run: () => { new msam.optim.SGD(p(), { lr: 0.1 }).paramGroups[0]!.nesterov = true; }, type: RangeError, message: /^SGD: paramGroups\[0\]: nesterov requires momentum > 0/ },
    { name: 'setting an unknown group property', run: () => { (new msam.optim.SGD(p(), { lr: 0.1 }).paramGroups[0] as unknown as Record<string, number>)['learningRate'] = 1; }, type: TypeError, message: /learningRate/ },
    { name: 'zeroGrad({ setToNone: 1 })', run: () => new msam.optim.SGD(p(), { lr: 0.1 }).zeroGrad({ setToNone: 1 as unknown as boolean }), type: TypeError, message: /^SGD\.zeroGrad: setToNone must be a boolean, got 1$/ },
    { name: 'using a disposed optimizer', run: () => { const o = new msam.optim.SGD(p(), { lr: 0.1 }); o.dispose(); o.step(); }, type: Error, message: /^SGD: this optimizer was disposed$/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      let error: unknown;
      try {
        c.run();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(c.type);
      if (c.type === Error) expect((error as Error).constructor).toBe(Error);
      expect((error as Error).message).toMatch(c.message);
    });
  }
});

describe('parameter groups', () => {
  it('read options, and set lr per group or for all (as schedules do)', () => {
    const params = freshParams();
    const opt = new msam.optim.AdamW([{ params: params.slice(0, 2) }, { params: params.slice(2), weightDecay: 0, betas: [0.8, 0.9] }], { lr: 0.01 });
    const [g0, g1] = opt.paramGroups as [msam.optim.ParamGroup<AdamWOptions>, msam.optim.ParamGroup<AdamWOptions>];
    expect(g0.params).toEqual(params.slice(0, 2));
    expect([g0.lr, g0.weightDecay, g0.betas, g0.eps, g0.amsgrad]).toEqual([0.01, 1e-2, [0.9, 0.999], 1e-8, false]);
    expect([g1.lr, g1.weightDecay, g1.betas]).toEqual([0.01, 0, [0.8, 0.9]]);
    g1.lr = 0.5;
    expect([g0.lr, g1.lr]).toEqual([0.01, 0.5]);
    opt.setLr(0.25);
    expect([g0.lr, g1.lr]).toEqual([0.25, 0.25]);
    g0.betas = [0.5, 0.75];
    expect(opt.stateDict().groups[0]?.betas).toEqual([0.5, 0.75]);
  });

  it('an lr set between steps is the one the next step uses', () => {
    const run = (lrs: number[]): number[] => {
      const params = freshParams();
      const opt = new msam.optim.SGD(params, { lr: 1, momentum: 0.9 });
      lrs.forEach((lr, step) => {
        opt.setLr(lr);
        trainStep(opt, params, { clip: null, dropGrad: null }, step);
      });
      return flat(params);
    };
    // lr 0 freezes the parameters (the momentum buffer still fills)
    expect(run([0, 0])).toEqual(fixture.init.flat(2));
    expect(run([0.1, 0.1])).not.toEqual(run([0.1, 0.05]));
  });
});

describe('zeroGrad and step leave state alone when they should', () => {
  it('zeroGrad drops gradients by default, or zeroes them in place', () => {
    const params = freshParams();
    const opt = new msam.optim.SGD(params, { lr: 0.1 });
    trainStep(opt, params, { clip: null, dropGrad: null }, 0);
    expect(params[0]!.grad).not.toBeNull();
    opt.zeroGrad({ setToNone: false });
    expect(values(params[0]!.grad)).toEqual(new Array(12).fill(0));
    opt.zeroGrad();
    expect(params.map((p) => p.grad)).toEqual([null, null, null, null]);
  });

  it('a parameter without a gradient is not updated, nor is its state', () => {
    const params = freshParams();
    const opt = new msam.optim.AdamW(params, { lr: 0.1 });
    const before = flat(params);
    opt.step(); // no gradients at all
    expect(flat(params)).toEqual(before);
    expect(opt.stateDict()).toEqual({ kind: 'AdamW', state: {}, steps: {}, groups: expect.any(Array) as unknown });
  });

  it('not calling step() (a skipped update) changes nothing: zeroGrad and stateDict do not touch state', () => {
    const params = freshParams();
    const opt = new msam.optim.AdamW(params, { lr: 0.01 });
    trainStep(opt, params, { clip: null, dropGrad: null }, 0);
    const a = opt.stateDict();
    opt.zeroGrad();
    opt.zeroGrad({ setToNone: false });
    const b = opt.stateDict();
    expect(b.steps).toEqual(a.steps);
    for (const k of Object.keys(a.state)) expect(values(b.state[k])).toEqual(values(a.state[k]));
  });

  it('a step that throws (one bad gradient) changes no parameter and no state', () => {
    const params = freshParams();
    const opt = new msam.optim.SGD(params, { lr: 0.1, momentum: 0.9 });
    trainStep(opt, params, { clip: null, dropGrad: null }, 0);
    const weights = flat(params);
    const state = opt.stateDict();
    for (const p of params) p.grad = msam.onesLike(p);
    params[3]!.grad = msam.ones([2]); // float32 gradient of a float64 parameter
    expect(() => opt.step()).toThrow(/^SGD: the gradient of parameter 3 is Float on cpu but the parameter is Double on cpu$/);
    expect(flat(params)).toEqual(weights);
    const after = opt.stateDict();
    for (const k of Object.keys(state.state)) expect(values(after.state[k])).toEqual(values(state.state[k]));
    expect(after.steps).toEqual(state.steps);
  });
});

describe('clipGradNorm', () => {
  it('returns the total norm and scales by maxNorm / (norm + 1e-6); no-op below maxNorm', () => {
    const a = msam.tensor([1, 2], { ...f64, requiresGrad: true });
    const b = msam.tensor([2], { ...f64, requiresGrad: true });
    a.grad = msam.tensor([3, 4], f64);
    b.grad = msam.tensor([12], f64);
    expect(msam.optim.clipGradNorm([a, b], 100)).toBe(13);
    expect(values(a.grad)).toEqual([3, 4]);
    expect(msam.optim.clipGradNorm([a, b], 1.3)).toBe(13);
    const coef = 1.3 / (13 + 1e-6);
    expect(values(b.grad)[0]).toBeCloseTo(12 * coef, 15);
    expect(msam.optim.clipGradNorm(a, 1, Infinity)).toBeCloseTo(4 * coef, 15);
  });

  it('is 0 when no parameter has a gradient; errorIfNonfinite throws before changing anything', () => {
    const a = msam.tensor([1, 2], { ...f64, requiresGrad: true });
    expect(msam.optim.clipGradNorm([a], 1)).toBe(0);
    a.grad = msam.tensor([NaN, 1], f64);
    expect(() => msam.optim.clipGradNorm([a], 1, 2, { errorIfNonfinite: true })).toThrow(/^clipGradNorm: the total norm of order 2 of the gradients is non-finite/);
    expect(a.grad.data()[1]).toBe(1);
    expect(() => msam.optim.clipGradNorm([a], NaN)).toThrow(TypeError);
    expect(() => msam.optim.clipGradNorm([1] as never, 1)).toThrow(/^clipGradNorm: params\[0\] must be a Tensor/);
  });
});
