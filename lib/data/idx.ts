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
  let gzipEndsEarly = false;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      // A truncated download: decompress what is there, so the error can say which record is cut.
      let partial: Buffer | null = null;
      try {
        partial = zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch {
        // corrupt, not merely cut short
      }
      if (partial === null) throw new DataFileError(file, `corrupt gzip data (${(e as Error).message})`);
      bytes = partial;
      gzipEndsEarly = true;
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new DataFileError(file, 'not an IDX file (bad magic number)');
  const type = bytes[2] as number;
  const rank = bytes[3] as number;
  if (type !== 0x08) throw new DataFileError(file, `unsupported IDX value type 0x${type.toString(16)} (only uint8 is used by MNIST)`);
  if (rank < 1 || bytes.length < 4 + 4 * rank) throw new DataFileError(file, `truncated header${gzipEndsEarly ? ' (the gzip stream ends early)' : ''}`);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(bytes.readUInt32BE(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * rank;
  const recordSize = count / (shape[0] || 1);
  if (bytes.length < offset + count) {
    const complete = Math.floor((bytes.length - offset) / Math.max(recordSize, 1));
    throw new DataFileError(file, `truncated${gzipEndsEarly ? ' (the gzip stream ends early)' : ''}: the header announces ${shape[0]} records of ${recordSize} bytes, the data ends in record ${complete}`);
  }
  if (gzipEndsEarly) throw new DataFileError(file, 'truncated: the gzip stream ends early (the data it holds is complete, its trailer is missing)');
  if (bytes.length > offset + count) throw new DataFileError(file, `${bytes.length - offset - count} bytes beyond the announced data`);
  return { shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, count) };
}
