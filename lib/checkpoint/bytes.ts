// Tensor <-> little-endian bytes, bit-exact: float16/bfloat16 travel as their int16 bits (data()
// would widen them), bool as its bytes. data() itself copies CUDA tensors to the CPU and makes
// non-contiguous ones contiguous.
import { endianness } from 'node:os';
import { native } from '../native';
import { Tensor } from '../tensor';
import { Op, callTensor } from '../tensor/core';
import type { Device } from '../types';
import type { DtypeInfo } from './dtypes';

const VIEW_DTYPE = new Op('aten::view', 'dtype');
const LITTLE_ENDIAN = endianness() === 'LE';

/** Reverses each `size`-byte element in place (only on a big-endian host). */
function toOrFromLittleEndian(bytes: Uint8Array, size: number): void {
  if (LITTLE_ENDIAN || size === 1) return;
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

/** The tensor's elements in C order as little-endian bytes (a fresh copy). */
export function tensorBytes(t: Tensor, info: DtypeInfo): Uint8Array {
  let data: ArrayBufferView;
  if (info.bits === info.dtype || info.dtype === 'bool') {
    data = t.data();
  } else {
    // Reinterpret, never convert: a detached view whose elements are the same bits.
    const detached = t.detach();
    try {
      const view = callTensor(VIEW_DTYPE, detached, info.bits);
      try {
        data = view.data();
      } finally {
        view.dispose();
      }
    } finally {
      detached.dispose();
    }
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  toOrFromLittleEndian(bytes, info.size);
  return bytes;
}

const TYPED: Record<string, (b: ArrayBuffer) => ArrayBufferView> = {
  uint8: (b) => new Uint8Array(b),
  int8: (b) => new Int8Array(b),
  int16: (b) => new Int16Array(b),
  int32: (b) => new Int32Array(b),
  int64: (b) => new BigInt64Array(b),
  float32: (b) => new Float32Array(b),
  float64: (b) => new Float64Array(b),
};

/**
 * A tensor of `shape` from little-endian bytes in a buffer of its own (byte-swapped in place on a
 * big-endian host), on `device`.
 */
export function tensorFromBytes(buffer: ArrayBuffer, info: DtypeInfo, shape: number[], device: Device): Tensor {
  toOrFromLittleEndian(new Uint8Array(buffer), info.size);
  const typed = (TYPED[info.bits] as (b: ArrayBuffer) => ArrayBufferView)(buffer);
  // raw holds the bits; a view reinterprets them as the dtype (sharing storage); to() moves it.
  const made: Tensor[] = [new Tensor(native.fromData(typed, shape, null, null, false))];
  try {
    if (info.bits !== info.dtype) made.push(callTensor(VIEW_DTYPE, made[made.length - 1], info.dtype));
    if (device !== 'cpu') made.push((made[made.length - 1] as Tensor).to(device));
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
  const result = made.pop() as Tensor;
  for (const t of made) t.dispose(); // handles only: storage shared with result stays alive
  return result;
}
