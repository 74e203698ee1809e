// A run's data and model as its configuration makes them, for the trainer and for whatever rebuilds
// a trained model later (sharpness, analysis): the data set (with a pretrained checkpoint's
// tokenizer), the model (built, or a pretrained checkpoint with a new head), and the transform its
// inputs need (normalization; images resized to data.imageSize, or to a pretrained ViT's own size).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromPretrained, type ImagePreprocessing } from '../../models/pretrained';
import type { TransformOptions } from '../data/transforms';
import type { Module } from '../nn/module';
import type { TrainConfig } from './config';
import { loadData, type LoadedData } from './datasets';
import { buildModel } from './models';
import { ConfigError } from './resolve';

/** The data set of a run: a GLUE task fine-tuning a pretrained checkpoint takes its tokenizer and position limit. */
export function runData(config: TrainConfig): LoadedData {
  return loadData(config.pretrained === null ? config.data : pretrainedData(config.data, config.pretrained));
}

/**
 * A text data set fine-tuning a pretrained checkpoint: its tokenizer.json (unless data.tokenizer
 * says otherwise), and sequences no longer than its positions allow (RoBERTa: max_position_embeddings
 * − pad_token_id − 1).
 */
function pretrainedData(spec: TrainConfig['data'], dir: string): TrainConfig['data'] {
  if (!spec.name.startsWith('glue-')) return spec;
  const tokenizer = path.join(dir, 'tokenizer.json');
  let maxLength = spec.maxLength;
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    if (typeof c['max_position_embeddings'] === 'number') maxLength = Math.min(maxLength, c['max_position_embeddings'] - (typeof c['pad_token_id'] === 'number' ? c['pad_token_id'] + 1 : 2));
  } catch {
    // No readable config.json: fromPretrained reports it, naming the fault.
  }
  return { ...spec, maxLength, ...(spec.tokenizer === undefined && fs.existsSync(tokenizer) ? { tokenizer } : {}) };
}

export interface RunModel {
  model: Module;
  /** Whether the inputs are images (augmentations apply to training batches). */
  images: boolean;
  /** Every batch's transform (training batches add data.augment): normalization and resizing. */
  transform: TransformOptions;
  /** A pretrained image checkpoint's own preprocessing (its normalization is the transform's), else null. */
  pretrainedImages: ImagePreprocessing | null;
}

/**
 * The run's model for `data` (its weights as initialized or as the checkpoint holds them; call
 * after manualSeed for a reproducible head) and its inputs' transform. Images reach the model at
 * data.imageSize, else at a pretrained ViT's own size (CIFAR's 32² → 224² for ViT-B/16), else as
 * stored; a pretrained image model sees them normalized as its checkpoint was trained.
 */
export async function runModel(config: TrainConfig, data: LoadedData): Promise<RunModel> {
  const images = data.inputShape.length === 3;
  if (config.data.imageSize !== undefined && !images) throw new ConfigError([{ field: 'data.imageSize', source: null, message: `${config.data.name} has no images to resize` }]);
  const pretrained = config.pretrained === null ? null : await pretrainedModel(config.pretrained, data.numClasses, images, config.data.imageSize);
  const [channels, height, width] = data.inputShape as [number, number, number];
  const imageSize = config.data.imageSize ?? pretrained?.images?.size ?? undefined;
  const inputShape = images && imageSize !== undefined ? [channels, imageSize, imageSize] : data.inputShape;
  const model = pretrained?.model ?? buildModel(config.model, { inputShape, numClasses: data.numClasses, vocabSize: data.vocabSize, maxLength: data.maxLength });
  const norm = pretrained?.images ?? (data.mean === undefined ? null : { mean: data.mean, std: data.std as number[] });
  const resize = images && imageSize !== undefined && (imageSize !== height || imageSize !== width) ? { resize: imageSize } : {};
  return { model, images, transform: norm === null ? {} : { mean: norm.mean, std: norm.std, ...resize }, pretrainedImages: pretrained?.images ?? null };
}

/**
 * The pretrained model with a head for the data's classes, and for image data the inputs it
 * expects: a ViT at `imageSize` when given (its positions resampled), else at its own size; the
 * checkpoint's normalization (models.fromPretrained's `images`).
 */
async function pretrainedModel(where: string, numClasses: number, imageData: boolean, imageSize: number | undefined): Promise<{ model: Module; images: ImagePreprocessing | null }> {
  const isVit = (() => {
    try {
      const c = JSON.parse(fs.readFileSync(path.join(where, 'config.json'), 'utf8')) as Record<string, unknown>;
      return c['model_type'] === 'vit';
    } catch {
      return where.endsWith('.safetensors');
    }
  })();
  const p = await fromPretrained(where, { numClasses, ...(where.endsWith('.safetensors') ? { arch: 'vit' as const } : {}), ...(isVit && imageSize !== undefined ? { imageSize } : {}) });
  return { model: p.model, images: imageData ? p.images : null };
}
