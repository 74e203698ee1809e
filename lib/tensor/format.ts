// REPL printing, in PyTorch's style: values (summarized when large), then shape, dtype, device, gradFn.
import type { Tensor } from './core';

const SUMMARIZE_ABOVE = 1000; // elements
const EDGE_ITEMS = 3;

function formatNumbers(values: number[], isFloat: boolean): (v: number) => string {
  if (!isFloat) return (v) => String(v);
  const finite = values.filter(Number.isFinite);
  const integral = finite.every((v) => Number.isInteger(v));
  const maxAbs = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const minAbs = finite.reduce((m, v) => (v !== 0 ? Math.min(m, Math.abs(v)) : m), Infinity);
  const scientific = maxAbs >= 1e8 || (minAbs < 1e-4 && minAbs !== Infinity && !integral);
  return (v) => {
    if (!Number.isFinite(v)) return String(v).replace('Infinity', 'inf').replace('NaN', 'nan');
    if (scientific) return v.toExponential(4);
    return integral ? `${v}.` : v.toFixed(4);
  };
}

export function formatTensor(t: Tensor): string {
  const shape = t.shape;
  const dtype = t.dtype;
  const isBool = dtype === 'bool';
  const isFloat = dtype.startsWith('float') || dtype === 'bfloat16';
  const flat = Array.from(t.data() as ArrayLike<number | bigint>, (v) => Number(v));
  const summarize = flat.length > SUMMARIZE_ABOVE;
  const fmt = formatNumbers(flat, isFloat);
  const cell = (v: number): string => (isBool ? (v !== 0 ? 'true' : 'false') : fmt(v));
  const width = flat.reduce((w, v) => Math.max(w, cell(v).length), 0);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const render = (dim: number, offset: number, indent: number): string => {
    if (dim === shape.length) return cell(flat[offset] as number).padStart(width);
    const n = shape[dim] as number;
    const idx = summarize && n > 2 * EDGE_ITEMS
      ? [...Array(EDGE_ITEMS).keys(), -1, ...Array.from({ length: EDGE_ITEMS }, (_, i) => n - EDGE_ITEMS + i)]
      : [...Array(n).keys()];
    const parts = idx.map((i) => (i < 0 ? '...' : render(dim + 1, offset + i * (strides[dim] as number), indent + 1)));
    const sep = dim === shape.length - 1 ? ', ' : `,${'\n'.repeat(shape.length - dim - 1)}${' '.repeat(indent + 1)}`;
    return `[${parts.join(sep)}]`;
  };
  const body = shape.length === 0 ? cell(flat[0] as number) : render(0, 0, 'tensor('.length);
  const meta = [`shape=[${shape.join(', ')}]`, `dtype=${dtype}`, `device=${t.device}`];
  const gradFn = t.gradFn;
  if (gradFn !== null) meta.push(`gradFn=${gradFn}`);
  else if (t.requiresGrad) meta.push('requiresGrad=true');
  return `tensor(${body}, ${meta.join(', ')})`;
}
