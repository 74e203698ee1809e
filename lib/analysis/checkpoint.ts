// A trained model back from a checkpoint that msam.train wrote (last or best): its configuration
// from the sidecar, the model rebuilt for its data set, and its weights loaded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, loadMetadata } from '../checkpoint';
import type { Module } from '../nn/module';
import { Tensor } from '../tensor/core';
import type { TrainConfig } from '../train/config';
import type { LoadedData } from '../train/datasets';
import type { TransformOptions } from '../data/transforms';
import { runModel } from '../train/run-model';
import { validate } from '../train/resolve';
import { runFiles } from '../train/trainer';
import type { Device } from '../types';

const KINDS = ['msam.train/1', 'msam.train/2', 'msam.train.best/1'];

/** A checkpoint file, or a run directory (its checkpoints/last.safetensors: the final solution). */
export function checkpointPath(fileOrRun: string): string {
  if (!fs.existsSync(fileOrRun)) throw new Error(`--checkpoint: ${fileOrRun} does not exist`);
  if (!fs.statSync(fileOrRun).isDirectory()) return fileOrRun;
  for (const f of [runFiles(fileOrRun).last, path.join(fileOrRun, 'last.safetensors')]) if (fs.existsSync(f)) return f;
  throw new Error(`--checkpoint: the directory ${fileOrRun} holds no checkpoint (looked for checkpoints/last.safetensors and last.safetensors)`);
}

/** The training configuration a checkpoint of msam.train records (its metadata's extra.config: the sidecar, or the header's copy). */
export function trainedConfig(file: string): TrainConfig {
  let meta: { extra?: { kind?: unknown; config?: unknown } | null } | null;
  try {
    meta = loadMetadata(file) as typeof meta;
  } catch (e) {
    throw new Error(`${file}: cannot read its metadata (${(e as Error).message})`);
  }
  if (meta === null) throw new Error(`${file} was not written by msam.train (it has no metadata with its configuration): the model cannot be rebuilt`);
  const extra = meta?.extra;
  if (extra === null || extra === undefined || !KINDS.includes(String(extra.kind))) {
    throw new Error(`${file} was not written by msam.train (its metadata has no ${KINDS.join(' or ')} metadata): the model cannot be rebuilt`);
  }
  return validate(extra.config);
}

/**
 * The checkpoint's model, built as its run built it for `data` (a pretrained run's from its
 * checkpoint again), with the saved weights, on `device`; and the transform its inputs need.
 */
export async function loadTrainedModel(file: string, config: TrainConfig, data: LoadedData, device: Device): Promise<{ model: Module; transform: TransformOptions }> {
  const { model, transform } = await runModel(config, data);
  const ck = loadCheckpoint(file, { device });
  try {
    model.to(device);
    model.loadStateDict(ck.model);
  } finally {
    disposeAll(ck); // the model's copies, the optimizer state and the generator states
  }
  return { model, transform };
}

function disposeAll(v: unknown): void {
  if (v instanceof Tensor) v.dispose();
  else if (v !== null && typeof v === 'object') Object.values(v).forEach(disposeAll);
}
