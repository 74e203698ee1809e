// nn.Module: the API every module has, native or written in TypeScript. A TypeScript subclass
// registers children and parameters and writes forward() in JS (the flexible REPL path); native
// modules (native-module.ts) run their whole forward in C++.
import { inspect } from 'node:util';
import { noGrad } from '../autograd';
import { native } from '../native';
import { Tensor } from '../tensor/core';
import { keep } from '../tensor/memory';
import type { DType, Device } from '../types';

export type StateDict = Record<string, Tensor>;

const DTYPES = new Set(['float32', 'float64', 'bfloat16', 'float16']);

export abstract class Module {
  #children: [string, Module][] = [];
  #params: [string, Tensor][] = [];
  #buffers: [string, Tensor][] = [];
  #training = true;

  /** The module's computation. Native modules run it in C++ in one call. */
  abstract forward(...inputs: Tensor[]): Tensor;

  /** The type name shown in summaries and errors. */
  get typeName(): string {
    return this.constructor.name;
  }

  // ---- registration (TypeScript modules) ----
  /** Adds a child module under `name` and returns it: `fc = this.registerModule('fc', new nn.Linear(4, 2))`. */
  registerModule<M extends Module>(name: string, module: M): M {
    if (!(module instanceof Module)) throw new TypeError(`${this.typeName}.registerModule: '${name}' is not a Module`);
    this.#children.push([name, module]);
    return module;
  }
  /** Adds a trainable parameter (a leaf that requires grad) under `name` and returns it. */
  registerParameter(name: string, t: Tensor): Tensor {
    this.#params.push([name, keep(t.requiresGrad ? t : t.requiresGrad_(true))]);
    return t;
  }
  /** Adds a buffer (state that is saved but not trained, like running statistics) and returns it. */
  registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.push([name, keep(t)]);
    return t;
  }

  // ---- traversal ----
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }
  /** Own parameters first, then each child's, with PyTorch-style dotted names. */
  namedParameters(): [string, Tensor][] {
    return [...this.#params, ...this.#childEntries((m) => m.namedParameters())];
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedBuffers(): [string, Tensor][] {
    return [...this.#buffers, ...this.#childEntries((m) => m.namedBuffers())];
  }
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }
  #childEntries(of: (m: Module) => [string, Tensor][]): [string, Tensor][] {
    return this.namedChildren().flatMap(([name, m]) => of(m).map(([k, t]): [string, Tensor] => [joinKey(name, k), t]));
  }
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  // ---- modes and moves ----
  get training(): boolean {
    return this.#training;
  }
  /** Training mode (dropout active, batch statistics in BatchNorm); returns this. */
  train(mode = true): this {
    this.#training = mode;
    for (const c of this.children()) c.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /**
   * Moves (or casts the floating-point) parameters, their gradients and buffers in place, keeping
   * their identity.
   */
  to(target: Device | DType): this {
    for (const c of this.children()) c.to(target);
    const [device, dtype] = splitTarget(target, this.typeName);
    const move = (t: Tensor) => {
      const cast = dtype !== null && DTYPES.has(t.dtype) ? dtype : t.dtype;
      const moved = t.to(device ?? t.device, { dtype: cast });
      if (moved.handle !== t.handle) native.setData(t.handle, moved.handle);
      moved.dispose();
    };
    noGrad(() => {
      for (const [, p] of this.#params) {
        move(p);
        const g = p.grad; // a new handle on the same gradient
        if (g !== null) {
          move(g);
          g.dispose();
        }
      }
      for (const [, b] of this.#buffers) move(b);
    });
    return this;
  }
  /** Forgets the gradients (sets .grad to null, as PyTorch's default set_to_none). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  // ---- state ----
  /** Parameters and buffers by dotted name, detached (the caller owns these handles). */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [k, t] of [...this.namedParameters(), ...this.namedBuffers()]) out[k] = t.detach();
    return out;
  }
  /**
   * Copies values into the parameters and buffers by name. With `strict` (the default) every key
   * must match; shapes must always match. The error names the missing, unexpected and mismatched keys.
   */
  loadStateDict(dict: StateDict, opts: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
    const strict = opts.strict ?? true;
    const own = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    const missingKeys = [...own.keys()].filter((k) => !(k in dict));
    const unexpectedKeys = Object.keys(dict).filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      const src = dict[k];
      if (src === undefined) continue;
      if (!(src instanceof Tensor)) throw new TypeError(`${this.typeName}.loadStateDict: '${k}' is not a Tensor`);
      const [a, b] = [t.shape, src.shape];
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) mismatched.push(`${k}: expected [${a.join(', ')}], got [${b.join(', ')}]`);
    }
    const problems = [
      ...(strict && missingKeys.length ? [`missing keys: ${missingKeys.join(', ')}`] : []),
      ...(strict && unexpectedKeys.length ? [`unexpected keys: ${unexpectedKeys.join(', ')}`] : []),
      ...(mismatched.length ? [`shape mismatches: ${mismatched.join('; ')}`] : []),
    ];
    if (problems.length) throw new Error(`${this.typeName}.loadStateDict: ${problems.join('. ')}`);
    noGrad(() => {
      for (const [k, t] of own) {
        const src = dict[k];
        if (src !== undefined) t.copy_(src);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // ---- printing ----
  toString(): string {
    const kids = this.namedChildren();
    if (kids.length === 0) return `${this.typeName}()`;
    const lines = kids.map(([name, m]) => `  (${name || '-'}): ${String(m).replace(/\n/g, '\n  ')}`);
    return `${this.typeName}(\n${lines.join('\n')}\n)`;
  }
  [inspect.custom](): string {
    return `${this.toString()}\n${this.numParameters().toLocaleString('en-US')} parameters`;
  }
}

export function joinKey(prefix: string, key: string): string {
  if (key === '') return prefix;
  return prefix === '' ? key : `${prefix}.${key}`;
}

const DEVICE = /^(cpu|cuda(:\d+)?)$/;
export function splitTarget(target: Device | DType, who: string): [Device | null, DType | null] {
  if (typeof target === 'string' && DTYPES.has(target)) return [null, target as DType];
  if (typeof target === 'string' && DEVICE.test(target)) return [target as Device, null];
  throw new TypeError(`${who}.to: '${String(target)}' is neither a floating-point dtype nor a device ('cpu', 'cuda', 'cuda:N')`);
}
