// The metadata sidecar: any JSON the caller gives (epoch, config, optimizer state descriptions)
// in `<file>.json`, next to the safetensors file, whose header records which sidecar it goes with.
//
// The header's `__metadata__` holds MARKER_KEY: 'none' when the save had no metadata, else
// 'sha256:<hex>' of the sidecar's bytes. So a sidecar left over from an earlier save, or one
// from an interrupted save (the two files are replaced one after the other), is never mistaken
// for this file's: load ignores it (none) or reports the mismatch (sha256). A file msam did not
// write has no marker; its sidecar, if present, is read as is.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Tensor } from '../tensor';
import { describe, fail } from './errors';

export const MARKER_KEY = 'msam.metadata';
/** The header key that holds a copy of the sidecar's JSON (SaveOptions.embedMetadata). */
export const EMBEDDED_KEY = 'msam.metadata.json';

export const sidecarPath = (file: string): string => `${file}.json`;

export const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Checks that `value` survives JSON.stringify + JSON.parse unchanged: plain objects, arrays,
 * strings, finite numbers, booleans and null. Throws a TypeError naming the path of the first
 * value that would not (undefined, NaN, a Date, a Tensor, a cycle...).
 */
export function checkJson(value: unknown, where: string, seen: Set<object> = new Set()): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${where} is ${value}, which JSON cannot hold`);
    return;
  }
  if (typeof value !== 'object') throw new TypeError(`${where} is ${typeof value === 'bigint' ? 'a bigint' : typeof value}, which JSON cannot hold`);
  if (value instanceof Tensor) throw new TypeError(`${where} is a Tensor: tensors go in the tensor dict, metadata is JSON`);
  if (seen.has(value)) throw new TypeError(`${where} refers back to itself (a cycle), which JSON cannot hold`);
  const isArray = Array.isArray(value);
  if (!isArray && Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
    const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    throw new TypeError(`${where} is a ${kind}, not a plain object: it would not read back the same from JSON`);
  }
  seen.add(value);
  if (isArray) value.forEach((v: unknown, i) => checkJson(v, `${where}[${i}]`, seen));
  else for (const [k, v] of Object.entries(value)) checkJson(v, `${where}.${k}`, seen);
  seen.delete(value);
}

/** The sidecar's bytes for `metadata` (pretty-printed JSON). */
export function encodeSidecar(metadata: Record<string, unknown>): Buffer {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new TypeError(`save: metadata must be an object, got ${Array.isArray(metadata) ? 'an array' : metadata === null ? 'null' : typeof metadata}`);
  }
  checkJson(metadata, 'save: metadata');
  return Buffer.from(`${JSON.stringify(metadata, null, 2)}\n`, 'utf8');
}

function readIfPresent(file: string): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fail('load', file, `cannot read the metadata sidecar (${describe(e)})`, e);
  }
}

/** The metadata that goes with `file`, given its header's marker (undefined: a foreign file). */
export function readSidecar(file: string, marker: string | undefined, embedded?: string): Record<string, unknown> | null {
  const side = sidecarPath(file);
  if (marker === 'none') return null;
  if (marker !== undefined && !marker.startsWith('sha256:')) {
    throw fail('load', file, `header's __metadata__ ${JSON.stringify(MARKER_KEY)} is ${JSON.stringify(marker)}, expected 'none' or 'sha256:<hex>'`);
  }
  // The header's own copy stands in for a sidecar that did not travel with the file.
  const bytes = readIfPresent(side) ?? (embedded === undefined ? null : Buffer.from(embedded, 'utf8'));
  if (bytes === null) {
    if (marker === undefined) return null;
    throw fail('load', side, `the metadata sidecar of ${file} is missing (its header records one with ${marker})`);
  }
  if (marker !== undefined && sha256(bytes) !== marker) {
    throw fail(
      'load',
      side,
      `the metadata sidecar does not belong to ${file}: its ${sha256(bytes).slice(0, 19)}... differs from the ${marker.slice(0, 19)}... recorded in the header (replaced separately, or a save was interrupted)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw fail('load', side, `the metadata sidecar is not valid JSON (${describe(e)})`, e);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw fail('load', side, `the metadata sidecar must hold a JSON object, got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`);
  }
  return parsed as Record<string, unknown>;
}
