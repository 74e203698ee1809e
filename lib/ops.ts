// The typed escape hatch to the long tail of ATen: any operator by name and overload.
//   msam.ops.call('aten::lerp', 'Scalar', a, b, 0.5)
//   msam.ops.call('aten::std', 'correction', x, [1], { correction: 0, keepdim: true })
import { native } from './native';
import { Op, type OpResult, callOp, callOpAsync } from './tensor/core';

const cache = new Map<string, Op>();
function resolve(name: string, overload: string): Op {
  if (typeof name !== 'string' || !name.includes('::')) {
    throw new TypeError(`ops.call: operator name must look like 'aten::add', got ${JSON.stringify(name)}`);
  }
  const key = `${name}.${overload}`;
  let op = cache.get(key);
  if (op === undefined) {
    op = new Op(name, overload);
    void op.id; // resolve now, so an unknown name throws here
    cache.set(key, op);
  }
  return op;
}

export const ops = {
  /**
   * Calls an operator: positional arguments in schema order (undefined for a default), optionally
   * followed by an object of keyword arguments. Tensors, numbers, booleans, strings, dtype and
   * device names, and arrays of them convert by the schema; results come back as tensors,
   * numbers or arrays. Runs through the dispatcher, so autograd records it.
   */
  call(name: string, overload: string, ...args: unknown[]): OpResult {
    return callOp(resolve(name, overload), ...args);
  },
  /** The same, on a libuv worker thread: the event loop stays free while it runs. */
  callAsync(name: string, overload: string, ...args: unknown[]): Promise<OpResult> {
    let op: Op;
    try {
      op = resolve(name, overload);
    } catch (e) {
      return Promise.reject(e); // a Promise API rejects; it does not throw synchronously
    }
    return callOpAsync(op, ...args);
  },
  /** The operator's schema, e.g. 'aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor'. */
  schema(name: string, overload = ''): string {
    return native.opSchema(resolve(name, overload).id);
  },
};
