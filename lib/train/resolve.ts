// Resolving a configuration from layers: a preset at the bottom, then (for the CLI) a config file,
// then flags, each overriding the one below field by field. Errors name the field, the value and
// the layer it came from ("optimizer.lr (from --lr): Too small: expected number to be >0, got -1").
import * as fs from 'node:fs';
import { trainConfigSchema, type TrainConfig } from './config';
import { DEFAULT_PRESET, PRESET_NAMES, presets, type PresetName } from './presets';

/** One layer of values and where it came from ('config file run.json', '--lr', 'train() argument'). */
export interface ConfigLayer {
  source: string;
  values: Record<string, unknown>;
}

export interface ConfigIssue {
  /** Dotted field path ('optimizer.lr'); '' for the whole configuration. */
  field: string;
  message: string;
  /** The layer the offending value came from, when one set it. */
  source: string | null;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid training config:\n${issues.map((i) => `  ${i.field || '(config)'}${i.source ? ` (from ${i.source})` : ''}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/**
 * Merges `over` into `base` (new objects; the inputs are not changed). Objects merge field by
 * field; anything else (arrays, null, numbers) replaces. An object whose `name` changes (the
 * optimizer, the schedule, the model, the data set) replaces the one below as a whole: an AdamW
 * does not inherit SGD's momentum.
 */
function merge(base: unknown, over: unknown, path: string, source: string, origin: Map<string, string>): unknown {
  if (over === undefined) return base;
  const replace = (): unknown => {
    for (const k of [...origin.keys()]) if (k === path || k.startsWith(`${path}.`)) origin.delete(k);
    record(over, path, source, origin);
    return structuredClone(over);
  };
  if (!isPlainObject(over) || !isPlainObject(base)) return replace();
  if ('name' in over && 'name' in base && over['name'] !== base['name']) return replace();
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = merge(base[k], v, path ? `${path}.${k}` : k, source, origin);
  }
  return out;
}

function record(value: unknown, path: string, source: string, origin: Map<string, string>): void {
  origin.set(path, source);
  if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) record(v, path ? `${path}.${k}` : k, source, origin);
}

function at(value: unknown, path: (string | number)[]): unknown {
  let v = value;
  for (const k of path) v = isPlainObject(v) || Array.isArray(v) ? (v as Record<string, unknown>)[k as string] : undefined;
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The source that set `field` or its nearest parent. */
function sourceOf(field: string, origin: Map<string, string>): string | null {
  for (let f = field; ; f = f.slice(0, Math.max(0, f.lastIndexOf('.')))) {
    const s = origin.get(f);
    if (s !== undefined) return s;
    if (f === '') return null;
  }
}

/** The preset a stack of layers asks for: the topmost `preset` field, else the default. */
export function presetOf(layers: ConfigLayer[]): { name: PresetName; source: string } {
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i] as ConfigLayer;
    const p = layer.values['preset'];
    if (p === undefined) continue;
    if (typeof p !== 'string' || !(PRESET_NAMES as string[]).includes(p)) {
      throw new ConfigError([{ field: 'preset', source: layer.source, message: `unknown preset ${show(p)}; the presets are ${PRESET_NAMES.join(', ')}` }]);
    }
    return { name: p as PresetName, source: layer.source };
  }
  return { name: DEFAULT_PRESET, source: 'the default preset' };
}

/**
 * Resolves layers (lowest precedence first) over the preset they name into a complete, validated
 * configuration. Throws ConfigError naming every bad field.
 */
export function resolveTrainConfig(...layers: ConfigLayer[]): TrainConfig {
  for (const l of layers) {
    if (!isPlainObject(l.values)) throw new ConfigError([{ field: '', source: l.source, message: `expected an object of settings, got ${show(l.values)}` }]);
  }
  const { name } = presetOf(layers);
  const origin = new Map<string, string>();
  let merged: unknown = {};
  const stack: ConfigLayer[] = [{ source: `preset '${name}'`, values: presets[name].config as Record<string, unknown> }, ...layers];
  for (const l of stack) {
    // m and microBatchSize say the same thing: a layer that sets one drops the other from below.
    for (const [given, other] of [
      ['m', 'microBatchSize'],
      ['microBatchSize', 'm'],
    ] as const) {
      if (l.values[given] !== undefined && l.values[other] === undefined && isPlainObject(merged)) {
        delete merged[other];
        origin.delete(other);
      }
    }
    merged = merge(merged, l.values, '', l.source, origin);
  }
  (merged as Record<string, unknown>)['preset'] = name;
  const config = validate(merged, origin);
  // Vanilla updates have no shards: an m given with (or above) method 'vanilla' is a mistake, not
  // a no-op. An m from below (a preset's, or the flags under an experiment's vanilla cell) is not.
  const lastSetting = (field: string): number => stack.reduce((found, l, i) => (l.values[field] !== undefined ? i : found), -1);
  const mAt = lastSetting('m');
  if (config.method === 'vanilla' && config.m !== undefined && config.m > 1 && mAt > 0 && mAt >= lastSetting('method')) {
    throw new ConfigError([{ field: 'm', source: sourceOf('m', origin), message: `method 'vanilla' has no shards (it is m = 1), got ${config.m}: use method 'msam' for m > 1` }]);
  }
  return config;
}

/** Validates a complete configuration object (what a checkpoint stores, or a merged one). */
export function validate(value: unknown, origin: Map<string, string> = new Map()): TrainConfig {
  const r = trainConfigSchema.safeParse(value);
  if (r.success) return r.data;
  const issues: ConfigIssue[] = [];
  for (const i of r.error.issues) {
    const path = i.path.map(String);
    if (i.code === 'unrecognized_keys') {
      const known = knownKeys(path, value);
      for (const key of i.keys) {
        const field = [...path, key].join('.');
        issues.push({ field, source: sourceOf(field, origin), message: `unknown field${known ? ` (expected one of ${known})` : ''}` });
      }
      continue;
    }
    const field = path.join('.');
    const got = at(value, i.path as (string | number)[]);
    const expected = (i as { expected?: string }).expected;
    const message =
      i.code === 'custom' ? i.message : got === undefined && i.code === 'invalid_type' ? `required (${expected ?? 'a value'}), not set` : `${i.message}, got ${show(got)}`;
    issues.push({ field, source: got === undefined && i.code !== 'custom' ? null : sourceOf(field, origin), message });
  }
  throw new ConfigError(issues);
}

/** The fields an object at `path` may have, for "unknown field" messages. */
function knownKeys(path: string[], value: unknown): string | null {
  let schema: unknown = trainConfigSchema;
  let v = value;
  for (const k of path) {
    const shape = shapeOf(schema, v);
    if (shape === null) return null;
    schema = shape[k];
    v = isPlainObject(v) ? v[k] : undefined;
  }
  const shape = shapeOf(schema, v);
  return shape === null ? null : Object.keys(shape).join(', ');
}

type ZodLike = { _zod?: { def?: Record<string, unknown> }; shape?: Record<string, unknown> } | undefined;

function shapeOf(schema: unknown, value: unknown): Record<string, unknown> | null {
  // Unwraps defaults, nullables, pipes and refinements down to an object's shape, and picks a
  // discriminated union's member by the value's name (zod 4 internals: _zod.def).
  let s = schema as ZodLike;
  for (let depth = 0; s !== undefined && depth < 8; depth++) {
    if (s.shape !== undefined && typeof s.shape === 'object') return s.shape;
    const def = s._zod?.def;
    if (def?.['type'] === 'union' && Array.isArray(def['options'])) {
      const name = isPlainObject(value) ? value['name'] : undefined;
      s = (def['options'] as ZodLike[]).find((o) => {
        const literal = (o?.shape?.['name'] as ZodLike)?._zod?.def?.['values'];
        return Array.isArray(literal) && literal.includes(name);
      });
      continue;
    }
    s = (def?.['innerType'] ?? def?.['in'] ?? def?.['schema']) as ZodLike;
  }
  return null;
}

/** Reads a JSON config file; errors name the file. */
export function readConfigFile(file: string): ConfigLayer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the config file ${file}: ${(e as Error).message}`);
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (e) {
    throw new Error(`the config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(values)) throw new Error(`the config file ${file} must hold a JSON object of settings, got ${show(values)}`);
  return { source: `config file ${file}`, values };
}

/** Sets a dotted path in a layer: setPath(v, 'optimizer.lr', 0.1). */
export function setPath(values: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = values;
  keys.slice(0, -1).forEach((k) => {
    if (!isPlainObject(o[k])) o[k] = {};
    o = o[k] as Record<string, unknown>;
  });
  o[keys[keys.length - 1] as string] = value;
}
