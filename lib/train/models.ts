// Models by name, for the trainer. `smallCnn` and `mlp` are built here from msam.nn; the others
// come with msam.models (models/), which the trainer uses once it is in this tree.
//
// Switch point: when msam.models is merged, `smallCnn` becomes `models.smallCnn(options)` (the
// same layers: conv-BN-ReLU-pool twice, then a linear classifier) and the rest map one to one.
import * as nn from '../nn';
import type { Module } from '../nn/module';
import type { TrainConfig } from './config';

export interface ModelContext {
  /** One example's shape ([C, H, W] for images). */
  inputShape: number[];
  numClasses: number;
}

type Builder = (options: Record<string, unknown>, ctx: ModelContext) => Module;

function intList(options: Record<string, unknown>, key: string, fallback: number[], model: string): number[] {
  const v = options[key] ?? fallback;
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => !Number.isInteger(x) || (x as number) < 1)) {
    throw new RangeError(`model.options.${key} of '${model}' must be a non-empty array of positive integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

function checkOptions(options: Record<string, unknown>, known: string[], model: string): void {
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new TypeError(`model.options.${k}: unknown option of '${model}' (expected ${known.join(', ')})`);
  }
}

/** conv(3×3)-BN-ReLU-maxpool(2) per entry of `channels`, then flatten and a linear classifier. */
export const smallCnn: Builder = (options, { inputShape, numClasses }) => {
  checkOptions(options, ['channels'], 'smallCnn');
  const channels = intList(options, 'channels', [32, 64], 'smallCnn');
  let [c, h, w] = inputShape as [number, number, number];
  if (inputShape.length !== 3) throw new RangeError(`smallCnn takes images [C, H, W], got examples of shape [${inputShape.join(', ')}]`);
  const layers: Record<string, Module> = {};
  channels.forEach((out, i) => {
    layers[`conv${i + 1}`] = new nn.Conv2d(c, out, 3, { padding: 1 });
    layers[`bn${i + 1}`] = new nn.BatchNorm2d(out);
    layers[`relu${i + 1}`] = new nn.ReLU();
    layers[`pool${i + 1}`] = new nn.MaxPool2d(2);
    [c, h, w] = [out, Math.floor(h / 2), Math.floor(w / 2)];
  });
  layers['flatten'] = new nn.Flatten();
  layers['fc'] = new nn.Linear(c * h * w, numClasses);
  return new nn.Sequential(layers);
};

/** Flatten, then Linear-ReLU (-Dropout when `dropout` > 0) per entry of `hidden`, then a linear classifier. */
export const mlp: Builder = (options, { inputShape, numClasses }) => {
  checkOptions(options, ['hidden', 'dropout'], 'mlp');
  const hidden = intList(options, 'hidden', [256], 'mlp');
  const dropout = options['dropout'] ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new RangeError(`model.options.dropout of 'mlp' must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  let width = inputShape.reduce((a, b) => a * b, 1);
  const layers: Module[] = [new nn.Flatten()];
  for (const h of hidden) {
    layers.push(new nn.Linear(width, h), new nn.ReLU());
    if (dropout > 0) layers.push(new nn.Dropout(dropout));
    width = h;
  }
  layers.push(new nn.Linear(width, numClasses));
  return new nn.Sequential(...layers);
};

const builders: Partial<Record<TrainConfig['model']['name'], Builder>> = { smallCnn, mlp };

/** Builds `config.model` for data of `ctx`; models that come with msam.models say so while it is absent. */
export function buildModel(spec: TrainConfig['model'], ctx: ModelContext): Module {
  const build = builders[spec.name];
  if (build === undefined) {
    throw new Error(`model '${spec.name}' comes with msam.models, which this build does not have yet; the models available to train() are ${Object.keys(builders).join(', ')}`);
  }
  return build(spec.options, ctx);
}
