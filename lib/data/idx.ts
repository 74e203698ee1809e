// The IDX file format of (Fashion-)MNIST, gzip-compressed or raw: a magic number (0, 0, type,
// rank), the dimensions as big-endian uint32, then the values.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

export interface IdxArray {
  shape: number[];
  /** uint8 data (the only type the MNIST files use). */
  data: Uint8Array;
}

export class DataFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'DataFileError';
  }
}

export function readIdx(file: string): IdxArray {
  let bytes: Buffer = fs.readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      throw new DataFileError(file, `corrupt gzip data (${(e as Error).message})`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new DataFileError(file, 'not an IDX file (bad magic number)');
  const type = bytes[2] as number;
  const rank = bytes[3] as number;
  if (type !== 0x08) throw new DataFileError(file, `unsupported IDX value type 0x${type.toString(16)} (only uint8 is used by MNIST)`);
  if (rank < 1 || bytes.length < 4 + 4 * rank) throw new DataFileError(file, 'truncated header');
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(bytes.readUInt32BE(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * rank;
  const recordSize = count / (shape[0] || 1);
  if (bytes.length < offset + count) {
    const complete = Math.floor((bytes.length - offset) / Math.max(recordSize, 1));
    throw new DataFileError(file, `truncated: the header announces ${shape[0]} records of ${recordSize} bytes, the data ends in record ${complete}`);
  }
  if (bytes.length > offset + count) throw new DataFileError(file, `${bytes.length - offset - count} bytes beyond the announced data`);
  return { shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, count) };
}
