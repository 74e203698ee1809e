// Writing the safetensors header: the layout of tensors in the byte buffer and the JSON that
// describes it, as the reference implementation (huggingface/safetensors) writes them.
//
//   [8 bytes: header length N, u64 little-endian][N bytes: JSON, padded with spaces to a multiple
//   of 8][the byte buffer: each tensor's elements, C order, little-endian, back to back]
import type { DtypeInfo } from './dtypes';

export interface TensorSlot<T> {
  name: string;
  info: DtypeInfo;
  shape: number[];
  /** Byte offsets [begin, end) in the byte buffer. */
  begin: number;
  end: number;
  /** What the caller attached (the tensor to write). */
  item: T;
}

/** Names compare by their UTF-8 bytes, as Rust strings do (JS `<` compares UTF-16 units). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Lays tensors out as the reference writer does: by descending dtype alignment, then by name, so
 * every tensor starts aligned to its element size (the header is padded to 8 bytes).
 */
export function layout<T>(tensors: { name: string; info: DtypeInfo; shape: number[]; item: T }[]): TensorSlot<T>[] {
  const sorted = [...tensors].sort((l, r) => r.info.rank - l.info.rank || compareNames(l.name, r.name));
  let offset = 0;
  return sorted.map((t) => {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * t.info.size;
    const slot = { ...t, begin: offset, end: offset + bytes };
    offset += bytes;
    return slot;
  });
}

/**
 * The header's bytes, length prefix included: compact JSON with `__metadata__` first (when given)
 * and the tensors in layout order, padded with spaces to a multiple of 8 bytes. Built by hand so
 * that key order is exactly this (a JS object would move integer-like names first).
 */
export function encodeHeader(slots: TensorSlot<unknown>[], metadata: Record<string, string> | null): Buffer {
  const parts: string[] = [];
  if (metadata !== null) {
    const keys = Object.keys(metadata).sort(compareNames);
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  for (const s of slots) {
    parts.push(
      `${JSON.stringify(s.name)}:{"dtype":"${s.info.code}","shape":[${s.shape.join(',')}],"data_offsets":[${s.begin},${s.end}]}`,
    );
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20); // spaces
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}
