// Op families are written once, as functions taking the tensor first; installMethods() also makes
// them Tensor methods, and MethodsOf<> gives the methods their types.
import { Tensor } from './core';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOp = (self: Tensor, ...args: any[]) => unknown;

export type MethodsOf<F extends Record<string, AnyOp>> = {
  [K in keyof F]: F[K] extends (self: Tensor, ...args: infer A) => infer R ? (...args: A) => R : never;
};

export function installMethods(fns: Record<string, AnyOp>): void {
  for (const [name, fn] of Object.entries(fns)) {
    Object.defineProperty(Tensor.prototype, name, {
      value: function (this: Tensor, ...args: unknown[]) {
        return fn(this, ...args);
      },
      writable: true,
      configurable: true,
    });
  }
}
