// Learning-rate schedules as pure functions of the step: `schedule(step)` is the learning rate
// for the update at `step` (0-based), so a resumed run only needs its step count to continue
// exactly. Set it before each update: `opt.setLr(lrAt(step)); opt.step()`.
// Values match torch.optim.lr_scheduler (OneCycleLR, CosineAnnealingLR, LinearLR, StepLR), which
// the tests check against; beyond a schedule's end each holds its final value.

/** A learning rate as a function of the 0-based step. */
export type Schedule = (step: number) => number;

export interface OneCycleOptions {
  /** The peak learning rate. */
  maxLr: number;
  /** Steps in the cycle. */
  totalSteps: number;
  /** Fraction of the steps spent warming up to maxLr (torch's pct_start); default 0.05, the paper's "one cycle with 5% warm-up". */
  warmupFraction?: number;
  /** The initial lr is maxLr / divFactor; default 25. */
  divFactor?: number;
  /** The final lr is the initial lr / finalDivFactor; default 1e4. */
  finalDivFactor?: number;
  /** How both phases interpolate; default 'cos'. */
  anneal?: 'cos' | 'linear';
}

export interface CosineOptions {
  baseLr: number;
  /** The step at which the lr reaches minLr. */
  totalSteps: number;
  /** Linear warm-up: step s < warmupSteps has baseLr·(s + 1)/warmupSteps; default 0. */
  warmupSteps?: number;
  /** Default 0. */
  minLr?: number;
}

export interface LinearOptions {
  baseLr: number;
  /** The step at which the lr reaches endLr. */
  totalSteps: number;
  /** Linear warm-up: step s < warmupSteps has baseLr·(s + 1)/warmupSteps; default 0. */
  warmupSteps?: number;
  /** Default 0. */
  endLr?: number;
}

export interface StepOptions {
  baseLr: number;
  /** The lr is multiplied by gamma every stepSize steps. */
  stepSize: number;
  /** Default 0.1. */
  gamma?: number;
}

export interface ConstantOptions {
  lr: number;
}

// ---- argument checks: errors name the schedule and the field ----

function fields(what: string, o: unknown, known: string[]): Record<string, unknown> {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new TypeError(`${what}: options must be an object`);
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new TypeError(`${what}: unknown option '${k}' (expected ${known.join(', ')})`);
  }
  return o as Record<string, unknown>;
}

function num(what: string, o: Record<string, unknown>, name: string, ok: (v: number) => boolean, expect: string, fallback?: number): number {
  const v = o[name] === undefined ? fallback : o[name];
  if (v === undefined) throw new TypeError(`${what}: option '${name}' is required`);
  if (typeof v !== 'number') throw new TypeError(`${what}: option '${name}' must be ${expect}, got ${typeof v}`);
  if (!ok(v)) throw new RangeError(`${what}: option '${name}' must be ${expect}, got ${v}`);
  return v;
}

const nonNegative = (v: number): boolean => Number.isFinite(v) && v >= 0;
const positive = (v: number): boolean => Number.isFinite(v) && v > 0;
const positiveInt = (v: number): boolean => Number.isSafeInteger(v) && v > 0;

/** Wraps a schedule so that its argument is checked: a non-negative integer. */
function checked(what: string, f: (step: number) => number): Schedule {
  return (step: number) => {
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
      throw new RangeError(`${what}: step must be an integer >= 0, got ${String(step)}`);
    }
    return f(step);
  };
}

const cosineAnneal = (start: number, end: number, pct: number): number => end + ((start - end) / 2.0) * (Math.cos(Math.PI * pct) + 1);
const linearAnneal = (start: number, end: number, pct: number): number => (end - start) * pct + start;

// ---- the schedules ----

/**
 * The 1cycle policy (Smith & Topin), as torch's OneCycleLR with pct_start = warmupFraction and
 * three_phase = false: from maxLr/divFactor up to maxLr over the first warmupFraction of the
 * steps, then down to maxLr/divFactor/finalDivFactor at step totalSteps - 1, held after. (Momentum is not
 * cycled here.) Where torch divides by a zero-length phase (warmupFraction·totalSteps = 1, or
 * warmupFraction = 1) that phase's end value is used.
 */
export function oneCycle(options: OneCycleOptions): Schedule {
  const what = 'oneCycle';
  const o = fields(what, options, ['maxLr', 'totalSteps', 'warmupFraction', 'divFactor', 'finalDivFactor', 'anneal']);
  const maxLr = num(what, o, 'maxLr', nonNegative, 'a finite number >= 0');
  const totalSteps = num(what, o, 'totalSteps', positiveInt, 'a positive integer');
  const warmupFraction = num(what, o, 'warmupFraction', (v) => v >= 0 && v <= 1, 'a number in [0, 1]', 0.05);
  const divFactor = num(what, o, 'divFactor', positive, 'a finite number > 0', 25);
  const finalDivFactor = num(what, o, 'finalDivFactor', positive, 'a finite number > 0', 1e4);
  const anneal = o['anneal'] ?? 'cos';
  if (anneal !== 'cos' && anneal !== 'linear') throw new TypeError(`${what}: option 'anneal' must be 'cos' or 'linear', got ${JSON.stringify(anneal)}`);
  const interpolate = anneal === 'cos' ? cosineAnneal : linearAnneal;
  const initialLr = maxLr / divFactor;
  const minLr = initialLr / finalDivFactor;
  // torch's phases, by the (fractional) step at which each ends.
  const phases = [
    { end: warmupFraction * totalSteps - 1, from: initialLr, to: maxLr },
    { end: totalSteps - 1, from: maxLr, to: minLr },
  ];
  return checked(what, (at) => {
    // Past the cycle, its last value (torch extrapolates one step beyond, then raises).
    const step = Math.min(at, totalSteps - 1);
    let start = 0;
    for (let i = 0; i < phases.length; i++) {
      const phase = phases[i] as (typeof phases)[number];
      if (step <= phase.end || i === phases.length - 1) {
        const pct = phase.end === start ? 1 : (step - start) / (phase.end - start);
        return interpolate(phase.from, phase.to, pct);
      }
      start = phase.end;
    }
    return minLr; // not reached: the last phase always answers
  });
}

function warmupThen(what: string, o: Record<string, unknown>, endName: string, shape: (pct: number, base: number, end: number) => number): Schedule {
  const baseLr = num(what, o, 'baseLr', nonNegative, 'a finite number >= 0');
  const totalSteps = num(what, o, 'totalSteps', positiveInt, 'a positive integer');
  const warmupSteps = num(what, o, 'warmupSteps', (v) => Number.isSafeInteger(v) && v >= 0 && v < totalSteps, `an integer in [0, totalSteps)`, 0);
  const end = num(what, o, endName, (v) => Number.isFinite(v) && v >= 0 && v <= baseLr, `a number in [0, baseLr]`, 0);
  return checked(what, (step) => {
    if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
    const pct = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
    return shape(pct, baseLr, end);
  });
}

/**
 * Optional linear warm-up, then cosine annealing from baseLr to minLr, reached at step
 * totalSteps (as CosineAnnealingLR with T_max = totalSteps - warmupSteps); minLr after.
 */
export function cosine(options: CosineOptions): Schedule {
  const o = fields('cosine', options, ['baseLr', 'totalSteps', 'warmupSteps', 'minLr']);
  return warmupThen('cosine', o, 'minLr', (pct, base, min) => min + ((base - min) * (1 + Math.cos(Math.PI * pct))) / 2);
}

/** Optional linear warm-up, then a linear decay from baseLr to endLr, reached at step totalSteps (as LinearLR); endLr after. */
export function linear(options: LinearOptions): Schedule {
  const o = fields('linear', options, ['baseLr', 'totalSteps', 'warmupSteps', 'endLr']);
  return warmupThen('linear', o, 'endLr', (pct, base, end) => base + (end - base) * pct);
}

/** baseLr·gamma^⌊step / stepSize⌋, as StepLR. */
export function step(options: StepOptions): Schedule {
  const what = 'step';
  const o = fields(what, options, ['baseLr', 'stepSize', 'gamma']);
  const baseLr = num(what, o, 'baseLr', nonNegative, 'a finite number >= 0');
  const stepSize = num(what, o, 'stepSize', positiveInt, 'a positive integer');
  const gamma = num(what, o, 'gamma', nonNegative, 'a finite number >= 0', 0.1);
  return checked(what, (s) => baseLr * gamma ** Math.floor(s / stepSize));
}

/** The same learning rate at every step. */
export function constant(options: ConstantOptions): Schedule {
  const what = 'constant';
  const o = fields(what, options, ['lr']);
  const lr = num(what, o, 'lr', nonNegative, 'a finite number >= 0');
  return checked(what, () => lr);
}
