// The optimizer base class: the API of torch.optim.Optimizer over a native optimizer
// (csrc/optim), which owns the state and does the math so that a native training step can call
// it from C++ too. Options are checked here, with errors naming the field.
import { inspect } from 'node:util';
import { native, type OptimizerHandle } from '../native';
import { Tensor, expectTensor } from '../tensor/core';
import {
  checkField,
  checkPartial,
  complete,
  describe,
  fromNative,
  isPlainObject,
  nativeFields,
  toNative,
  type OptimizerSpec,
} from './options';

/** A parameter group as given to a constructor: its parameters, and options that override the defaults. */
export type ParamGroupSpec<O extends object> = Partial<O> & { params: Tensor | Iterable<Tensor> };

/**
 * A live parameter group: reading an option reads the optimizer, assigning one (checked) sets it
 * for the next step, e.g. `opt.paramGroups[1].lr = 0.01`. Unknown properties cannot be added.
 */
export type ParamGroup<O extends object> = Required<O> & { readonly params: readonly Tensor[] };

/** A parameter group in a state dict: its options, and the indices of its parameters. */
export type GroupDict = Record<string, number | boolean | readonly number[]> & { params: number[] };

/**
 * An optimizer's state, JSON-able but for the tensors. Parameters are named by their index over
 * all groups in order, as torch's state_dict names them.
 */
export interface OptimizerStateDict {
  /** 'SGD' | 'AdamW': loading into another kind of optimizer is an error. */
  kind: string;
  /** State tensors by '<parameter index>.<buffer>': '0.momentum_buffer', '3.exp_avg'. Copies. */
  state: Record<string, Tensor>;
  /** Updates applied so far, by parameter index (parameters never updated have no entry). */
  steps: Record<string, number>;
  /** Each group's options and parameter indices. */
  groups: GroupDict[];
}

export interface ZeroGradOptions {
  /** Drop the gradients (the default, as PyTorch 2) instead of zeroing them in place. */
  setToNone?: boolean;
}

export abstract class Optimizer<O extends object> {
  /** The parameter groups, in order; see ParamGroup. */
  readonly paramGroups: readonly ParamGroup<O>[];
  readonly #spec: OptimizerSpec<O>;
  readonly #handle: OptimizerHandle;
  #disposed = false;

  protected constructor(spec: OptimizerSpec<O>, params: Iterable<Tensor> | Iterable<ParamGroupSpec<O>>, defaults: Partial<O>) {
    this.#spec = spec;
    const kind = spec.kind;
    const base = checkPartial(spec, defaults ?? {}, kind);
    const groups = normalizeGroups(kind, params);
    const resolved = groups.map((g, i) => {
      const where = g.index === null ? kind : `${kind}: paramGroups[${i}]`;
      const overrides = g.index === null ? {} : checkPartial(spec, g.raw, where, ['params']);
      return { params: g.params, options: complete(spec, [base, overrides], where) };
    });
    this.#handle = native.optimCreate(
      kind,
      resolved.map((g) => ({ params: g.params.map((t) => t.handle), options: toNative(spec, g.options) })),
    );
    this.paramGroups = Object.freeze(resolved.map((g, i) => this.#groupView(i, g.params)));
  }

  get kind(): string {
    return this.#spec.kind;
  }

  /** @internal the native handle, for native training steps. */
  get handle(): OptimizerHandle {
    if (this.#disposed) throw new Error(`${this.#spec.kind}: this optimizer was disposed`);
    return this.#handle;
  }

  /**
   * Updates every parameter that has a gradient, in place. State changes only here: not calling
   * step() (a skipped update) leaves the optimizer exactly as it was.
   */
  step(): void {
    native.optimStep(this.handle);
  }

  /** Drops the parameters' gradients (or zeroes them in place with `setToNone: false`). */
  zeroGrad({ setToNone = true }: ZeroGradOptions = {}): void {
    if (typeof setToNone !== 'boolean') throw new TypeError(`${this.kind}.zeroGrad: setToNone must be a boolean, got ${describe(setToNone)}`);
    native.optimZeroGrad(this.handle, setToNone);
  }

  /** Sets the learning rate of every group (what a schedule does before each step). */
  setLr(lr: number): void {
    checkField(this.#spec, 'lr', lr, `${this.kind}.setLr`);
    native.optimSetLr(this.handle, lr);
  }

  /** The state (copies of its tensors), step counts, and each group's options and parameter indices. */
  stateDict(): OptimizerStateDict {
    const { state, steps } = native.optimState(this.handle);
    const tensors: Record<string, Tensor> = {};
    for (const [key, h] of Object.entries(state)) tensors[key] = new Tensor(h);
    let offset = 0;
    const groups = native.optimGroups(this.handle).map(({ options, size }) => {
      const params = Array.from({ length: size }, (_, k) => offset + k);
      offset += size;
      const plain = fromNative(this.#spec, options) as Record<string, number | boolean | readonly number[]>;
      for (const [k, v] of Object.entries(plain)) if (Array.isArray(v)) plain[k] = [...(v as number[])];
      return { ...plain, params } as GroupDict;
    });
    return { kind: this.kind, state: tensors, steps: { ...steps }, groups };
  }

  /**
   * Restores a stateDict() exactly (a resumed run continues bit for bit): group options, state
   * tensors (copied, cast to each parameter's dtype and device) and step counts. Everything is
   * checked first; on error the optimizer is unchanged.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const where = `${this.kind}.loadStateDict`;
    if (!isPlainObject(dict)) throw new TypeError(`${where}: expected a state dict { kind, state, steps, groups }, got ${describe(dict)}`);
    if (dict.kind !== this.kind) throw new TypeError(`${where}: the state dict is for ${describe(dict.kind)}, not ${describe(this.kind)}`);
    const groups = dict.groups as unknown;
    if (!Array.isArray(groups)) throw new TypeError(`${where}: 'groups' must be an array, got ${describe(groups)}`);
    if (groups.length !== this.paramGroups.length) {
      throw new RangeError(`${where}: the state dict has ${groups.length} parameter groups, this optimizer has ${this.paramGroups.length}`);
    }
    let offset = 0;
    const options = groups.map((g: unknown, i) => {
      const gw = `${where}: groups[${i}]`;
      if (!isPlainObject(g)) throw new TypeError(`${gw} must be an object, got ${describe(g)}`);
      const size = (this.paramGroups[i] as ParamGroup<O>).params.length;
      const expected = Array.from({ length: size }, (_, k) => offset + k);
      offset += size;
      const params = g['params'];
      if (!Array.isArray(params) || params.length !== size || params.some((p, k) => p !== expected[k])) {
        throw new RangeError(`${gw}.params must be ${describe(expected)} (this optimizer's group ${i} has ${size} parameters), got ${describe(params)}`);
      }
      const given = checkPartial(this.#spec, g, gw, ['params']);
      for (const name of Object.keys(this.#spec.rules)) {
        if (!(name in given)) throw new TypeError(`${gw}: option '${name}' is missing`);
      }
      return toNative(this.#spec, complete(this.#spec, [given], gw));
    });
    const state = dict.state as unknown;
    if (!isPlainObject(state)) throw new TypeError(`${where}: 'state' must be an object of tensors, got ${describe(state)}`);
    const handles = Object.fromEntries(Object.entries(state).map(([k, t]) => [k, expectTensor(t, `${where}: state['${k}']`).handle]));
    const steps = dict.steps as unknown;
    if (!isPlainObject(steps)) throw new TypeError(`${where}: 'steps' must be an object of step counts, got ${describe(steps)}`);
    for (const [k, n] of Object.entries(steps)) {
      if (!/^\d+$/.test(k)) throw new RangeError(`${where}: steps key '${k}' is not a parameter index`);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
        throw new RangeError(`${where}: steps['${k}'] must be a positive integer, got ${describe(n)}`);
      }
    }
    native.optimLoadState(this.handle, options, handles, steps as Record<string, number>);
  }

  /** Frees the native optimizer and its state now; using it afterwards throws. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    native.optimDispose(this.#handle);
    this.#disposed = true;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  get isDisposed(): boolean {
    return this.#disposed;
  }

  #options(index: number): Required<O> {
    return fromNative(this.#spec, native.optimGroups(this.handle)[index]?.options ?? {});
  }

  #groupView(index: number, params: Tensor[]): ParamGroup<O> {
    const view: Record<string | symbol, unknown> = {};
    Object.defineProperty(view, 'params', { value: Object.freeze([...params]), enumerable: true });
    for (const name of Object.keys(this.#spec.rules)) {
      const fields = nativeFields(this.#spec, name);
      Object.defineProperty(view, name, {
        enumerable: true,
        get: () => {
          const values = fields.map((f) => native.optimGetOption(this.handle, index, f));
          return fields.length === 1 ? values[0] : Object.freeze(values);
        },
        set: (value: unknown) => {
          const where = `${this.kind}: paramGroups[${index}]`;
          checkField(this.#spec, name, value, where);
          complete(this.#spec, [this.#options(index), { [name]: value } as Partial<O>], where);
          const parts = fields.length === 1 ? [value] : (value as number[]);
          fields.forEach((f, k) => native.optimSetOption(this.handle, index, f, parts[k] as number | boolean));
        },
      });
    }
    Object.defineProperty(view, inspect.custom, {
      value: () => ({ ...this.#options(index), params: `[${params.length} tensors]` }),
    });
    return Object.seal(view) as ParamGroup<O>;
  }
}

interface RawGroup {
  params: Tensor[];
  raw: unknown;
  /** null when the constructor was given tensors (one group of the defaults). */
  index: number | null;
}

function tensorsOf(value: unknown, where: string): Tensor[] {
  if (value instanceof Tensor) return [value];
  if (value === null || typeof value !== 'object' || !(Symbol.iterator in value)) {
    throw new TypeError(`${where} must be a Tensor or an array of Tensors, got ${describe(value)}`);
  }
  return Array.from(value as Iterable<unknown>, (t, i) => expectTensor(t, `${where}[${i}]`));
}

// Tensors (one group) or groups {params, ...options}, as torch.optim accepts.
function normalizeGroups(kind: string, params: unknown): RawGroup[] {
  const what = `${kind}: params`;
  if (params instanceof Tensor || params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
    throw new TypeError(`${what} must be an array of Tensors or of parameter groups { params, ...options }, got ${describe(params)}`);
  }
  const items = Array.from(params as Iterable<unknown>);
  if (items.length === 0) throw new RangeError(`${kind}: got an empty parameter list`);
  if (items.every((x) => x instanceof Tensor)) return [{ params: items as Tensor[], raw: {}, index: null }];
  return items.map((g, i) => {
    if (!isPlainObject(g) || !('params' in g)) {
      throw new TypeError(`${what}[${i}] must be a parameter group { params, ...options } (do not mix groups and tensors), got ${describe(g)}`);
    }
    return { params: tensorsOf(g['params'], `${kind}: paramGroups[${i}].params`), raw: g, index: i };
  });
}
