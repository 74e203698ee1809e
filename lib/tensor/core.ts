// The Tensor class (a typed wrapper around a native handle) and the bridge every op goes through.
// Op families live in sibling files that add their methods to Tensor (math.ts, shape.ts, nn.ts, ...).
import { inspect } from 'node:util';
import { native, type TensorHandle } from '../native';
import type { DType, Device, NestedArray, TypedArray } from '../types';
import { formatTensor } from './format';
import { trackTensor } from './memory';

/** A reference to an ATen operator overload, resolved to a native id on first use. */
export class Op {
  #id = -1;
  constructor(
    readonly name: string,
    readonly overload = '',
  ) {}
  get id(): number {
    if (this.#id < 0) this.#id = native.opHandle(this.name, this.overload);
    return this.#id;
  }
}

// The GC backstop: a Tensor collected without dispose() gives its native tensor back. Explicit
// dispose()/tidy() stay the way to free memory promptly (native memory does not press V8's GC
// much, though CPU bytes are reported to it with napi_adjust_external_memory).
const backstop = new FinalizationRegistry<TensorHandle>((handle) => native.dispose(handle));

// Registering costs about as much as a small op, and most tensors are disposed within the task
// that made them (an expression's temporaries, tidy() scopes). So a new tensor is registered at
// the end of the current task, or once 4,096 are waiting, and only if it is still alive then. A
// tensor dropped undisposed is thus released by GC as before, at most one batch later.
const unregistered: Tensor[] = [];
let flushQueued = false;
function registerPending(): void {
  flushQueued = false;
  for (const t of unregistered) if (!t.disposedHere) backstop.register(t, t.handle);
  unregistered.length = 0;
}
function registerLater(t: Tensor): void {
  unregistered.push(t);
  if (unregistered.length >= 4096) {
    registerPending();
  } else if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(registerPending);
  }
}

export class Tensor {
  /** @internal the native handle; use the methods instead. */
  readonly handle: TensorHandle;

  /** @internal tensors are made by factories and ops, not by `new`. */
  constructor(handle: TensorHandle) {
    this.handle = handle;
    registerLater(this);
    trackTensor(this);
  }

  get shape(): number[] {
    return native.shape(this.handle);
  }
  get dtype(): DType {
    return native.dtype(this.handle) as DType;
  }
  get device(): Device {
    return native.info(this.handle)[2] as Device;
  }
  get numel(): number {
    return native.numel(this.handle);
  }
  get ndim(): number {
    return native.shape(this.handle).length;
  }
  get requiresGrad(): boolean {
    return native.info(this.handle)[3];
  }
  set requiresGrad(value: boolean) {
    this.#setRequiresGrad(value, 'requiresGrad');
  }
  /** The name of the autograd node that made this tensor (e.g. 'AddBackward0'), or null. */
  get gradFn(): string | null {
    return native.info(this.handle)[4];
  }
  get isLeaf(): boolean {
    return native.info(this.handle)[5];
  }
  /** The gradient accumulated by backward(), or null. */
  get grad(): Tensor | null {
    const g = native.getGrad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  set grad(value: Tensor | null) {
    native.setGrad(this.handle, value === null ? null : value.handle);
  }
  get isDisposed(): boolean {
    return native.isDisposed(this.handle);
  }

  /** A typed-array copy of the values (float16/bfloat16 as Float32Array, bool as Uint8Array). */
  data(): TypedArray {
    return native.data(this.handle);
  }

  /** The values as nested arrays of numbers (booleans for bool tensors). */
  toArray(): NestedArray {
    const flat = this.data();
    const isBool = this.dtype === 'bool';
    const shape = this.shape;
    const at = (i: number): number | boolean => {
      const v = flat[i] as number | bigint;
      return isBool ? v !== 0 : Number(v);
    };
    if (shape.length === 0) return at(0);
    let offset = 0;
    const build = (dim: number): NestedArray[] => {
      const n = shape[dim] as number;
      const out: NestedArray[] = new Array<NestedArray>(n);
      for (let i = 0; i < n; i++) out[i] = dim === shape.length - 1 ? at(offset++) : build(dim + 1);
      return out;
    };
    return build(0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    return Number(native.item(this.handle));
  }

  /** Frees the native tensor now; using it afterwards throws. Idempotent. */
  dispose(): void {
    native.dispose(this.handle);
    this.disposedHere = true;
  }
  /** @internal dispose() was called on this object (the GC backstop need not watch it). */
  disposedHere = false;
  [Symbol.dispose](): void {
    this.dispose();
  }

  backward(grad?: Tensor, options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward(this.handle, grad === undefined ? null : grad.handle, options.retainGraph, options.createGraph ?? false);
  }
  /** Keeps .grad of this non-leaf tensor after backward(). */
  retainGrad(): this {
    native.retainGrad(this.handle);
    return this;
  }
  /** Sets requiresGrad in place and returns this (PyTorch's requires_grad_). */
  requiresGrad_(value = true): this {
    this.#setRequiresGrad(value, 'requiresGrad_');
    return this;
  }
  #setRequiresGrad(value: boolean, what: string): void {
    // libtorch ignores this on a non-leaf (it keeps requiring grad through its gradFn); PyTorch throws.
    if (!value) {
      const [, , , requiresGrad, gradFn, isLeaf] = native.info(this.handle);
      if (requiresGrad && !isLeaf) {
        throw new Error(
          `${what}: only leaf tensors can stop requiring grad (this one was made by ${gradFn}); use detach() for a tensor outside the graph`,
        );
      }
    }
    native.setRequiresGrad(this.handle, value);
  }

  toString(): string {
    return this.isDisposed ? 'tensor(<disposed>)' : formatTensor(this);
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

function toNativeArg(a: unknown): unknown {
  if (a instanceof Tensor) return a.handle;
  if (Array.isArray(a)) return a.map(toNativeArg);
  if (a !== null && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) out[k] = toNativeArg(v);
    return out;
  }
  return a;
}

function fromNative(v: unknown, args: readonly unknown[]): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((e) => fromNative(e, args));
  // A handle: an in-place op hands back its input's handle, which maps back to that Tensor.
  for (const a of args) if (a instanceof Tensor && a.handle === v) return a;
  return new Tensor(v as TensorHandle);
}

/** What an op returns, seen from JS: tensors, numbers, booleans, or arrays of them. */
export type OpResult = Tensor | number | boolean | string | null | OpResult[];

/** Calls an ATen operator: positional arguments in schema order, optionally then an object of keyword arguments. */
export function callOp(op: Op, ...args: unknown[]): OpResult {
  // The common arities skip the spread: this is the per-op overhead every call pays.
  const id = op.id;
  let result: unknown;
  switch (args.length) {
    case 1:
      result = native.call(id, toNativeArg(args[0]));
      break;
    case 2:
      result = native.call(id, toNativeArg(args[0]), toNativeArg(args[1]));
      break;
    case 3:
      result = native.call(id, toNativeArg(args[0]), toNativeArg(args[1]), toNativeArg(args[2]));
      break;
    default:
      result = native.call(id, ...args.map(toNativeArg));
  }
  return fromNative(result, args) as OpResult;
}

/** callOp for ops known to return one tensor. */
export const callTensor = callOp as (op: Op, ...args: unknown[]) => Tensor;

/** callOp for ops known to return a list of tensors. */
export const callTensors = callOp as (op: Op, ...args: unknown[]) => Tensor[];

/** The same op on a libuv worker thread; the event loop stays free. */
export async function callOpAsync(op: Op, ...args: unknown[]): Promise<OpResult> {
  return fromNative(await native.callAsync(op.id, ...args.map(toNativeArg)), args) as OpResult;
}

/** The TypeError for a JS argument that is not a Tensor, naming the op and argument. */
export function expectTensor(v: unknown, what: string): Tensor {
  if (v instanceof Tensor) return v;
  const got = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
  throw new TypeError(`${what} must be a Tensor, got ${got}`);
}
