// Moving between devices and dtypes, and leaving the autograd graph.
import type { DType, Device } from '../types';
import { Op, Tensor, callTensor } from './core';
import { installMethods, type MethodsOf } from './methods';

const TO_DTYPE = new Op('aten::to', 'dtype');
const TO_DEVICE = new Op('aten::to', 'device');
const DETACH = new Op('aten::detach');
const DTYPES = new Set<string>(['float32', 'float64', 'bfloat16', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

/** A tensor on `target` (a device or a dtype); when nothing changes it shares self's data, as in PyTorch. */
function to(self: Tensor, target: Device | DType, opts: { dtype?: DType; nonBlocking?: boolean; copy?: boolean } = {}): Tensor {
  if (typeof target !== 'string') throw new TypeError(`to: target must be a device or dtype name, got ${typeof target}`);
  if (DTYPES.has(target)) return callTensor(TO_DTYPE, self, target, opts.nonBlocking ?? false, opts.copy ?? false);
  if (!/^(cpu|cuda(:\d+)?)$/.test(target)) {
    throw new TypeError(`to: '${target}' is neither a dtype (${[...DTYPES].join(', ')}) nor a device ('cpu', 'cuda', 'cuda:N')`);
  }
  return callTensor(TO_DEVICE, self, target, opts.dtype ?? self.dtype, opts.nonBlocking ?? false, opts.copy ?? false);
}

const moveOps = {
  to,
  cpu: (self: Tensor): Tensor => to(self, 'cpu'),
  cuda: (self: Tensor, index?: number): Tensor => to(self, index === undefined ? 'cuda' : `cuda:${index}`),
  float: (self: Tensor): Tensor => to(self, 'float32'),
  double: (self: Tensor): Tensor => to(self, 'float64'),
  half: (self: Tensor): Tensor => to(self, 'float16'),
  bfloat16: (self: Tensor): Tensor => to(self, 'bfloat16'),
  long: (self: Tensor): Tensor => to(self, 'int64'),
  int: (self: Tensor): Tensor => to(self, 'int32'),
  bool: (self: Tensor): Tensor => to(self, 'bool'),
  /** The same values, cut from the autograd graph (shares storage). */
  detach: (self: Tensor): Tensor => callTensor(DETACH, self),
};

installMethods(moveOps);

declare module './core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Tensor extends MethodsOf<typeof moveOps> {}
}
