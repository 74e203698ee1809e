// Reading and validating the safetensors header. Every check that the reference reader makes,
// and a few more, each with a message that says what is wrong; the caller adds the file's name.
import { type DtypeInfo, infoForCode } from './dtypes';
import { compareNames } from './header';

/** The reference reader's limit on the header's size. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface HeaderEntry {
  name: string;
  info: DtypeInfo;
  shape: number[];
  begin: number;
  end: number;
}

export interface ParsedHeader {
  /** Tensors in byte-buffer order. */
  entries: HeaderEntry[];
  /** `__metadata__`, or null when absent. */
  metadata: Record<string, string> | null;
}

/** What is wrong with a file; turned into a CheckpointError naming the file by the caller. */
export class FormatProblem extends Error {}

/** The header's length from the first 8 bytes, checked against the file's size. */
export function headerLength(prefix: Buffer, fileSize: number): number {
  if (fileSize < 8) {
    throw new FormatProblem(`file is ${fileSize} bytes, shorter than the 8-byte header length that starts a safetensors file`);
  }
  const n = prefix.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatProblem(`header length ${n} is over the format's limit of ${MAX_HEADER_BYTES} bytes (not a safetensors file?)`);
  }
  if (8n + n > BigInt(fileSize)) {
    throw new FormatProblem(`header length ${n} goes beyond the end of the file (${fileSize} bytes; truncated?)`);
  }
  return Number(n);
}

const describeJson = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? typeof v : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function nonNegativeIntegers(v: unknown, length?: number): v is number[] {
  return (
    Array.isArray(v) &&
    (length === undefined || v.length === length) &&
    v.every((e) => typeof e === 'number' && Number.isSafeInteger(e) && e >= 0)
  );
}

function parseEntry(name: string, value: unknown): HeaderEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isObject(value)) throw new FormatProblem(`${where}: expected an object with dtype, shape and data_offsets, got ${describeJson(value)}`);
  const info = infoForCode(value.dtype);
  if (typeof info === 'string') throw new FormatProblem(`${where}: ${info}`);
  const { shape, data_offsets: offsets } = value;
  if (!nonNegativeIntegers(shape)) throw new FormatProblem(`${where}: shape must be an array of non-negative integers, got ${describeJson(shape)}`);
  if (!nonNegativeIntegers(offsets, 2)) {
    throw new FormatProblem(`${where}: data_offsets must be [begin, end] as non-negative integers, got ${describeJson(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new FormatProblem(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  let bytes = info.size;
  for (const d of shape) bytes *= d;
  if (!Number.isSafeInteger(bytes)) throw new FormatProblem(`${where}: shape [${shape.join(', ')}] is too large`);
  if (end - begin !== bytes) {
    throw new FormatProblem(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape [${shape.join(', ')}] of ${info.code} needs ${bytes}`,
    );
  }
  return { name, info, shape, begin, end };
}

function parseMetadata(value: unknown): Record<string, string> {
  if (!isObject(value)) throw new FormatProblem(`__metadata__ must be an object of strings, got ${describeJson(value)}`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new FormatProblem(`__metadata__ must map strings to strings, but ${JSON.stringify(k)} is ${describeJson(v)}`);
  }
  return value as Record<string, string>;
}

/** Parses the header's JSON and checks that the tensors tile the byte buffer of `dataBytes` exactly. */
export function parseHeader(json: Buffer, dataBytes: number): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new FormatProblem('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new FormatProblem(`header is not JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) throw new FormatProblem(`header is not a JSON object, got ${describeJson(header)}`);

  let metadata: Record<string, string> | null = null;
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(value);
    else entries.push(parseEntry(name, value));
  }

  // The byte buffer must be tiled exactly: no tensor out of range, no overlap, no hole, no tail.
  for (const e of entries) {
    if (e.end > dataBytes) {
      throw new FormatProblem(
        `tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}] are out of range: the byte buffer holds ${dataBytes} bytes (truncated?)`,
      );
    }
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end || compareNames(a.name, b.name));
  let at = 0;
  let previous: HeaderEntry | undefined;
  for (const e of entries) {
    if (e.begin < at) {
      const p = previous as HeaderEntry;
      throw new FormatProblem(
        `tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}] overlap tensor ${JSON.stringify(p.name)} at [${p.begin}, ${p.end}]`,
      );
    }
    if (e.begin > at) {
      const after = previous === undefined ? 'at the start of the byte buffer' : `after tensor ${JSON.stringify(previous.name)}`;
      throw new FormatProblem(`bytes [${at}, ${e.begin}) ${after} belong to no tensor (a hole before tensor ${JSON.stringify(e.name)})`);
    }
    at = e.end;
    previous = e;
  }
  if (at !== dataBytes) throw new FormatProblem(`${dataBytes - at} trailing bytes after the last tensor's data (the tensors cover ${at} of ${dataBytes})`);
  return { entries, metadata };
}
