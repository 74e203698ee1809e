// Models by name, for the trainer: msam.models' builders, with what the data set implies
// (classes, channels, image size, inputs per example) filled in unless model.options gives it.
import * as models from '../../models';
import type { Module } from '../nn/module';
import type { TrainConfig } from './config';

export interface ModelContext {
  /** One example's shape ([C, H, W] for images). */
  inputShape: number[];
  numClasses: number;
  /** Text data sets: the tokenizer's vocabulary size and the longest sequence. */
  vocabSize?: number;
  maxLength?: number;
}

type Options = Record<string, unknown>;

/** For each model: the builder, and the options the data set supplies. */
const registry: Record<TrainConfig['model']['name'], { build: (o: Options) => Module; fromData: (ctx: ModelContext) => Options }> = {
  smallCnn: {
    build: (o) => models.smallCnn(o),
    fromData: ({ inputShape: [c, h, w], numClasses }) => {
      if (h !== w) throw new RangeError(`smallCnn takes square images, the data set's are ${h}×${w}`);
      return { numClasses, inChannels: c, imageSize: h };
    },
  },
  mlp: { build: (o) => models.mlp(o), fromData: ({ inputShape, numClasses }) => ({ numClasses, inFeatures: inputShape.reduce((a, b) => a * b, 1) }) },
  resnet18: { build: (o) => models.resnet18(o), fromData: images },
  resnet34: { build: (o) => models.resnet34(o), fromData: images },
  resnet50: { build: (o) => models.resnet50(o), fromData: images },
  resnet101: { build: (o) => models.resnet101(o), fromData: images },
  wideResNet: { build: (o) => models.wideResNet(o), fromData: images },
  vit: {
    build: (o) => models.vit(o),
    fromData: (ctx) => {
      const [, h, w] = ctx.inputShape;
      if (h !== w) throw new RangeError(`vit takes square images, the data set's are ${h}×${w}`);
      return { ...images(ctx), imageSize: h };
    },
  },
  textClassifier: {
    build: (o) => models.textClassifier(o as unknown as models.TextClassifierOptions),
    fromData: ({ numClasses, vocabSize }) => (vocabSize === undefined ? { numClasses } : { numClasses, vocabSize }),
  },
};

function images({ inputShape, numClasses }: ModelContext): Options {
  return { numClasses, inChannels: inputShape[0] };
}

/** Builds `config.model` for data of `ctx`: the data's classes and shape, then model.options over them. */
export function buildModel(spec: TrainConfig['model'], ctx: ModelContext): Module {
  const entry = registry[spec.name];
  const options = { ...entry.fromData(ctx), ...spec.options };
  // Token ids must fit the embedding, and sequences the positions.
  if (ctx.vocabSize !== undefined && typeof options['vocabSize'] === 'number' && options['vocabSize'] < ctx.vocabSize) {
    throw new RangeError(`model.options.vocabSize: ${options['vocabSize']} is smaller than the tokenizer's vocabulary (${ctx.vocabSize} ids)`);
  }
  if (ctx.maxLength !== undefined && typeof options['maxPositions'] === 'number' && options['maxPositions'] < ctx.maxLength) {
    throw new RangeError(`model.options.maxPositions: ${options['maxPositions']} is shorter than data.maxLength (${ctx.maxLength})`);
  }
  try {
    return entry.build(options);
  } catch (e) {
    // The builder names the model and the option; say where it came from.
    if (e instanceof Error) e.message = `model.options: ${e.message}`;
    throw e;
  }
}
