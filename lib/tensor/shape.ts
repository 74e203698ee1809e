// Views and reshaping, joining and splitting, gathering and scattering, and indexing.
import { Op, Tensor, callTensor, callTensors, expectTensor } from './core';
import { installMethods, type MethodsOf } from './methods';

const RESHAPE = new Op('aten::reshape');

/** view(2, 3) and view([2, 3]) alike: one array, or the numbers given one by one. */
const sizes = (args: [number[]] | number[]): number[] => (args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as number[]));
const VIEW = new Op('aten::view');
const PERMUTE = new Op('aten::permute');
const TRANSPOSE = new Op('aten::transpose', 'int');
const FLATTEN = new Op('aten::flatten', 'using_ints');
const SQUEEZE = new Op('aten::squeeze');
const SQUEEZE_DIM = new Op('aten::squeeze', 'dim');
const UNSQUEEZE = new Op('aten::unsqueeze');
const EXPAND = new Op('aten::expand');
const CONTIGUOUS = new Op('aten::contiguous');
const CLONE = new Op('aten::clone');
const CAT = new Op('aten::cat');
const STACK = new Op('aten::stack');
const SPLIT = new Op('aten::split', 'Tensor');
const SPLIT_SIZES = new Op('aten::split_with_sizes');
const CHUNK = new Op('aten::chunk');
const TENSOR_SPLIT_SECTIONS = new Op('aten::tensor_split', 'sections');
const TENSOR_SPLIT_INDICES = new Op('aten::tensor_split', 'indices');
const NARROW = new Op('aten::narrow');
const INDEX_SELECT = new Op('aten::index_select');
const GATHER = new Op('aten::gather');
const SCATTER_SRC = new Op('aten::scatter', 'src');
const SCATTER_VALUE = new Op('aten::scatter', 'value');
const SCATTER_ADD = new Op('aten::scatter_add');
const SELECT = new Op('aten::select', 'int');
const SLICE = new Op('aten::slice', 'Tensor');
const INDEX = new Op('aten::index', 'Tensor');
const INDEX_PUT_ = new Op('aten::index_put_');
const MASKED_FILL = new Op('aten::masked_fill', 'Scalar');
const MASKED_FILL_ = new Op('aten::masked_fill_', 'Scalar');
const FLIP = new Op('aten::flip');
const REPEAT = new Op('aten::repeat');

/**
 * One index of Tensor.index(): an integer (selects, drops the dim), a slice string in Python's
 * syntax ('1:3', ':', '::2', '-2:'), null (a new dim of size 1), '...' (the remaining dims),
 * or an integer/bool Tensor (advanced indexing, as in PyTorch).
 */
export type Index = number | string | null | Tensor;

function parseSlice(spec: string): { start: number | null; end: number | null; step: number } {
  const parts = spec.split(':');
  const num = (s: string | undefined, what: string): number | null => {
    if (s === undefined || s.trim() === '') return null;
    const n = Number(s);
    if (!Number.isInteger(n)) throw new TypeError(`index: bad slice '${spec}': ${what} '${s}' is not an integer`);
    return n;
  };
  if (parts.length < 2 || parts.length > 3) throw new TypeError(`index: bad slice '${spec}' (expected 'start:end' or 'start:end:step')`);
  const step = num(parts[2], 'step') ?? 1;
  if (step <= 0) throw new RangeError(`index: slice step must be positive, got ${step} in '${spec}'`);
  return { start: num(parts[0], 'start'), end: num(parts[1], 'end'), step };
}

function index(self: Tensor, ...indices: Index[]): Tensor {
  const ellipses = indices.filter((i) => i === '...').length;
  if (ellipses > 1) throw new TypeError('index: at most one ellipsis (...) is allowed');
  // A bool (or uint8) mask consumes as many dims as it has, as in PyTorch; '...' expands to the rest.
  const width = (i: Index): number => (i instanceof Tensor && (i.dtype === 'bool' || i.dtype === 'uint8') ? i.ndim : 1);
  const consumed = indices.reduce<number>((n, i) => (i === null || i === '...' ? n : n + width(i)), 0);
  const shape = self.shape;
  if (consumed > shape.length) {
    throw new RangeError(`index: too many indices (${consumed}) for a tensor of ${shape.length} dimension(s)`);
  }
  const owned: Tensor[] = [];
  let t = self;
  const step = (next: Tensor): void => {
    if (t !== self) owned.push(t);
    t = next;
  };
  let dim = 0;
  const advanced: (Tensor | null)[] = [];
  try {
    for (const idx of indices) {
      if (idx === '...') {
        const skip = shape.length - consumed;
        for (let k = 0; k < skip; k++) advanced.push(null);
        dim += skip;
      } else if (idx === null) {
        step(callTensor(UNSQUEEZE, t, dim));
        advanced.push(null);
        dim += 1;
      } else if (typeof idx === 'number') {
        if (!Number.isInteger(idx)) throw new TypeError(`index: ${idx} is not an integer`);
        step(callTensor(SELECT, t, dim, idx));
      } else if (typeof idx === 'string') {
        const { start, end, step: by } = parseSlice(idx);
        step(callTensor(SLICE, t, dim, start, end, by));
        advanced.push(null);
        dim += 1;
      } else {
        advanced.push(expectTensor(idx, 'index: a tensor index'));
        dim += 1;
      }
    }
    if (advanced.some((a) => a !== null)) step(callTensor(INDEX, t, advanced));
    if (t === self) t = callTensor(SLICE, self, 0, null, null, 1); // a view, as PyTorch's x[...]
    return t;
  } finally {
    for (const o of owned) if (o !== t) o.dispose();
  }
}

const shapeOps = {
  // A list, or PyTorch's varargs: reshape([2, 3]) or reshape(2, 3).
  reshape: (self: Tensor, ...shape: [number[]] | number[]): Tensor => callTensor(RESHAPE, self, sizes(shape)),
  view: (self: Tensor, ...shape: [number[]] | number[]): Tensor => callTensor(VIEW, self, sizes(shape)),
  permute: (self: Tensor, ...dims: [number[]] | number[]): Tensor => callTensor(PERMUTE, self, sizes(dims)),
  transpose: (self: Tensor, dim0: number, dim1: number): Tensor => callTensor(TRANSPOSE, self, dim0, dim1),
  flatten: (self: Tensor, startDim = 0, endDim = -1): Tensor => callTensor(FLATTEN, self, startDim, endDim),
  squeeze: (self: Tensor, dim?: number): Tensor => (dim === undefined ? callTensor(SQUEEZE, self) : callTensor(SQUEEZE_DIM, self, dim)),
  unsqueeze: (self: Tensor, dim: number): Tensor => callTensor(UNSQUEEZE, self, dim),
  /** Broadcasts to `shape` without copying; -1 keeps a dim. */
  expand: (self: Tensor, shape: number[]): Tensor => callTensor(EXPAND, self, shape),
  contiguous: (self: Tensor): Tensor => callTensor(CONTIGUOUS, self),
  clone: (self: Tensor): Tensor => callTensor(CLONE, self),
  flip: (self: Tensor, dims: number[]): Tensor => callTensor(FLIP, self, dims),
  repeat: (self: Tensor, repeats: number[]): Tensor => callTensor(REPEAT, self, repeats),
  /** Pieces of `size` along dim (the last may be smaller), or pieces of the given sizes. */
  split: (self: Tensor, size: number | number[], dim = 0): Tensor[] =>
    Array.isArray(size) ? callTensors(SPLIT_SIZES, self, size, dim) : callTensors(SPLIT, self, size, dim),
  chunk: (self: Tensor, chunks: number, dim = 0): Tensor[] => callTensors(CHUNK, self, chunks, dim),
  /** numpy.array_split semantics: n near-equal parts (sizes ⌈N/n⌉ then ⌊N/n⌋), or split at indices. */
  tensorSplit: (self: Tensor, sectionsOrIndices: number | number[], dim = 0): Tensor[] =>
    Array.isArray(sectionsOrIndices)
      ? callTensors(TENSOR_SPLIT_INDICES, self, sectionsOrIndices, dim)
      : callTensors(TENSOR_SPLIT_SECTIONS, self, sectionsOrIndices, dim),
  narrow: (self: Tensor, dim: number, start: number, length: number): Tensor => callTensor(NARROW, self, dim, start, length),
  indexSelect: (self: Tensor, dim: number, idx: Tensor): Tensor => callTensor(INDEX_SELECT, self, dim, expectTensor(idx, "indexSelect: argument 'index'")),
  gather: (self: Tensor, dim: number, idx: Tensor): Tensor => callTensor(GATHER, self, dim, expectTensor(idx, "gather: argument 'index'")),
  /** Out of place: a copy of self with values from `src` (a Tensor or a number) written at `index` along dim. */
  scatter: (self: Tensor, dim: number, idx: Tensor, src: Tensor | number): Tensor =>
    typeof src === 'number'
      ? callTensor(SCATTER_VALUE, self, dim, expectTensor(idx, "scatter: argument 'index'"), src)
      : callTensor(SCATTER_SRC, self, dim, expectTensor(idx, "scatter: argument 'index'"), expectTensor(src, "scatter: argument 'src'")),
  scatterAdd: (self: Tensor, dim: number, idx: Tensor, src: Tensor): Tensor =>
    callTensor(SCATTER_ADD, self, dim, expectTensor(idx, "scatterAdd: argument 'index'"), expectTensor(src, "scatterAdd: argument 'src'")),
  /** The sub-tensor at `i` along dim (drops dim). */
  select: (self: Tensor, dim: number, i: number): Tensor => callTensor(SELECT, self, dim, i),
  /** Elements start, start+step, ... < end along dim (a view); null bounds mean the ends. */
  slice: (self: Tensor, dim: number, start: number | null = null, end: number | null = null, step = 1): Tensor =>
    callTensor(SLICE, self, dim, start, end, step),
  index,
  /** Writes `values` at tensor indices (one per leading dim, null for all), as x[indices] = values. */
  indexPut_: (self: Tensor, indices: (Tensor | null)[], values: Tensor, accumulate = false): Tensor =>
    callTensor(INDEX_PUT_, self, indices, expectTensor(values, "indexPut_: argument 'values'"), accumulate),
  maskedFill: (self: Tensor, mask: Tensor, value: number): Tensor => callTensor(MASKED_FILL, self, expectTensor(mask, "maskedFill: argument 'mask'"), value),
  maskedFill_: (self: Tensor, mask: Tensor, value: number): Tensor => callTensor(MASKED_FILL_, self, expectTensor(mask, "maskedFill_: argument 'mask'"), value),
};

installMethods(shapeOps);

declare module './core' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Tensor extends MethodsOf<typeof shapeOps> {}
}

export const cat = (tensors: Tensor[], dim = 0): Tensor => callTensor(CAT, tensors, dim);
export const stack = (tensors: Tensor[], dim = 0): Tensor => callTensor(STACK, tensors, dim);
export const {
  reshape, view, permute, transpose, flatten, squeeze, unsqueeze, expand, contiguous, clone, flip, repeat, split, chunk,
  tensorSplit, narrow, indexSelect, gather, scatter, scatterAdd, select, slice, indexPut_, maskedFill,
} = shapeOps;
