// Op families are written once, as functions taking the tensor first; installMethods() also makes
// them Tensor methods, and MethodsOf<> gives the methods their types.
import { Tensor } from './core';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOp = (self: Tensor, ...args: any[]) => unknown;

export type MethodsOf<F extends Record<string, AnyOp>> = {
  [K in keyof F]: F[K] extends (self: Tensor, ...args: infer A) => infer R ? (...args: A) => R : never;
};

// A method forwards to its function. Functions with a fixed list of parameters (fn.length >= 2:
// at most four after the tensor) get a wrapper without rest/spread, which is measurably cheaper on
// every op; the others (unary ops, index(...indices)) get the general one.
function methodOf(fn: AnyOp): (this: Tensor, ...args: unknown[]) => unknown {
  if (fn.length >= 2) {
    return function (this: Tensor, a?: unknown, b?: unknown, c?: unknown, d?: unknown) {
      return fn(this, a, b, c, d);
    };
  }
  return function (this: Tensor, ...args: unknown[]) {
    return fn(this, ...args);
  };
}

export function installMethods(fns: Record<string, AnyOp>): void {
  for (const [name, fn] of Object.entries(fns)) {
    Object.defineProperty(Tensor.prototype, name, { value: methodOf(fn), writable: true, configurable: true });
  }
}
