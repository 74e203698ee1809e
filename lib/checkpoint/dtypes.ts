// safetensors dtype codes and msam dtypes, both ways.
import type { DType } from '../types';

export type SafetensorsDtype = 'BOOL' | 'U8' | 'I8' | 'I16' | 'F16' | 'BF16' | 'I32' | 'F32' | 'F64' | 'I64';

export interface DtypeInfo {
  code: SafetensorsDtype;
  dtype: DType;
  /** Bytes per element. */
  size: number;
  /**
   * The position of the code in the reference implementation's Dtype enum (declared in increasing
   * alignment order); its writer lays tensors out by this, descending, then by name.
   */
  rank: number;
  /** The same-width dtype whose typed array carries the raw bits (float16/bfloat16 data() widens). */
  bits: DType;
}

const TABLE: DtypeInfo[] = [
  { code: 'BOOL', dtype: 'bool', size: 1, rank: 0, bits: 'uint8' },
  { code: 'U8', dtype: 'uint8', size: 1, rank: 1, bits: 'uint8' },
  { code: 'I8', dtype: 'int8', size: 1, rank: 2, bits: 'int8' },
  { code: 'I16', dtype: 'int16', size: 2, rank: 5, bits: 'int16' },
  { code: 'F16', dtype: 'float16', size: 2, rank: 7, bits: 'int16' },
  { code: 'BF16', dtype: 'bfloat16', size: 2, rank: 8, bits: 'int16' },
  { code: 'I32', dtype: 'int32', size: 4, rank: 9, bits: 'int32' },
  { code: 'F32', dtype: 'float32', size: 4, rank: 11, bits: 'float32' },
  { code: 'F64', dtype: 'float64', size: 8, rank: 12, bits: 'float64' },
  { code: 'I64', dtype: 'int64', size: 8, rank: 13, bits: 'int64' },
];

/** Valid in the format but without an msam dtype. */
const UNSUPPORTED = new Set(['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

const byCode = new Map<string, DtypeInfo>(TABLE.map((d) => [d.code, d]));
const byDtype = new Map<string, DtypeInfo>(TABLE.map((d) => [d.dtype, d]));

export function infoForDtype(dtype: string): DtypeInfo | undefined {
  return byDtype.get(dtype);
}

/** The info for a header's dtype code, or why there is none. */
export function infoForCode(code: unknown): DtypeInfo | string {
  if (typeof code !== 'string') return `dtype must be a string, got ${JSON.stringify(code) ?? typeof code}`;
  const info = byCode.get(code);
  if (info !== undefined) return info;
  if (UNSUPPORTED.has(code)) return `dtype ${code} has no msam dtype (supported: ${TABLE.map((d) => d.code).join(', ')})`;
  return `unknown dtype ${JSON.stringify(code)} (supported: ${TABLE.map((d) => d.code).join(', ')})`;
}
