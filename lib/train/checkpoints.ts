// A run's files and its checkpoints: where they go, finding the one to resume, reading what
// resume needs from the checkpoint alone (its header holds the metadata, so a file copied without
// its .json sidecar still resumes), keeping the last k, and loading weights for initFrom.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { load, loadMetadata } from '../checkpoint';
import { syncDirectory } from '../checkpoint/atomic';
import type { Module } from '../nn/module';
import { ConfigError } from './resolve';

/** Where a run's files go. */
export const runFiles = (outDir: string) => ({
  results: path.join(outDir, 'results.json'),
  metrics: path.join(outDir, 'metrics.jsonl'),
  csv: path.join(outDir, 'metrics.csv'),
  curves: path.join(outDir, 'curves.svg'),
  checkpoints: path.join(outDir, 'checkpoints'),
  last: path.join(outDir, 'checkpoints', 'last.safetensors'),
  best: path.join(outDir, 'checkpoints', 'best.safetensors'),
});

/**
 * What a training checkpoint's metadata says it is. /2 added the validation split and step
 * budgets; a /1 checkpoint's configuration would resolve to a different split, so it is refused.
 */
export const CHECKPOINT_KIND = 'msam.train/2';

/** A checkpoint file from `resume` (true: <outDir>/checkpoints/last.safetensors; a run directory; a file). */
export function checkpointFile(resume: string | true, outDir: string | undefined): string {
  if (resume === true) {
    if (outDir === undefined) throw new ConfigError([{ field: 'resume', source: null, message: 'resume: true needs outDir (the run to continue), or give resume the checkpoint file or run directory' }]);
    return runFiles(outDir).last;
  }
  if (fs.existsSync(resume) && fs.statSync(resume).isDirectory()) {
    for (const f of [runFiles(resume).last, path.join(resume, 'last.safetensors')]) if (fs.existsSync(f)) return f;
    throw new Error(`resume: ${resume} holds no checkpoint (looked for checkpoints/last.safetensors and last.safetensors)`);
  }
  if (!fs.existsSync(resume)) throw new Error(`resume: the checkpoint ${resume} does not exist`);
  return resume;
}

/** The `extra` JSON of a training checkpoint (tensors inside are placeholders), from the file's header. */
export function readTrainExtra(file: string): Record<string, unknown> & { config: unknown } {
  const meta = loadMetadata(file);
  const extra = meta?.['extra'] as Record<string, unknown> | null | undefined;
  if (extra !== null && extra !== undefined && extra['kind'] === 'msam.train/1') {
    throw new Error(`resume: ${file} was written by an earlier msam (msam.train/1, before the validation split); this version cannot continue it exactly: start a new run, or use --init-from ${file} to start from its weights`);
  }
  if (extra === null || extra === undefined || extra['kind'] !== CHECKPOINT_KIND) {
    throw new Error(`resume: ${file} is not a checkpoint written by msam.train (no '${CHECKPOINT_KIND}' metadata)`);
  }
  return extra as Record<string, unknown> & { config: unknown };
}

/**
 * Keeps a copy of `last` as step-<n>.safetensors (a hard link: last is replaced by rename, so the
 * link keeps this version) and removes the oldest beyond `keep` (which counts last itself).
 */
export function keepCheckpoint(files: ReturnType<typeof runFiles>, step: number, keep: number): void {
  if (keep <= 1) return;
  const name = (n: number) => path.join(files.checkpoints, `step-${String(n).padStart(8, '0')}.safetensors`);
  for (const suffix of ['', '.json']) {
    const target = `${name(step)}${suffix}`;
    const tmp = `${target}.tmp`;
    fs.rmSync(tmp, { force: true });
    fs.linkSync(`${files.last}${suffix}`, tmp);
    fs.renameSync(tmp, target);
  }
  const steps = fs
    .readdirSync(files.checkpoints)
    .map((f) => /^step-(\d+)\.safetensors$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  for (const old of steps.slice(0, Math.max(0, steps.length - (keep - 1)))) {
    for (const suffix of ['', '.json']) fs.rmSync(`${name(old)}${suffix}`, { force: true });
  }
  syncDirectory(files.checkpoints);
}

/**
 * Loads weights into `model` for initFrom: a training checkpoint (its model.* tensors), a best
 * checkpoint, or a module saved with msam.save. Shapes and names must match the model's.
 */
export function loadInitWeights(model: Module, file: string): void {
  if (!fs.existsSync(file)) throw new ConfigError([{ field: 'initFrom', source: null, message: `the checkpoint ${file} does not exist` }]);
  const { tensors, metadata } = load(file);
  try {
    const isCheckpoint = metadata !== null && metadata['format'] === 'msam.checkpoint/1';
    const weights: Record<string, (typeof tensors)[string]> = {};
    for (const [k, t] of Object.entries(tensors)) {
      if (!isCheckpoint) weights[k] = t;
      else if (k.startsWith('model.')) weights[k.slice('model.'.length)] = t;
    }
    try {
      model.loadStateDict(weights);
    } catch (e) {
      throw new Error(`initFrom: the weights in ${file} do not fit this model: ${(e as Error).message}`);
    }
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
