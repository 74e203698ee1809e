// Checkpoints in the safetensors format: bit-exact round trips of every dtype, the reference
// layout, interop with an independent Python implementation (test/fixtures/safetensors_ref.py,
// run with /usr/bin/python3 and its torch), every corruption load() must name, and atomic saves.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { cudaSkipReason } from './helpers/cuda';
import { reference } from './helpers/reference';
import type { DType } from '../lib';

type Code = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
const DTYPE_OF: Record<Code, DType> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const SIZE: Record<Code, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

// ---- bits in and out, without going through lib/checkpoint ----

/** The tensor's elements as little-endian bytes, read through a uint8 view (no conversion). */
function bitsOf(t: msam.Tensor): string {
  const flat = t.detach().contiguous().reshape([-1]);
  const bytes = msam.ops.call('aten::view', 'dtype', flat, 'uint8') as msam.Tensor;
  return Buffer.from(bytes.data() as Uint8Array).toString('hex');
}

/** A tensor whose elements have exactly these little-endian bytes. */
function fromBits(hex: string, code: Code, shape: number[]): msam.Tensor {
  const bytes = msam.tensor(Uint8Array.from(Buffer.from(hex, 'hex')));
  return (msam.ops.call('aten::view', 'dtype', bytes, DTYPE_OF[code]) as msam.Tensor).reshape(shape);
}

const le = (size: number, words: (number | bigint)[]): string =>
  words
    .map((w) => {
      const b = Buffer.alloc(size);
      if (size === 8) b.writeBigUInt64LE(BigInt(w));
      else b.writeUIntLE(Number(w), 0, size);
      return b.toString('hex');
    })
    .join('');

/** Every dtype, with the bit patterns a conversion would lose: -0, infinities, NaN payloads and
 * signs, signalling NaNs, subnormals, extremes; plus a scalar and an empty tensor. */
const PATTERNS: Record<string, { code: Code; shape: number[]; hex: string }> = {
  f32: {
    code: 'F32',
    shape: [3, 4],
    hex: le(4, [0x0, 0x80000000, 0x3f800000, 0xbfc00000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fc12345, 0xffc00001, 0x7f800001, 0x1, 0x7f7fffff]),
  },
  f64: {
    code: 'F64',
    shape: [2, 5],
    hex: le(8, [0n, 0x8000000000000000n, 0x3ff0000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0x7ff8000000000123n, 0xfff0000000000001n, 1n, 0x7fefffffffffffffn]),
  },
  f16: { code: 'F16', shape: [12], hex: le(2, [0x0, 0x8000, 0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x7e01, 0x7c01, 0x1, 0x7bff, 0xfbff, 0x3555]) },
  bf16: { code: 'BF16', shape: [2, 2, 3], hex: le(2, [0x0, 0x8000, 0x3f80, 0x7f80, 0xff80, 0x7fc0, 0x7fc1, 0x7f81, 0x1, 0x7f7f, 0xc2f7, 0x3e9a]) },
  i64: { code: 'I64', shape: [6], hex: le(8, [0n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n, 0x20000000000001n, 42n]) },
  i32: { code: 'I32', shape: [2, 2], hex: le(4, [0, 0xffffffff, 0x7fffffff, 0x80000000]) },
  i16: { code: 'I16', shape: [4], hex: le(2, [0, 0xffff, 0x7fff, 0x8000]) },
  i8: { code: 'I8', shape: [4], hex: '00ff7f80' },
  u8: { code: 'U8', shape: [5], hex: '00017f80ff' },
  bool: { code: 'BOOL', shape: [2, 2], hex: '01000001' },
  scalar: { code: 'F32', shape: [], hex: le(4, [0x40500000]) },
  empty: { code: 'F16', shape: [0, 3], hex: '' },
};

function patternTensors(): Record<string, msam.Tensor> {
  return Object.fromEntries(Object.entries(PATTERNS).map(([k, p]) => [k, fromBits(p.hex, p.code, p.shape)]));
}

// ---- files ----

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-ckpt-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
let counter = 0;
/** A fresh directory for one test, so that its listing shows exactly what the test left. */
function freshDir(): string {
  const d = path.join(dir, `t${counter++}`);
  fs.mkdirSync(d);
  return d;
}

/** A file from a header (object or raw text) and a byte buffer, with an optional length override. */
function rawFile(header: unknown, data: Buffer | number = 0, opts: { length?: bigint; pad?: boolean } = {}): string {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const json = opts.pad === false ? text : Buffer.concat([text, Buffer.alloc(-text.length & 7, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(opts.length ?? BigInt(json.length));
  const file = path.join(freshDir(), 'x.safetensors');
  fs.writeFileSync(file, Buffer.concat([prefix, json, typeof data === 'number' ? Buffer.alloc(data) : data]));
  return file;
}

/** Header length, JSON text and data of a file msam wrote. */
function parts(file: string): { n: number; json: string; padding: string; data: Buffer } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = buf.subarray(8, 8 + n).toString('utf8');
  const json = header.trimEnd();
  return { n, json, padding: header.slice(json.length), data: buf.subarray(8 + n) };
}

function expectLoadError(file: string, message: RegExp): msam.CheckpointError {
  let error: unknown;
  try {
    msam.load(file);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(msam.CheckpointError);
  const e = error as msam.CheckpointError;
  expect(e.message).toContain(file);
  expect(e.message).toMatch(message);
  expect(e.file.startsWith(file)).toBe(true);
  return e;
}

/** One F32 tensor of 2 elements: 8 bytes of data. */
const GOOD_HEADER = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

// ---- Python ----

const SCRIPT = path.join(__dirname, 'fixtures', 'safetensors_ref.py');
const python = reference(['torch'], 'checkpoint.test.ts (safetensors interop with PyTorch)');
const PYTHON = python.python as string;

interface PyTensor {
  dtype: Code;
  shape: number[];
  hex: string;
  values: (number | string)[];
}
interface PyReport {
  tensors: Record<string, PyTensor>;
  metadata: Record<string, string> | null;
  order: string[];
  header_length: number | null;
  header_padding: string;
}

function runPython(command: 'read' | 'write', file: string): PyReport {
  const r = spawnSync(PYTHON, [SCRIPT, command, file], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`safetensors_ref.py ${command} ${file} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as PyReport;
}

/** Element values as safetensors_ref.py reports them: floats widened exactly, ints and bools as decimal strings. */
function valuesOf(t: msam.Tensor): (number | string)[] {
  if (msam.FLOAT_DTYPES.includes(t.dtype)) {
    return Array.from(t.to('float64').data() as Float64Array, (v) => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v));
  }
  return Array.from(t.data() as ArrayLike<number | bigint>, (v) => String(v));
}

function expectSameValues(actual: (number | string)[], expected: (number | string)[]): void {
  expect(actual.length).toBe(expected.length);
  // Object.is tells -0 from 0, which toEqual also does; this names the element that differs.
  actual.forEach((v, i) => expect(Object.is(v, expected[i]), `element ${i}: ${String(v)} vs ${String(expected[i])}`).toBe(true));
}

// ==================================================================================================

describe('round trips', () => {
  it('every dtype, bit-exact (NaN payloads, signalling NaNs, -0, subnormals, f16/bf16 patterns, scalar, empty)', () => {
    const file = path.join(freshDir(), 'all.safetensors');
    const tensors = patternTensors();
    msam.save(file, tensors);
    const { tensors: back, metadata } = msam.load(file);
    expect(metadata).toBeNull();
    expect(Object.keys(back).sort()).toEqual(Object.keys(PATTERNS).sort());
    for (const [name, p] of Object.entries(PATTERNS)) {
      const t = back[name] as msam.Tensor;
      expect(t.dtype, name).toBe(DTYPE_OF[p.code]);
      expect(t.shape, name).toEqual(p.shape);
      expect(bitsOf(t), name).toBe(p.hex);
      expect(t.device).toBe('cpu');
    }
  });

  it('non-contiguous tensors are written in C order; tensors that require grad are written as values', () => {
    const file = path.join(freshDir(), 'views.safetensors');
    const base = msam.arange(24, undefined, 1, { dtype: 'float32' }).reshape([2, 3, 4]);
    const perm = base.permute([2, 0, 1]); // [4, 2, 3], strided
    const half = msam.arange(6, undefined, 1, { dtype: 'bfloat16' }).reshape([2, 3]).transpose(0, 1);
    const sliced = msam.arange(10).reshape([2, 5]).transpose(0, 1).flip([0]);
    const grad = msam.tensor([1.5, -2.5], { requiresGrad: true });
    msam.save(file, { perm, half, sliced, grad });
    const back = msam.load(file).tensors;
    expect((back.perm as msam.Tensor).toArray()).toEqual(perm.toArray());
    expect((back.half as msam.Tensor).toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(bitsOf(back.half as msam.Tensor)).toBe(bitsOf(half));
    expect((back.sliced as msam.Tensor).toArray()).toEqual(sliced.toArray());
    expect((back.grad as msam.Tensor).toArray()).toEqual([1.5, -2.5]);
    expect((back.grad as msam.Tensor).requiresGrad).toBe(false);
  });

  it('names: integer-like, unicode, dotted, __proto__, empty string', () => {
    const file = path.join(freshDir(), 'names.safetensors');
    const dict: Record<string, msam.Tensor> = {};
    for (const [i, name] of ['10', '2', 'layer.ünï.weight', '__proto__', '', 'a"quote\\back', '😀', '\uffff'].entries()) {
      Object.defineProperty(dict, name, { value: msam.tensor([i], { dtype: 'int32' }), enumerable: true });
    }
    msam.save(file, dict);
    const back = msam.load(file).tensors;
    expect(Object.keys(back).sort()).toEqual(Object.keys(dict).sort());
    for (const name of Object.keys(dict)) expect(Object.getOwnPropertyDescriptor(back, name)?.value.toArray(), name).toEqual((dict[name] as msam.Tensor).toArray());
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('an empty dict', () => {
    const file = path.join(freshDir(), 'empty.safetensors');
    msam.save(file, {});
    expect(msam.load(file).tensors).toEqual({});
  });

  it('anything with stateDict() (a module, duck-typed)', () => {
    const file = path.join(freshDir(), 'module.safetensors');
    const weight = msam.randn([3, 2]);
    const module = { stateDict: () => ({ 'fc.weight': weight, 'fc.bias': msam.zeros([3]) }) };
    msam.save(file, module);
    const back = msam.load(file).tensors;
    expect(bitsOf(back['fc.weight'] as msam.Tensor)).toBe(bitsOf(weight));
    expect(Object.keys(back).sort()).toEqual(['fc.bias', 'fc.weight']);
  });

  it('JSON metadata through the sidecar, and strings through the header', () => {
    const file = path.join(freshDir(), 'meta.safetensors');
    const metadata = { epoch: 7, config: { lr: 0.1, m: 32, schedule: [0.5, 0.75] }, note: 'ünï', nothing: null, ok: true };
    msam.save(file, { w: msam.ones([2]) }, { metadata, headerMetadata: { format: 'pt', run: 'a' } });
    expect(JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'))).toEqual(metadata);
    const back = msam.load(file);
    expect(back.metadata).toEqual(metadata);
    expect(back.headerMetadata).toEqual({ format: 'pt', run: 'a' });

    // A later save without metadata takes the sidecar away: it no longer describes the file.
    msam.save(file, { w: msam.zeros([2]) });
    expect(fs.existsSync(`${file}.json`)).toBe(false);
    expect(msam.load(file).metadata).toBeNull();
  });

  it('metadata that JSON would not give back the same is refused before anything is written', () => {
    const d = freshDir();
    const file = path.join(d, 'bad.safetensors');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ lr: NaN }, /metadata\.lr is NaN/],
      [{ when: new Date(0) }, /metadata\.when is a Date/],
      [{ t: msam.ones([1]) }, /metadata\.t is a Tensor/],
      [{ a: [1, undefined] }, /metadata\.a\[1\] is undefined/],
      [{ n: 1n }, /metadata\.n is a bigint/],
      [cyclic, /metadata\.self refers back to itself/],
    ];
    for (const [metadata, message] of bad) expect(() => msam.save(file, { w: msam.ones([1]) }, { metadata })).toThrow(message);
    expect(() => msam.save(file, { w: msam.ones([1]) }, { headerMetadata: { n: 1 as unknown as string } })).toThrow(/headerMetadata\.n must be a string/);
    expect(fs.readdirSync(d)).toEqual([]);
  });

  it('writes the reference layout: dtypes by descending alignment then names by bytes, 8-byte padded with spaces', () => {
    const file = path.join(freshDir(), 'layout.safetensors');
    msam.save(file, {
      b8: msam.tensor([1, 0], { dtype: 'uint8' }),
      z64: msam.tensor([1], { dtype: 'float64' }),
      a64: msam.tensor([2], { dtype: 'int64' }),
      h: msam.tensor([1, 2, 3], { dtype: 'float16' }),
      g: msam.tensor([1], { dtype: 'bfloat16' }),
      q: msam.tensor([true]),
      f: msam.tensor([1, 2], { dtype: 'float32' }),
    });
    const { n, json, padding, data } = parts(file);
    expect(n % 8).toBe(0);
    expect(padding).toMatch(/^ {0,7}$/);
    expect(json).toBe(
      '{"__metadata__":{"msam.metadata":"none"},' +
        '"a64":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
        '"z64":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},' +
        '"f":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},' +
        '"g":{"dtype":"BF16","shape":[1],"data_offsets":[24,26]},' +
        '"h":{"dtype":"F16","shape":[3],"data_offsets":[26,32]},' +
        '"b8":{"dtype":"U8","shape":[2],"data_offsets":[32,34]},' +
        '"q":{"dtype":"BOOL","shape":[1],"data_offsets":[34,35]}}',
    );
    expect(data.length).toBe(35);
    expect(data.readBigInt64LE(0)).toBe(2n);
    expect(data.readDoubleLE(8)).toBe(1);
  });

  it('the reference implementation\'s own serialization example, byte for byte (plus msam\'s marker)', () => {
    // huggingface/safetensors tensor.rs test_serialization: {"attn.0": F32 [1, 2, 3] = 0..5}.
    const file = path.join(freshDir(), 'ref.safetensors');
    msam.save(file, { 'attn.0': msam.arange(6, undefined, 1, { dtype: 'float32' }).reshape([1, 2, 3]) });
    const json = '{"__metadata__":{"msam.metadata":"none"},"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    const padded = json + ' '.repeat(-json.length & 7);
    const expected = Buffer.alloc(8 + padded.length + 24);
    expected.writeBigUInt64LE(BigInt(padded.length));
    expected.write(padded, 8, 'utf8');
    [0, 1, 2, 3, 4, 5].forEach((v, i) => expected.writeFloatLE(v, 8 + padded.length + 4 * i));
    expect(fs.readFileSync(file).equals(expected)).toBe(true);
  });

  it.skipIf(cudaSkipReason !== null)('CUDA tensors are saved from the GPU and loaded onto it (device option)', () => {
    const file = path.join(freshDir(), 'cuda.safetensors');
    const tensors = patternTensors();
    const onGpu = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.to('cuda')]));
    onGpu.strided = msam.arange(12, undefined, 1, { dtype: 'float16', device: 'cuda' }).reshape([3, 4]).transpose(0, 1);
    msam.save(file, onGpu);
    const back = msam.load(file, { device: 'cuda' }).tensors;
    for (const [name, p] of Object.entries(PATTERNS)) {
      expect((back[name] as msam.Tensor).device, name).toMatch(/^cuda/);
      expect(bitsOf(back[name] as msam.Tensor), name).toBe(p.hex);
    }
    expect(bitsOf(back.strided as msam.Tensor)).toBe(bitsOf(onGpu.strided as msam.Tensor));
    const cpu = msam.load(file).tensors;
    expect(bitsOf(cpu.f32 as msam.Tensor)).toBe(PATTERNS.f32?.hex);
  });
});

// ==================================================================================================

describe(`interop with an independent Python implementation (torch ${msam.version().libtorch.split('.').slice(0, 2).join('.')})`, () => {
  it('a file Python wrote loads exactly', (ctx) => {
    if (!python.ok) ctx.skip(`Python interop skipped: ${python.reason}`);
    const file = path.join(freshDir(), 'from_python.safetensors');
    const report = runPython('write', file);
    const { tensors, metadata, headerMetadata } = msam.load(file);
    expect(metadata).toBeNull();
    expect(headerMetadata).toEqual(report.metadata);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(report.tensors).sort());
    expect(Object.keys(report.tensors).length).toBeGreaterThanOrEqual(15);
    for (const [name, py] of Object.entries(report.tensors)) {
      const t = Object.getOwnPropertyDescriptor(tensors, name)?.value as msam.Tensor;
      expect(t.dtype, name).toBe(DTYPE_OF[py.dtype]);
      expect(t.shape, name).toEqual(py.shape);
      expect(bitsOf(t), name).toBe(py.hex);
      expectSameValues(valuesOf(t), py.values);
    }
  });

  it('a file msam wrote reads in Python with identical bits and values', (ctx) => {
    if (!python.ok) ctx.skip(`Python interop skipped: ${python.reason}`);
    const file = path.join(freshDir(), 'from_msam.safetensors');
    const tensors: Record<string, msam.Tensor> = patternTensors();
    tensors['layer.ünï.weight'] = msam.arange(6, undefined, 1, { dtype: 'float64' }).reshape([2, 3]).transpose(0, 1);
    tensors['0'] = msam.tensor([-3, 4], { dtype: 'int8' });
    msam.save(file, tensors, { metadata: { epoch: 1 }, headerMetadata: { format: 'pt' } });
    const report = runPython('read', file);
    expect(report.header_length! % 8).toBe(0);
    expect(report.header_padding).toMatch(/^ {0,7}$/);
    expect(report.metadata).toMatchObject({ format: 'pt', 'msam.metadata': expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(Object.keys(report.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const py = report.tensors[name] as PyTensor;
      expect(py.dtype, name).toBe(Object.entries(DTYPE_OF).find(([, d]) => d === t.dtype)?.[0]);
      expect(py.shape, name).toEqual(t.shape);
      expect(py.hex, name).toBe(bitsOf(t));
      expectSameValues(valuesOf(t), py.values);
    }
    // Byte-buffer order: descending alignment, then name (what the reference writer does).
    const rank: Record<string, number> = { BOOL: 0, U8: 1, I8: 2, I16: 5, F16: 7, BF16: 8, I32: 9, F32: 11, F64: 12, I64: 13 };
    const expected = Object.keys(tensors).sort((a, b) => {
      const ra = rank[(report.tensors[a] as PyTensor).dtype] as number;
      const rb = rank[(report.tensors[b] as PyTensor).dtype] as number;
      return rb - ra || Buffer.compare(Buffer.from(a), Buffer.from(b));
    });
    // Zero-size tensors share their offset with the next one; Python orders those by (begin, end).
    expect(report.order.filter((n) => n !== 'empty')).toEqual(expected.filter((n) => n !== 'empty'));
  });
});

// ==================================================================================================

describe('corrupt or truncated files: load names the file and the fault', () => {
  it('shorter than 8 bytes, and empty', () => {
    const file = path.join(freshDir(), 'short.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4, 5]));
    expectLoadError(file, /file is 5 bytes, shorter than the 8-byte header length/);
    fs.writeFileSync(file, Buffer.alloc(0));
    expectLoadError(file, /file is 0 bytes/);
  });

  it('header length beyond the file, or over the format\'s limit', () => {
    expectLoadError(rawFile(GOOD_HEADER, 8, { length: 10_000n }), /header length 10000 goes beyond the end of the file/);
    expectLoadError(rawFile(GOOD_HEADER, 8, { length: 0xffffffffffffffffn }), /header length 18446744073709551615 is over the format's limit/);
  });

  it('a truncated file (the data cut short)', () => {
    const file = path.join(freshDir(), 'cut.safetensors');
    msam.save(file, { a: msam.ones([4], { dtype: 'float64' }), b: msam.ones([3]) });
    const full = fs.readFileSync(file);
    fs.writeFileSync(file, full.subarray(0, full.length - 1));
    expectLoadError(file, /tensor "b": data_offsets \[32, 44\] are out of range: the byte buffer holds 43 bytes \(truncated\?\)/);
    fs.writeFileSync(file, full.subarray(0, 20));
    expectLoadError(file, /header length \d+ goes beyond the end of the file \(20 bytes; truncated\?\)/);
  });

  it('header not JSON, not UTF-8, not an object', () => {
    expectLoadError(rawFile('{"w": {"dtype": "F32",', 0), /header is not JSON/);
    const file = rawFile('');
    fs.writeFileSync(file, Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x20])]));
    expectLoadError(file, /header is not valid UTF-8/);
    expectLoadError(rawFile('[1, 2]'), /header is not a JSON object, got \[1,2\]/);
    expectLoadError(rawFile('null'), /header is not a JSON object/);
  });

  it('unknown dtype, and a valid one msam has no dtype for', () => {
    expectLoadError(rawFile({ w: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16), /tensor "w": unknown dtype "F128"/);
    expectLoadError(rawFile({ w: { dtype: 'U16', shape: [1], data_offsets: [0, 2] } }, 2), /tensor "w": dtype U16 has no msam dtype/);
    expectLoadError(rawFile({ w: { dtype: 32, shape: [1], data_offsets: [0, 4] } }, 4), /tensor "w": dtype must be a string/);
  });

  it('shape not non-negative integers', () => {
    for (const shape of [[2.5], ['2'], [-1], 'x', [2 ** 60]]) {
      expectLoadError(rawFile({ w: { dtype: 'F32', shape, data_offsets: [0, 8] } }, 8), /tensor "w": shape (must be an array of non-negative integers|\[.*\] is too large)/);
    }
  });

  it('data_offsets malformed, out of range, overlapping, with holes, not matching shape x dtype', () => {
    for (const offsets of [[0], [0, 8, 9], ['0', '8'], [-8, 0], [0, 8.5], null]) {
      expectLoadError(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: offsets } }, 8), /tensor "w": data_offsets must be \[begin, end\]/);
    }
    expectLoadError(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8), /data_offsets \[8, 0\] end before they begin/);
    expectLoadError(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 8), /tensor "w": data_offsets \[8, 16\] are out of range: the byte buffer holds 8 bytes/);
    expectLoadError(
      rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a" at \[0, 8\]/,
    );
    expectLoadError(
      rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] } }, 20),
      /bytes \[8, 12\) after tensor "a" belong to no tensor/,
    );
    expectLoadError(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /bytes \[0, 4\) at the start of the byte buffer belong to no tensor/);
    expectLoadError(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /tensor "w": data_offsets \[0, 8\] span 8 bytes, but shape \[3\] of F32 needs 12/);
    expectLoadError(rawFile({ w: { dtype: 'BF16', shape: [2, 2], data_offsets: [0, 4] } }, 4), /shape \[2, 2\] of BF16 needs 8/);
  });

  it('trailing bytes after the last tensor', () => {
    const file = path.join(freshDir(), 'tail.safetensors');
    msam.save(file, { w: msam.ones([2]) });
    fs.appendFileSync(file, Buffer.from([0, 0, 0]));
    expectLoadError(file, /3 trailing bytes after the last tensor's data \(the tensors cover 8 of 11\)/);
  });

  it('bad entries: not an object, __metadata__ not a string map, a BOOL byte that is not 0 or 1', () => {
    expectLoadError(rawFile({ w: [0, 8] }, 8), /tensor "w": expected an object with dtype, shape and data_offsets/);
    expectLoadError(rawFile({ __metadata__: { epoch: 3 }, ...GOOD_HEADER }, 8), /__metadata__ must map strings to strings, but "epoch" is 3/);
    expectLoadError(rawFile({ __metadata__: 'x', ...GOOD_HEADER }, 8), /__metadata__ must be an object of strings/);
    expectLoadError(rawFile({ b: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, Buffer.from([1, 0, 2])), /tensor "b": BOOL element 2 is byte 2, not 0 or 1/);
  });

  it('a missing file', () => {
    const file = path.join(freshDir(), 'nope.safetensors');
    expectLoadError(file, /cannot open the file \(ENOENT/);
  });

  it('a failed load leaves no tensors behind', () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'BOOL', shape: [2], data_offsets: [8, 10] },
    };
    const file = rawFile(header, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 7]));
    const before = msam.memory().tensors;
    expectLoadError(file, /BOOL element 1 is byte 7/);
    expect(msam.memory().tensors).toBe(before);
  });
});

describe('the metadata sidecar is checked too', () => {
  it('a sidecar changed after the save (or from another save) is reported, naming the sidecar', () => {
    const file = path.join(freshDir(), 'm.safetensors');
    msam.save(file, { w: msam.ones([1]) }, { metadata: { epoch: 1 } });
    fs.writeFileSync(`${file}.json`, '{"epoch": 2}');
    const e = expectLoadError(file, /metadata sidecar does not belong to .*m\.safetensors/);
    expect(e.file).toBe(`${file}.json`);
    fs.writeFileSync(`${file}.json`, '{"epoch": ');
    expectLoadError(file, /m\.safetensors\.json: the metadata sidecar does not belong/);
    fs.rmSync(`${file}.json`);
    expectLoadError(file, /m\.safetensors\.json: the metadata sidecar of .* is missing/);
  });

  it('a sidecar next to a file without msam\'s marker is read as is, and validated', () => {
    const file = rawFile(GOOD_HEADER, 8);
    fs.writeFileSync(`${file}.json`, '{"from": "another tool"}');
    expect(msam.load(file).metadata).toEqual({ from: 'another tool' });
    fs.writeFileSync(`${file}.json`, '{"from": "another tool",');
    const e = expectLoadError(file, /x\.safetensors\.json: the metadata sidecar is not valid JSON/);
    expect(e.file).toBe(`${file}.json`);
    fs.writeFileSync(`${file}.json`, '[1, 2]');
    expectLoadError(file, /the metadata sidecar must hold a JSON object, got an array/);
  });

  it('a stale sidecar is ignored when the header says the save had no metadata', () => {
    const file = path.join(freshDir(), 's.safetensors');
    msam.save(file, { w: msam.ones([1]) });
    fs.writeFileSync(`${file}.json`, '{"stale": true}');
    expect(msam.load(file).metadata).toBeNull();
  });
});

// ==================================================================================================

describe('atomic saves', () => {
  /** Files in `d` (temporary files start with '.'). */
  const listing = (d: string): string[] => fs.readdirSync(d).sort();

  it('a directory that does not exist: an error naming the file, nothing created', () => {
    const d = freshDir();
    const file = path.join(d, 'missing', 'x.safetensors');
    let error: unknown;
    try {
      msam.save(file, { w: msam.ones([2]) }, { metadata: { a: 1 } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(msam.CheckpointError);
    expect((error as Error).message).toMatch(new RegExp(`save: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot write the file \\(ENOENT`));
    expect(listing(d)).toEqual([]);
  });

  it('a disposed tensor: an error naming the tensor, no file and no temporary file', () => {
    const d = freshDir();
    const file = path.join(d, 'x.safetensors');
    const gone = msam.ones([2]);
    gone.dispose();
    expect(() => msam.save(file, { ok: msam.ones([2]), gone })).toThrow(/save: .*x\.safetensors: tensor "gone" is disposed/);
    expect(listing(d)).toEqual([]);
  });

  it('values that are not tensors, and the reserved name, are refused', () => {
    const d = freshDir();
    const file = path.join(d, 'x.safetensors');
    expect(() => msam.save(file, { w: [1, 2] as unknown as msam.Tensor })).toThrow(TypeError);
    expect(() => msam.save(file, { w: [1, 2] as unknown as msam.Tensor })).toThrow(/tensor "w" is not a Tensor \(got an array\)/);
    expect(() => msam.save(file, { __metadata__: msam.ones([1]) })).toThrow(/the name __metadata__ is reserved/);
    expect(() => msam.save(file, msam.ones([1]) as unknown as Record<string, msam.Tensor>)).toThrow(/expected a dict of tensors or an object with stateDict\(\), got a Tensor/);
    expect(listing(d)).toEqual([]);
  });

  it('a save that fails midway leaves an existing file and its sidecar as they were, and no temporary file', () => {
    const d = freshDir();
    const file = path.join(d, 'x.safetensors');
    msam.save(file, { w: msam.tensor([1, 2, 3]) }, { metadata: { epoch: 1 } });
    const before = [fs.readFileSync(file), fs.readFileSync(`${file}.json`)];

    // Disposed: caught before writing.
    const gone = msam.ones([2]);
    gone.dispose();
    expect(() => msam.save(file, { w: msam.ones([2]), gone }, { metadata: { epoch: 2 } })).toThrow(/tensor "gone" is disposed/);

    // A tensor whose bytes cannot be read, after the header and another tensor are written.
    const bomb = Object.setPrototypeOf(msam.ones([2]), Object.create(msam.Tensor.prototype, {
      data: {
        value: () => {
          throw new Error('device lost');
        },
      },
    })) as msam.Tensor;
    expect(() => msam.save(file, { a: msam.ones([4], { dtype: 'float64' }), z: bomb }, { metadata: { epoch: 2 } })).toThrow(
      /save: .*x\.safetensors: cannot read tensor "z" \(device lost\)/,
    );
    expect(() => msam.save(file, { a: msam.ones([4], { dtype: 'float64' }), z: bomb })).toThrow(/device lost/);

    expect(listing(d)).toEqual(['x.safetensors', 'x.safetensors.json']);
    expect(fs.readFileSync(file).equals(before[0] as Buffer)).toBe(true);
    expect(fs.readFileSync(`${file}.json`).equals(before[1] as Buffer)).toBe(true);
    expect(msam.load(file).metadata).toEqual({ epoch: 1 });
  });

  it('a successful save replaces the file and leaves nothing else', () => {
    const d = freshDir();
    const file = path.join(d, 'x.safetensors');
    msam.save(file, { w: msam.tensor([1, 2, 3]) });
    msam.save(file, { w: msam.tensor([4, 5]) }, { metadata: { v: 2 } });
    expect(listing(d)).toEqual(['x.safetensors', 'x.safetensors.json']);
    const back = msam.load(file);
    expect((back.tensors.w as msam.Tensor).toArray()).toEqual([4, 5]);
    expect(back.metadata).toEqual({ v: 2 });
  });
});

// ==================================================================================================

describe('saveCheckpoint / loadCheckpoint', () => {
  it('a module, an optimizer (tensors inside its state) and extra round-trip', () => {
    const file = path.join(freshDir(), 'ckpt.safetensors');
    const w = msam.randn([3, 2]);
    const module = { stateDict: () => ({ 'fc.weight': w, 'fc.bias': msam.zeros([3]) }) };
    const momentum = msam.randn([3, 2]);
    const optimizer = {
      stateDict: () => ({
        state: { 0: { momentumBuffer: momentum, step: 12 }, 1: { momentumBuffer: msam.ones([3]), step: 12 } },
        paramGroups: [{ lr: 0.1, momentum: 0.9, params: [0, 1] }],
      }),
    };
    const extra = { epoch: 3, 'rng.state': msam.tensor([1, 2, 3], { dtype: 'uint8' }), rng: { state: msam.tensor([9], { dtype: 'uint8' }) } };
    msam.saveCheckpoint(file, { module, optimizer, extra });

    const back = msam.loadCheckpoint(file);
    expect(Object.keys(back.model).sort()).toEqual(['fc.bias', 'fc.weight']);
    expect(bitsOf(back.model['fc.weight'] as msam.Tensor)).toBe(bitsOf(w));
    const state = back.optimizer?.state as Record<string, { momentumBuffer: msam.Tensor; step: number }>;
    expect(bitsOf(state['0']?.momentumBuffer as msam.Tensor)).toBe(bitsOf(momentum));
    expect(state['1']?.step).toBe(12);
    expect(back.optimizer?.paramGroups).toEqual([{ lr: 0.1, momentum: 0.9, params: [0, 1] }]);
    expect(back.extra?.epoch).toBe(3);
    // Dotted keys and nested paths that spell the same name stay distinct.
    expect((back.extra?.['rng.state'] as msam.Tensor).toArray()).toEqual([1, 2, 3]);
    expect(((back.extra?.rng as { state: msam.Tensor }).state).toArray()).toEqual([9]);

    // The file is plain safetensors: other readers see prefixed names.
    expect(Object.keys(msam.load(file).tensors)).toContain('model.fc.weight');
  });

  it('loadCheckpoint refuses a plain tensor file, without leaking its tensors', () => {
    const file = path.join(freshDir(), 'plain.safetensors');
    msam.save(file, { w: msam.ones([2]) });
    const before = msam.memory().tensors;
    expect(() => msam.loadCheckpoint(file)).toThrow(/loadCheckpoint: .*plain\.safetensors: not a checkpoint written by saveCheckpoint/);
    expect(msam.memory().tensors).toBe(before);
  });

  it('needs exactly one of tensors or module', () => {
    const file = path.join(freshDir(), 'x.safetensors');
    expect(() => msam.saveCheckpoint(file, {})).toThrow(/give exactly one of tensors or module/);
    expect(() => msam.saveCheckpoint(file, { tensors: {}, module: { stateDict: () => ({}) } })).toThrow(/exactly one/);
  });
});

describe('self-contained checkpoints', () => {
  it("saveCheckpoint's header holds its metadata: a copy without the .json sidecar loads the same", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-selfcontained-'));
    try {
      const model = new msam.nn.Linear(3, 2);
      const opt = new msam.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      model.forward(msam.randn([4, 3])).sum().backward();
      opt.step();
      const file = path.join(dir, 'ck.safetensors');
      msam.saveCheckpoint(file, { module: model, optimizer: opt, extra: { epoch: 3, note: 'x' } });
      const alone = path.join(dir, 'alone.safetensors');
      fs.copyFileSync(file, alone);
      expect(fs.existsSync(`${alone}.json`)).toBe(false);
      const a = msam.loadCheckpoint(file);
      const b = msam.loadCheckpoint(alone);
      expect(b.extra).toEqual({ epoch: 3, note: 'x' });
      expect(JSON.stringify(b.optimizer, (_k, v: unknown) => (v instanceof msam.Tensor ? Array.from(v.data() as Float32Array) : v))).toBe(
        JSON.stringify(a.optimizer, (_k, v: unknown) => (v instanceof msam.Tensor ? Array.from(v.data() as Float32Array) : v)),
      );
      expect(msam.load(alone).headerMetadata).toBeNull(); // msam's own keys stay out of the user's map
      // A sidecar that does not match is still an error, not silently replaced by the header's copy.
      fs.writeFileSync(`${alone}.json`, '{"format":"msam.checkpoint/1","optimizer":null,"extra":null}\n');
      expect(() => msam.loadCheckpoint(alone)).toThrow(/does not belong to/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
