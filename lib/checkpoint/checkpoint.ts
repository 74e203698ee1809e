// saveCheckpoint / loadCheckpoint: a model's tensors, an optimizer's state and any extra JSON in
// one safetensors file plus its sidecar. Modules and optimizers are duck-typed (stateDict()).
//
// Tensors are stored under 'model.<name>', 'optimizer.<path>' and 'extra.<path>'; the sidecar
// keeps the optimizer's and extra's JSON with each tensor replaced by {"$tensor": "<stored name>"}.
import { Tensor } from '../tensor';
import { fail } from './errors';
import { load, type LoadOptions } from './load';
import { save } from './save';
import type { OptimizerStateDict } from '../optim/optimizer';
import type { HasStateDict, TensorDict } from './source';

/**
 * Anything with an optimizer-style state dict: msam's optimizers (their OptimizerStateDict), or any
 * object with tensors anywhere inside `state` and JSON elsewhere. (No index signature: an interface
 * such as OptimizerStateDict has none, and would need a cast.)
 */
export interface HasOptimizerState {
  stateDict(): { state: Record<string, unknown> };
}

export interface CheckpointContents {
  /** The model's tensors, or a module (its stateDict() is saved). */
  tensors?: TensorDict;
  module?: HasStateDict;
  optimizer?: HasOptimizerState;
  /** Epoch, config, RNG seeds...: JSON, and tensors anywhere inside. */
  extra?: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  model: TensorDict;
  /**
   * The optimizer's state dict as saved (tensors restored), for its loadStateDict() (which checks
   * its kind and groups); or null. Typed as msam's optimizers write it.
   */
  optimizer: (OptimizerStateDict & Record<string, unknown>) | null;
  extra: Record<string, unknown> | null;
}

const FORMAT = 'msam.checkpoint/1';
const PLACEHOLDER = '$tensor';

/** Moves the tensors out of `value` into `into` under `prefix.<path>`, leaving placeholders. */
function split(value: unknown, prefix: string, into: TensorDict, where: string): unknown {
  if (value instanceof Tensor) {
    // Keys with dots could make two paths one name ({'a.b': x, a: {b: y}}): keep each distinct.
    let name = prefix;
    for (let n = 2; Object.hasOwn(into, name); n++) name = `${prefix}~${n}`;
    into[name] = value;
    return { [PLACEHOLDER]: name };
  }
  if (Array.isArray(value)) return value.map((v, i) => split(v, `${prefix}.${i}`, into, `${where}[${i}]`));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    if (PLACEHOLDER in value) throw new TypeError(`saveCheckpoint: ${where} has a key ${JSON.stringify(PLACEHOLDER)}, which checkpoints reserve`);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: split(v, `${prefix}.${k}`, into, `${where}.${k}`), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value; // JSON leaves; save() checks the whole sidecar is JSON
}

/** The inverse of split(): placeholders back to tensors, each used once. */
function join(value: unknown, tensors: TensorDict, used: Set<string>, file: string): unknown {
  if (Array.isArray(value)) return value.map((v) => join(v, tensors, used, file));
  if (value === null || typeof value !== 'object') return value;
  const ref = (value as Record<string, unknown>)[PLACEHOLDER];
  if (typeof ref === 'string') {
    const t = tensors[ref];
    if (t === undefined || !Object.hasOwn(tensors, ref)) throw fail('loadCheckpoint', file, `the sidecar refers to tensor ${JSON.stringify(ref)}, which the file does not hold`);
    used.add(ref);
    return t;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, k, { value: join(v, tensors, used, file), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Saves a model's tensors, an optimizer's state and extra JSON to `file` (and `file + '.json'`). */
export function saveCheckpoint(file: string, contents: CheckpointContents): void {
  const { tensors, module, optimizer, extra } = contents;
  if ((tensors === undefined) === (module === undefined)) throw new TypeError(`saveCheckpoint: ${file}: give exactly one of tensors or module`);
  const model = module !== undefined ? module.stateDict() : (tensors as TensorDict);
  const all: TensorDict = {};
  for (const [k, v] of Object.entries(model)) all[`model.${k}`] = v;
  const optimizerState = optimizer === undefined ? null : split(optimizer.stateDict(), 'optimizer', all, 'optimizer.stateDict()');
  const extraJson = extra === undefined ? null : split(extra, 'extra', all, 'extra');
  // The header keeps a copy of the sidecar: a checkpoint copied without its .json still loads.
  save(file, all, { metadata: { format: FORMAT, optimizer: optimizerState, extra: extraJson }, embedMetadata: true });
}

/** Loads what saveCheckpoint() wrote. */
export function loadCheckpoint(file: string, opts: LoadOptions = {}): LoadedCheckpoint {
  const { tensors, metadata } = load(file, opts);
  try {
    if (metadata === null || metadata.format !== FORMAT) {
      throw fail('loadCheckpoint', file, `not a checkpoint written by saveCheckpoint (its sidecar's format is not ${JSON.stringify(FORMAT)}); use load() for plain tensor files`);
    }
    const used = new Set<string>();
    const optimizer = join(metadata.optimizer, tensors, used, file) as LoadedCheckpoint['optimizer'];
    const extra = join(metadata.extra, tensors, used, file) as LoadedCheckpoint['extra'];
    const model: TensorDict = {};
    for (const [k, t] of Object.entries(tensors)) {
      if (k.startsWith('model.')) Object.defineProperty(model, k.slice(6), { value: t, enumerable: true, writable: true, configurable: true });
      else if (!used.has(k)) throw fail('loadCheckpoint', file, `tensor ${JSON.stringify(k)} belongs to neither the model, the optimizer nor extra`);
    }
    return { model, optimizer, extra };
  } catch (e) {
    for (const t of Object.values(tensors)) t.dispose();
    throw e;
  }
}
