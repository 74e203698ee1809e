// Reading a checkpoint's files: a Hugging Face-layout folder (config.json, model.safetensors or
// the shards of model.safetensors.index.json, tokenizer.json) or one .safetensors file. Every
// tensor of every shard is read and checked before any model is touched, so a bad shard leaves
// nothing half-loaded; what was read before the fault is disposed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, load } from '../../lib/checkpoint';
import type { Tensor } from '../../lib/tensor';
import { PretrainedError } from './errors';

export type FloatDType = 'float32' | 'float64';

export interface CheckpointFiles {
  /** The folder, or the file's folder. */
  dir: string;
  /** config.json's object, or null for a single file. */
  config: Record<string, unknown> | null;
  /** The weights files, in the order read. */
  weights: string[];
  /** The weight map of a sharded checkpoint (key → shard file name), or null. */
  index: Record<string, string> | null;
  /** tokenizer.json when there is one. */
  tokenizer: string | null;
}

function readJson(file: string, code: 'BAD_CONFIG' | 'BAD_WEIGHTS'): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PretrainedError(code, file, `cannot read it as JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PretrainedError(code, file, 'is not a JSON object');
  return v as Record<string, unknown>;
}

/** Finds the files of the checkpoint at `where` (a folder, or a .safetensors file). */
export function locate(where: string, singleFileNeedsArch: boolean): CheckpointFiles {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(where);
  } catch (e) {
    throw new PretrainedError('NO_WEIGHTS', where, `no such file or folder (${(e as Error).message})`, { cause: e });
  }
  if (stat.isFile()) {
    if (!where.endsWith('.safetensors')) {
      throw new PretrainedError('NO_WEIGHTS', where, 'a single file must be a .safetensors file (msam does not read pickled .bin/.pt/.pth checkpoints; convert one with safetensors.torch.save_file)');
    }
    if (singleFileNeedsArch) throw new PretrainedError('BAD_OPTION', where, "a single .safetensors file has no config.json: give options.arch ('roberta', 'vit', 'resnet50', ...)");
    return { dir: path.dirname(where), config: null, weights: [where], index: null, tokenizer: null };
  }
  const configFile = path.join(where, 'config.json');
  const tokenizerFile = path.join(where, 'tokenizer.json');
  const tokenizer = fs.existsSync(tokenizerFile) ? tokenizerFile : null;
  const config = fs.existsSync(configFile) ? readJson(configFile, 'BAD_CONFIG') : null;
  if (config === null && singleFileNeedsArch) {
    throw new PretrainedError('NO_CONFIG', where, 'no config.json in the folder (a Hugging Face checkpoint has one; for a bare state dict pass its .safetensors file with options.arch)');
  }
  const single = path.join(where, 'model.safetensors');
  const indexFile = path.join(where, 'model.safetensors.index.json');
  if (fs.existsSync(single)) return { dir: where, config, weights: [single], index: null, tokenizer };
  if (fs.existsSync(indexFile)) {
    const map = readJson(indexFile, 'BAD_WEIGHTS')['weight_map'];
    if (typeof map !== 'object' || map === null || Array.isArray(map) || Object.values(map).some((f) => typeof f !== 'string' || f.includes('/') || f.includes('\\'))) {
      throw new PretrainedError('BAD_WEIGHTS', indexFile, "has no 'weight_map' of key → shard file name");
    }
    const index = map as Record<string, string>;
    const weights = [...new Set(Object.values(index))].map((f) => path.join(where, f));
    return { dir: where, config, weights, index, tokenizer };
  }
  const pickle = ['pytorch_model.bin', 'pytorch_model.bin.index.json'].find((f) => fs.existsSync(path.join(where, f)));
  throw new PretrainedError(
    'NO_WEIGHTS',
    where,
    pickle
      ? `only ${pickle}: msam reads safetensors, not pickles (convert: load it with transformers and save_pretrained(dir, safe_serialization=True))`
      : 'no model.safetensors or model.safetensors.index.json in the folder',
  );
}

const FLOATS = new Set(['float16', 'bfloat16', 'float32', 'float64']);

/**
 * Every tensor of the checkpoint (floating ones as `dtype`), all shards read and the index checked
 * (each key in the shard it names, no key twice) before returning. On any fault, whatever was read
 * is disposed and a PretrainedError names the file.
 */
export function readTensors(files: CheckpointFiles, dtype: FloatDType): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const from = new Map<string, string>();
  try {
    for (const file of files.weights) {
      let tensors: Record<string, Tensor>;
      try {
        tensors = load(file).tensors as Record<string, Tensor>;
      } catch (e) {
        if (e instanceof CheckpointError) throw new PretrainedError('BAD_WEIGHTS', file, e.message, { cause: e });
        throw e;
      }
      for (const [k, t] of Object.entries(tensors)) {
        const converted = FLOATS.has(t.dtype) && t.dtype !== dtype ? t.to(dtype) : t;
        if (converted !== t) t.dispose();
        if (out.has(k)) {
          converted.dispose();
          throw new PretrainedError('BAD_WEIGHTS', file, `the key '${k}' is also in ${from.get(k)}`);
        }
        out.set(k, converted);
        from.set(k, file);
      }
    }
    if (files.index !== null) {
      const problems: string[] = [];
      for (const [k, shard] of Object.entries(files.index)) {
        const got = from.get(k);
        if (got === undefined) problems.push(`'${k}' (in no shard; the index says ${shard})`);
        else if (path.basename(got) !== shard) problems.push(`'${k}' (in ${path.basename(got)}; the index says ${shard})`);
      }
      for (const k of from.keys()) if (!(k in files.index)) problems.push(`'${k}' (in ${path.basename(from.get(k) as string)}, not in the index)`);
      if (problems.length) throw new PretrainedError('BAD_WEIGHTS', path.join(files.dir, 'model.safetensors.index.json'), `the shards disagree with the index: ${problems.join(', ')}`);
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}
