// What save() accepts, checked before any file is touched, and each tensor's bytes.
import { Tensor } from '../tensor';
import { infoForDtype, type DtypeInfo } from './dtypes';
import { tensorBytes } from './bytes';
import { describe, fail } from './errors';

export type TensorDict = Record<string, Tensor>;

/** Anything with a state dict: modules (duck-typed, as they are defined elsewhere). */
export interface HasStateDict {
  stateDict(): TensorDict;
}

export type TensorSource = TensorDict | HasStateDict;

const hasStateDict = (v: unknown): v is HasStateDict =>
  v !== null && typeof v === 'object' && typeof (v as { stateDict?: unknown }).stateDict === 'function';

/** The named tensors to write, each checked: a live Tensor of a dtype the format has. */
export function tensorsOf(op: string, file: string, source: TensorSource): { name: string; info: DtypeInfo; shape: number[]; item: Tensor }[] {
  const dict: unknown = hasStateDict(source) ? source.stateDict() : source;
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict) || dict instanceof Tensor) {
    const got = dict instanceof Tensor ? 'a Tensor' : Array.isArray(dict) ? 'an array' : dict === null ? 'null' : typeof dict;
    throw new TypeError(`${op}: ${file}: expected a dict of tensors or an object with stateDict(), got ${got}`);
  }
  return Object.entries(dict as Record<string, unknown>).map(([name, t]) => {
    const where = `${op}: ${file}: tensor ${JSON.stringify(name)}`;
    if (name === '__metadata__') throw new TypeError(`${where}: the name __metadata__ is reserved by the format`);
    if (!(t instanceof Tensor)) throw new TypeError(`${where} is not a Tensor (got ${t === null ? 'null' : Array.isArray(t) ? 'an array' : typeof t})`);
    if (t.isDisposed) throw fail(op, file, `tensor ${JSON.stringify(name)} is disposed`);
    const info = infoForDtype(t.dtype);
    if (info === undefined) throw new TypeError(`${where}: dtype ${t.dtype} has no safetensors code`);
    return { name, info, shape: t.shape, item: t };
  });
}

/** The tensor's little-endian bytes, with a failure named by file and tensor. */
export function bytesOfTensor(op: string, file: string, name: string, t: Tensor, info: DtypeInfo): Uint8Array {
  try {
    return tensorBytes(t, info);
  } catch (e) {
    throw fail(op, file, `cannot read tensor ${JSON.stringify(name)} (${describe(e)})`, e);
  }
}
