// Hyper-parameter checking shared by the optimizers. Each option has a rule; errors name the
// optimizer, where the value came from and the field ("SGD: paramGroups[1]: option 'lr' must be a
// finite number >= 0, got -1"), as they are the first thing a typo in a config meets.
import type { NativeOptions } from '../native';

/** A pair of numbers (AdamW's betas). */
export type Pair = readonly [number, number];
export type OptionValue = number | boolean | Pair;

/** What one option must be: its JS type, and a range test on a value of that type. */
export interface Rule {
  readonly type: 'number' | 'boolean' | 'pair';
  /** The words for the error message: "a finite number >= 0". */
  readonly expect: string;
  readonly test: (v: never) => boolean;
}

const isNumberPair = (v: unknown): v is Pair =>
  Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number');

export const rule = {
  nonNegative: { type: 'number', expect: 'a finite number >= 0', test: (v: number) => Number.isFinite(v) && v >= 0 },
  finite: { type: 'number', expect: 'a finite number', test: (v: number) => Number.isFinite(v) },
  flag: { type: 'boolean', expect: 'a boolean', test: () => true },
  betas: {
    type: 'pair',
    expect: 'a pair [beta1, beta2] of numbers in [0, 1)',
    test: (v: Pair) => v.every((b) => b >= 0 && b < 1),
  },
} satisfies Record<string, Rule>;

/** Everything the generic Optimizer needs to know about one algorithm's options. */
export interface OptimizerSpec<O extends object> {
  readonly kind: 'SGD' | 'AdamW';
  readonly rules: { readonly [K in keyof O]-?: Rule };
  /** Defaults for every option but those the user must give (SGD's lr). */
  readonly defaults: Partial<O>;
  /** Checks the options together, once each is valid: an error message, or null. */
  readonly crossCheck?: (o: Required<O>) => string | null;
  /** Options stored natively as several fields (betas as beta1 and beta2). */
  readonly split?: { readonly [K in keyof O]?: readonly string[] };
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** Throws unless `value` satisfies the rule of option `name`. */
export function checkField<O extends object>(spec: OptimizerSpec<O>, name: string, value: unknown, where: string): void {
  const r = (spec.rules as Record<string, Rule | undefined>)[name];
  if (r === undefined) {
    throw new TypeError(`${where}: unknown option '${name}' (expected ${Object.keys(spec.rules).join(', ')})`);
  }
  const typeOk = r.type === 'pair' ? isNumberPair(value) : typeof value === r.type;
  if (!typeOk) throw new TypeError(`${where}: option '${name}' must be ${r.expect}, got ${describe(value)}`);
  if (!(r.test as (v: unknown) => boolean)(value)) throw new RangeError(`${where}: option '${name}' must be ${r.expect}, got ${describe(value)}`);
}

/** Checks each option present in `raw` (an options object); `skip` names keys that are not options. */
export function checkPartial<O extends object>(spec: OptimizerSpec<O>, raw: unknown, where: string, skip: string[] = []): Partial<O> {
  if (!isPlainObject(raw)) throw new TypeError(`${where}: options must be an object, got ${describe(raw)}`);
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (skip.includes(name)) continue;
    if (value === undefined) continue; // { momentum: undefined } means "the default", as when absent
    checkField(spec, name, value, where);
    out[name] = Array.isArray(value) ? Object.freeze([...(value as number[])]) : value;
  }
  return out as Partial<O>;
}

/** Layers (later wins), then requires every option and checks them together. */
export function complete<O extends object>(spec: OptimizerSpec<O>, layers: Partial<O>[], where: string): Required<O> {
  const o = Object.assign({}, spec.defaults, ...layers) as Record<string, unknown>;
  for (const name of Object.keys(spec.rules)) {
    if (o[name] === undefined) {
      throw new TypeError(`${where}: option '${name}' is required (give it in the defaults or in every parameter group)`);
    }
  }
  const problem = spec.crossCheck?.(o as Required<O>) ?? null;
  if (problem !== null) throw new RangeError(`${where}: ${problem}`);
  return o as Required<O>;
}

/** The native fields of one option (betas -> beta1, beta2). */
export function nativeFields<O extends object>(spec: OptimizerSpec<O>, name: string): readonly string[] {
  return (spec.split as Record<string, readonly string[] | undefined> | undefined)?.[name] ?? [name];
}

export function toNative<O extends object>(spec: OptimizerSpec<O>, o: Required<O>): NativeOptions {
  const out: NativeOptions = {};
  for (const [name, value] of Object.entries(o)) {
    const fields = nativeFields(spec, name);
    if (fields.length === 1) out[fields[0] as string] = value as number | boolean;
    else fields.forEach((f, i) => (out[f] = (value as Pair)[i] as number));
  }
  return out;
}

export function fromNative<O extends object>(spec: OptimizerSpec<O>, n: NativeOptions): Required<O> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(spec.rules)) {
    const fields = nativeFields(spec, name);
    out[name] = fields.length === 1 ? n[fields[0] as string] : Object.freeze(fields.map((f) => n[f]));
  }
  return out as Required<O>;
}
