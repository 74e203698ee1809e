// models.fromPretrained: a pretrained checkpoint (Hugging Face's folder layout, or one
// .safetensors state dict) as a native msam model, and models.savePretrained: the model back in
// the same layout, so that the reference library loads the fine-tuned weights.
//
//   const { model, tokenizer, report } = await models.fromPretrained('roberta-base', { numClasses: 2 });
//   ... train ...
//   await models.savePretrained(model, 'out/roberta-sst2');  // transformers' from_pretrained loads it
import * as fs from 'node:fs';
import * as path from 'node:path';
import { save } from '../../lib/checkpoint';
import { PretrainedTokenizer } from '../../lib/data/pretrained-tokenizer';
import type * as nn from '../../lib/nn';
import type { Tensor } from '../../lib/tensor';
import { PretrainedError } from './errors';
import { locate, readTensors, type FloatDType } from './files';
import { applyRules, exportRules, type KeyRule, type LoadReport } from './keys';
import { ROBERTA_IGNORE, buildRoberta, robertaPrefix, robertaRules, robertaSavedConfig, robertaSpec, robertaSpecFromTensors } from './roberta';
import { resnetFromTensors, RESNETS, type ResNetArch } from './resnet';
import { buildViT, initViTHead, resamplePositions, vitRules, vitSavedConfig, vitSpecFromConfig, vitSpecFromTensors, type ViTSpec } from './vit';

export { PretrainedError, type PretrainedErrorCode } from './errors';
export type { LoadReport } from './keys';

export type PretrainedArch = 'roberta' | 'vit' | ResNetArch;
const ARCHS: readonly PretrainedArch[] = ['roberta', 'vit', ...RESNETS];

export interface FromPretrainedOptions {
  /** What a single .safetensors file (or a folder without config.json) holds; read from config.json otherwise. */
  arch?: PretrainedArch;
  /** Replace the classification head with one of this many classes (initialized as the reference library does). */
  numClasses?: number;
  /** Refuse any missing, unexpected or re-initialized key, naming each. Default: false with numClasses (a head swap), true otherwise. */
  strict?: boolean;
  /** The parameters' dtype (the checkpoint's floats are converted); default 'float32'. */
  dtype?: FloatDType;
  /** config.json fields to add or override (for a single file: what its shapes do not show, e.g. num_attention_heads). */
  config?: Record<string, unknown>;
  /** ViT: the side of the images the model will take; the position embeddings are resampled as timm does when it differs from the checkpoint's. */
  imageSize?: number;
}

export interface Pretrained {
  model: nn.Sequential;
  arch: PretrainedArch;
  /** The configuration the model was built from (config.json's fields; inferred ones for a single file). */
  config: Record<string, unknown>;
  /** The folder's tokenizer.json, encoding as the reference library's tokenizer; null when there is none. */
  tokenizer: PretrainedTokenizer | null;
  /** Image models: the inputs the model expects (see ImagePreprocessing); null for text. */
  images: ImagePreprocessing | null;
  report: LoadReport;
}

/**
 * What an image checkpoint was trained on: pixels scaled to [0, 1], then (x − mean) / std per
 * channel, at `size`² (null: any size, a ResNet). From a Hugging Face folder's
 * preprocessor_config.json (image_mean, image_std; options.config may give them too); a bare
 * state dict does not carry them, so its layout's convention: timm's ViT-B/16 (augreg) and Hugging
 * Face's ViT use 0.5 and 0.5, torchvision's ViT and ResNets ImageNet's mean and std.
 */
export interface ImagePreprocessing {
  size: number | null;
  mean: number[];
  std: number[];
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const HALF = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

/** An image checkpoint's normalization: config fields, else preprocessor_config.json, else its layout's. */
function imageNormalization(fallback: { mean: number[]; std: number[] }, config: Record<string, unknown>, dir: string | null, where: string): { mean: number[]; std: number[] } {
  let source: Record<string, unknown> = config;
  const file = dir === null ? null : path.join(dir, 'preprocessor_config.json');
  if (config['image_mean'] === undefined && file !== null && fs.existsSync(file)) {
    try {
      source = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new PretrainedError('BAD_CONFIG', file, `not JSON: ${(e as Error).message}`);
    }
  }
  const triple = (key: string, d: number[]): number[] => {
    const v = source[key];
    if (v === undefined) return d;
    const list = typeof v === 'number' ? [v, v, v] : v;
    if (!Array.isArray(list) || list.length !== 3 || !list.every((x) => typeof x === 'number' && Number.isFinite(x)) || (key === 'image_std' && !list.every((x) => (x as number) > 0))) {
      throw new PretrainedError('BAD_CONFIG', file ?? where, `${key} must be three finite numbers${key === 'image_std' ? ' > 0' : ''}, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  };
  return { mean: triple('image_mean', fallback.mean), std: triple('image_std', fallback.std) };
}

interface SaveInfo {
  arch: PretrainedArch;
  config: Record<string, unknown>;
  rules: KeyRule[];
  numClasses: number;
  /** ViT: the image side the model takes (its config.json's image_size when saved). */
  imageSize: number;
  /** Loaded from a folder with config.json: saved as one too. */
  hfFolder: boolean;
  /** The folder whose tokenizer files are copied along, or null. */
  source: string | null;
}
const saved = new WeakMap<nn.Module, SaveInfo>();

function checkOptions(where: string, o: FromPretrainedOptions): void {
  if (typeof o !== 'object' || o === null) throw new PretrainedError('BAD_OPTION', where, 'options must be an object');
  const known = ['arch', 'numClasses', 'strict', 'dtype', 'config', 'imageSize'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new PretrainedError('BAD_OPTION', where, `unknown option '${k}' (known: ${known.join(', ')})`);
  if (o.arch !== undefined && !ARCHS.includes(o.arch)) throw new PretrainedError('UNKNOWN_ARCH', where, `options.arch ${JSON.stringify(o.arch)} is none of ${ARCHS.join(', ')}`);
  if (o.numClasses !== undefined && !(Number.isSafeInteger(o.numClasses) && o.numClasses >= 1)) throw new PretrainedError('BAD_OPTION', where, `numClasses must be an integer ≥ 1, got ${String(o.numClasses)}`);
  if (o.imageSize !== undefined && !(Number.isSafeInteger(o.imageSize) && o.imageSize >= 1)) throw new PretrainedError('BAD_OPTION', where, `imageSize must be an integer ≥ 1, got ${String(o.imageSize)}`);
  if (o.strict !== undefined && typeof o.strict !== 'boolean') throw new PretrainedError('BAD_OPTION', where, 'strict must be a boolean');
  if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'float64') throw new PretrainedError('BAD_OPTION', where, `dtype must be 'float32' or 'float64', got ${String(o.dtype)}`);
  if (o.config !== undefined && (typeof o.config !== 'object' || o.config === null || Array.isArray(o.config))) throw new PretrainedError('BAD_OPTION', where, 'config must be an object of config.json fields');
}

/** The architecture a config.json describes. */
function archOf(config: Record<string, unknown>, where: string): PretrainedArch {
  const type = config['model_type'];
  const archs = Array.isArray(config['architectures']) ? (config['architectures'] as unknown[]).map(String) : [];
  if (type === 'roberta' || archs.some((a) => a.startsWith('Roberta'))) return 'roberta';
  if (type === 'vit' || archs.some((a) => a.startsWith('ViT'))) return 'vit';
  throw new PretrainedError('UNKNOWN_ARCH', where, `config.json describes ${JSON.stringify(type ?? archs.join(', ') ?? 'nothing')}; msam loads ${ARCHS.join(', ')}`);
}

/**
 * Loads a pretrained checkpoint as a native msam model. `where` is a Hugging Face-layout folder
 * (config.json and model.safetensors, or the shards of model.safetensors.index.json; tokenizer.json
 * when present) or a single .safetensors file with `options.arch`. Every fault is a
 * PretrainedError with a code, thrown before the model exists.
 */
export async function fromPretrained(where: string, options: FromPretrainedOptions = {}): Promise<Pretrained> {
  if (typeof where !== 'string' || where === '') throw new PretrainedError('BAD_OPTION', String(where), 'the path must be a non-empty string');
  checkOptions(where, options);
  const files = locate(where, options.arch === undefined);
  const dtype = options.dtype ?? 'float32';
  const strict = options.strict ?? options.numClasses === undefined;
  const fileConfig = files.config === null ? null : { ...files.config, ...(options.config ?? {}) };
  const arch = options.arch ?? archOf(fileConfig as Record<string, unknown>, where);
  if (fileConfig !== null && options.arch !== undefined && (options.arch === 'roberta' || options.arch === 'vit') && archOf(fileConfig, where) !== options.arch) {
    throw new PretrainedError('UNKNOWN_ARCH', where, `options.arch is ${options.arch} but config.json describes another architecture`);
  }
  const tensors = readTensors(files, dtype);
  try {
    let model: nn.Sequential;
    let rules: KeyRule[];
    let config: Record<string, unknown>;
    let ignore: RegExp[] = [];
    let numClasses: number;
    let vitSpec: ViTSpec | null = null;
    let imageSize = 0;
    if (arch === 'vit') {
      const spec = fileConfig === null ? vitSpecFromTensors(tensors, options.config ?? {}, where) : vitSpecFromConfig(fileConfig, tensors, where);
      vitSpec = spec;
      config = fileConfig ?? { layout: spec.layout, image_size: spec.imageSize, patch_size: spec.patch, hidden_size: spec.hidden, num_hidden_layers: spec.layers, num_attention_heads: spec.heads, intermediate_size: spec.mlp };
      numClasses = options.numClasses ?? spec.numLabels ?? 1000;
      imageSize = options.imageSize ?? spec.imageSize;
      if (imageSize % spec.patch !== 0) throw new PretrainedError('BAD_OPTION', where, `imageSize ${imageSize} is not a multiple of the patch size ${spec.patch}`);
      model = buildViT(spec, imageSize, numClasses);
      rules = vitRules(spec);
      const posKey = (rules.find((r) => r.target === 'encoder.pos_embedding') as KeyRule).sources[0] as string;
      const pos = tensors.get(posKey);
      if (pos !== undefined && imageSize !== spec.imageSize) {
        tensors.set(posKey, resamplePositions(pos, imageSize / spec.patch));
        pos.dispose();
      }
    } else if (arch === 'roberta') {
      let spec;
      if (fileConfig === null) ({ spec, config } = robertaSpecFromTensors(tensors, options.config ?? {}, where));
      else [spec, config] = [robertaSpec(fileConfig, where), fileConfig];
      numClasses = options.numClasses ?? spec.numLabels ?? 2;
      model = buildRoberta(spec, numClasses);
      rules = robertaRules(spec.numLayers, robertaPrefix(tensors));
      ignore = ROBERTA_IGNORE;
    } else {
      const r = resnetFromTensors(arch, tensors, options.numClasses, where);
      ({ model, rules, ignore, numClasses } = r);
      config = { architecture: arch, num_classes: numClasses };
    }
    if (dtype !== 'float32') model.to(dtype);
    // Checked whole before anything is copied: a refused checkpoint leaves only an unreachable model.
    const report = applyRules(model, rules, tensors, { headSwap: options.numClasses !== undefined, strict, ignore, where });
    if (vitSpec !== null) initViTHead(model, vitSpec, report);
    model.eval();
    const saveRules = arch === 'roberta' ? robertaRules(numLayersOf(rules), 'roberta.') : vitSpec?.layout === 'hf' ? vitRules({ ...vitSpec, prefix: 'vit.' }) : rules;
    saved.set(model, { arch, config, rules: saveRules, numClasses, imageSize, hfFolder: files.config !== null, source: files.config === null ? null : files.dir });
    const tokenizer = files.tokenizer === null ? null : new PretrainedTokenizer(files.tokenizer, tokenizerMaxLength(config));
    const images =
      arch === 'roberta'
        ? null
        : { size: vitSpec === null ? null : imageSize, ...imageNormalization(vitSpec !== null && vitSpec.layout !== 'torchvision' ? HALF : IMAGENET, { ...(options.config ?? {}), ...(fileConfig ?? {}) }, files.config === null ? null : files.dir, where) };
    return { model, arch, config, tokenizer, images, report };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

const numLayersOf = (rules: KeyRule[]): number => rules.filter((r) => r.target.endsWith('self_attn.in_proj_weight')).length;

/** RoBERTa's longest input: max_position_embeddings less the padding_idx + 1 offset (512 for roberta-base). */
function tokenizerMaxLength(config: Record<string, unknown>): number {
  const p = config['max_position_embeddings'];
  const pad = config['pad_token_id'];
  return typeof p === 'number' ? p - (typeof pad === 'number' ? pad + 1 : 2) : 512;
}

// Copied along from the source folder: the tokenizer's files and an image model's preprocessing.
const SIDE_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'preprocessor_config.json'];

/**
 * Writes a model made by fromPretrained back in its checkpoint's layout: for RoBERTa a
 * transformers folder (config.json for RobertaForSequenceClassification with the model's classes,
 * model.safetensors, and the source folder's tokenizer files); for a Hugging Face ViT folder a
 * ViTForImageClassification folder; for a timm or torchvision ViT or a torchvision ResNet state
 * dict the same keys as `dir/model.safetensors`.
 */
export async function savePretrained(model: nn.Module, dir: string): Promise<void> {
  const info = saved.get(model);
  if (info === undefined) throw new PretrainedError('BAD_OPTION', String(dir), 'savePretrained: the model was not made by models.fromPretrained, so it has no checkpoint layout to save in');
  if (typeof dir !== 'string' || dir === '') throw new PretrainedError('BAD_OPTION', String(dir), 'savePretrained: dir must be a non-empty string');
  fs.mkdirSync(dir, { recursive: true });
  const tensors = exportRules(model, info.rules);
  const dtype = (Object.values(tensors)[0] as Tensor).dtype;
  try {
    save(path.join(dir, 'model.safetensors'), tensors, { headerMetadata: { format: 'pt' } });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  if (info.arch === 'roberta') {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(robertaSavedConfig(info.config, info.numClasses, dtype), null, 2) + '\n');
  } else if (info.arch === 'vit' && info.hfFolder) {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(vitSavedConfig(info.config, info.numClasses, info.imageSize, dtype), null, 2) + '\n');
  }
  if (info.source !== null && path.resolve(info.source) !== path.resolve(dir)) {
    for (const f of SIDE_FILES) {
      const from = path.join(info.source, f);
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(dir, f));
    }
  }
}
