// msam.load: a safetensors file (and its metadata sidecar) back to tensors, every part checked.
import * as fs from 'node:fs';
import type { Tensor } from '../tensor';
import type { Device } from '../types';
import { tensorFromBytes } from './bytes';
import { CheckpointError, describe, fail } from './errors';
import { FormatProblem, headerLength, parseHeader } from './parse';
import { EMBEDDED_KEY, MARKER_KEY, readSidecar } from './sidecar';
import type { TensorDict } from './source';

export interface LoadOptions {
  /** Where the tensors go; default 'cpu'. */
  device?: Device;
}

export interface Loaded {
  tensors: TensorDict;
  /** The sidecar's JSON (`path + '.json'`), or null when there is none. */
  metadata: Record<string, unknown> | null;
  /** The header's own `__metadata__` string map (msam's bookkeeping key left out), or null. */
  headerMetadata: Record<string, string> | null;
}

/** Reads exactly `length` bytes at `position`, or says the file ended early. */
function readExactly(fd: number, into: Uint8Array, position: number): void {
  for (let done = 0; done < into.byteLength; ) {
    const n = fs.readSync(fd, into, done, into.byteLength - done, position + done);
    if (n === 0) throw new FormatProblem(`the file ended at byte ${position + done} while reading (changed while loading?)`);
    done += n;
  }
}

/**
 * Loads every tensor of a safetensors file, and the metadata its save wrote. A file that is
 * truncated, corrupt or not safetensors throws a CheckpointError naming the file and the fault;
 * so does a corrupt or mismatched sidecar.
 */
export function load(file: string, opts: LoadOptions = {}): Loaded {
  if (typeof file !== 'string' || file === '') throw new TypeError(`load: path must be a non-empty string, got ${JSON.stringify(file)}`);
  const device = opts.device ?? 'cpu';
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw fail('load', file, `cannot open the file (${describe(e)})`, e);
  }
  const made: [string, Tensor][] = [];
  try {
    const { entries, metadata: header, n } = readHeader(fd);

    // The sidecar before the tensors: a bad one fails fast, before allocating anything.
    const marker = header?.[MARKER_KEY];
    const metadata = readSidecar(file, marker, header?.[EMBEDDED_KEY]);
    let headerMetadata: Record<string, string> | null = null;
    if (header !== null) {
      headerMetadata = Object.fromEntries(Object.entries(header).filter(([k]) => k !== MARKER_KEY && k !== EMBEDDED_KEY));
      if (marker !== undefined && Object.keys(headerMetadata).length === 0) headerMetadata = null;
    }

    for (const e of entries) {
      // A buffer per tensor: aligned for its typed array, and freed with it.
      const buffer = new ArrayBuffer(e.end - e.begin);
      readExactly(fd, new Uint8Array(buffer), 8 + n + e.begin);
      if (e.info.code === 'BOOL') {
        const bad = new Uint8Array(buffer).findIndex((b) => b > 1);
        if (bad >= 0) throw new FormatProblem(`tensor ${JSON.stringify(e.name)}: BOOL element ${bad} is byte ${new Uint8Array(buffer)[bad]}, not 0 or 1`);
      }
      made.push([e.name, tensorFromBytes(buffer, e.info, e.shape, device)]);
    }
    return { tensors: Object.fromEntries(made), metadata, headerMetadata };
  } catch (e) {
    for (const [, t] of made) t.dispose();
    if (e instanceof CheckpointError) throw e;
    if (e instanceof FormatProblem) throw fail('load', file, `not a valid safetensors file: ${e.message}`);
    throw fail('load', file, `cannot load (${describe(e)})`, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** The 8-byte length, then the JSON header, parsed: what load() and loadMetadata() both read first. */
function readHeader(fd: number): ReturnType<typeof parseHeader> & { n: number } {
  const size = fs.fstatSync(fd).size;
  const prefix = Buffer.alloc(8);
  if (size >= 8) readExactly(fd, prefix, 0);
  const n = headerLength(prefix, size);
  const json = Buffer.alloc(n);
  readExactly(fd, json, 8);
  return { ...parseHeader(json, size - 8 - n), n };
}

/**
 * The metadata of a file that load() would return, without reading its tensors (the header, and
 * the sidecar or the header's embedded copy of it).
 */
export function loadMetadata(file: string): Record<string, unknown> | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw fail('load', file, `cannot open the file (${describe(e)})`, e);
  }
  try {
    const { metadata: header } = readHeader(fd);
    return readSidecar(file, header?.[MARKER_KEY], header?.[EMBEDDED_KEY]);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    if (e instanceof FormatProblem) throw fail('load', file, `not a valid safetensors file: ${e.message}`);
    throw fail('load', file, `cannot load (${describe(e)})`, e);
  } finally {
    fs.closeSync(fd);
  }
}
