// msam.save: tensors (and optional JSON metadata) to a safetensors file, atomically.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tensor } from '../tensor';
import { TempFile, syncDirectory } from './atomic';
import { bytesOfTensor, tensorsOf, type TensorSource } from './source';
import { encodeHeader, layout } from './header';
import { CheckpointError, describe, fail } from './errors';
import { EMBEDDED_KEY, MARKER_KEY, encodeSidecar, sha256, sidecarPath } from './sidecar';

export interface SaveOptions {
  /**
   * Any JSON (epoch, config, optimizer state descriptions...), written to the sidecar
   * `path + '.json'` and returned by load(). Must survive a JSON round trip unchanged.
   */
  metadata?: Record<string, unknown>;
  /** Strings for the header's own `__metadata__` map (what other safetensors readers see). */
  headerMetadata?: Record<string, string>;
  /**
   * Also keep `metadata` in the header itself (under EMBEDDED_KEY), so that the file alone is
   * enough: load() uses it when the sidecar is missing (a checkpoint copied without its .json).
   */
  embedMetadata?: boolean;
}

function headerMetadata(file: string, given: Record<string, string> | undefined, marker: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(given ?? {})) {
    if (typeof v !== 'string') throw new TypeError(`save: ${file}: headerMetadata.${k} must be a string, got ${typeof v}`);
    if (k === MARKER_KEY || k === EMBEDDED_KEY) throw new TypeError(`save: ${file}: headerMetadata key ${JSON.stringify(MARKER_KEY)} is msam's own`);
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  out[MARKER_KEY] = marker;
  return out;
}

/**
 * Saves tensors to `file` in the safetensors format: a dict of tensors, or anything with a
 * `stateDict()` (a module). Tensors on a GPU are copied to the CPU, non-contiguous ones are
 * written in C order; values are bit-exact. With `metadata`, also writes the JSON sidecar
 * `file + '.json'` (a sidecar from an earlier save without it is removed).
 *
 * The write is atomic: a temporary file in the same directory, fsync, rename. A save that fails
 * leaves no partial or temporary file, and an existing file as it was.
 */
export function save(file: string, source: TensorSource, opts: SaveOptions = {}): void {
  if (typeof file !== 'string' || file === '') throw new TypeError(`save: path must be a non-empty string, got ${JSON.stringify(file)}`);
  const slots = layout(tensorsOf('save', file, source));
  const sidecar = opts.metadata === undefined ? null : encodeSidecar(opts.metadata);
  const meta = headerMetadata(file, opts.headerMetadata, sidecar === null ? 'none' : sha256(sidecar));
  if (opts.embedMetadata === true && sidecar !== null) meta[EMBEDDED_KEY] = sidecar.toString('utf8');
  const header = encodeHeader(slots, meta);

  // Both files are written completely before either replaces anything.
  const temps: TempFile[] = [];
  try {
    const main = TempFile.create(file);
    temps.push(main);
    main.write(header);
    for (const s of slots) {
      const bytes = bytesOfTensor('save', file, s.name, s.item as Tensor, s.info);
      if (bytes.byteLength !== s.end - s.begin) {
        throw fail('save', file, `tensor ${JSON.stringify(s.name)} gave ${bytes.byteLength} bytes, expected ${s.end - s.begin}`);
      }
      main.write(bytes);
    }
    main.finish();
    if (sidecar !== null) {
      const side = TempFile.create(sidecarPath(file));
      temps.push(side);
      side.write(sidecar);
      side.finish();
    }
    // The tensors file goes first: its header names the sidecar it expects, so an interruption
    // between the two renames is detected by load() rather than pairing mismatched files.
    main.commit();
  } catch (e) {
    for (const t of temps) t.discard();
    if (e instanceof CheckpointError || e instanceof TypeError) throw e;
    throw fail('save', file, `cannot write the file (${describe(e)})`, e);
  }
  const side = temps[1];
  if (side !== undefined) {
    try {
      side.commit();
    } catch (e) {
      side.discard();
      throw fail('save', sidecarPath(file), `wrote ${file} but not its metadata sidecar (${describe(e)}); load() will report the missing sidecar`, e);
    }
  } else {
    removeStaleSidecar(file);
  }
}

/** After a save without metadata, a sidecar from an earlier save no longer describes the file. */
function removeStaleSidecar(file: string): void {
  try {
    fs.unlinkSync(sidecarPath(file));
    syncDirectory(path.dirname(file));
  } catch (e) {
    // ENOENT is the usual case; anything else is harmless, the header's marker says 'none'
    void e;
  }
}
