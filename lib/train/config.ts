// The training configuration: one zod schema, the types derived from it, and the checks that
// relate fields to each other. Values come from a preset, a config file and flags (resolve.ts);
// this file only says what a valid configuration is.
import { z } from 'zod';

export const METHODS = ['vanilla', 'sam', 'msam'] as const;
export const DATASETS = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'glue-cola', 'glue-mrpc', 'glue-sst2', 'glue-qqp'] as const;
/** msam.models' builders. */
export const MODELS = ['smallCnn', 'mlp', 'resnet18', 'resnet34', 'resnet50', 'resnet101', 'wideResNet', 'vit', 'textClassifier'] as const;

const finite = () => z.number().finite();
const nonNegative = () => finite().min(0);
const positive = () => finite().gt(0);
const count = () => z.number().int().min(1);
const fraction = () => finite().min(0).max(1);

/**
 * oneCycle's floor on the warm-up, in steps: a preset's 5% of a run cut short by --quick or
 * --train-limit is 1 or 2 steps, which at the preset's peak learning rate diverged to chance.
 */
export const MIN_WARMUP_STEPS = 20;

const sgd = z.strictObject({
  name: z.literal('sgd'),
  /** Peak learning rate (the schedule's maximum). */
  lr: positive(),
  momentum: nonNegative().default(0.9),
  nesterov: z.boolean().default(false),
  weightDecay: nonNegative().default(5e-4),
});

const adamw = z.strictObject({
  name: z.literal('adamw'),
  lr: positive().default(1e-3),
  betas: z.tuple([fraction().lt(1), fraction().lt(1)]).default([0.9, 0.999]),
  eps: positive().default(1e-8),
  weightDecay: nonNegative().default(0.01),
});

const schedule = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.literal('oneCycle'),
    /** Fraction of the steps warming up (the paper: 5%, GLUE 6%). */
    warmupFraction: fraction().default(0.05),
    /** The warm-up is at least this many steps (at most half the run), so that a short run keeps one. */
    minWarmupSteps: z.number().int().min(0).default(MIN_WARMUP_STEPS),
    divFactor: positive().default(25),
    finalDivFactor: positive().default(1e4),
    anneal: z.enum(['cos', 'linear']).default('cos'),
  }),
  z.strictObject({ name: z.literal('cosine'), warmupFraction: fraction().lt(1).default(0), minWarmupSteps: z.number().int().min(0).default(0), minLr: nonNegative().default(0) }),
  z.strictObject({ name: z.literal('linear'), warmupFraction: fraction().lt(1).default(0), minWarmupSteps: z.number().int().min(0).default(0), endLr: nonNegative().default(0) }),
  z.strictObject({ name: z.literal('step'), everyEpochs: count(), gamma: nonNegative().default(0.1) }),
  z.strictObject({ name: z.literal('constant') }),
]);

const device = z.union([z.enum(['auto', 'cpu', 'cuda']), z.string().regex(/^cuda:\d+$/, "expected 'auto', 'cpu', 'cuda' or 'cuda:N'")]);

export const trainConfigSchema = z
  .strictObject({
    /** The preset these values started from (informational; resolve.ts reads it). */
    preset: z.string().optional(),
    data: z
      .strictObject({
        name: z.enum(DATASETS),
        /** Where the files are; default: the data set's standard place (Fashion-MNIST: /usr/share/datasets/fashion-mnist). */
        dir: z.string().min(1).optional(),
        /** Text data sets: a Hugging Face tokenizer.json; default a lowercased word-level vocabulary from the training set. */
        tokenizer: z.string().min(1).optional(),
        /** Text data sets: the longest sequence in tokens, special tokens included. */
        maxLength: z.number().int().min(2).default(128),
        /** Train on the first N training examples only (quick runs). */
        trainLimit: count().optional(),
        /** Evaluate on the first N test examples only. */
        testLimit: count().optional(),
        /**
         * The fraction of the training examples (after trainLimit) held out as the validation set,
         * which alone chooses the best checkpoint and early stopping; 0: no validation set (the
         * last model is the one reported). The split is fixed: the same for every seed and method.
         */
        valFraction: fraction().lt(1).default(0.1),
        /**
         * Symmetric label noise: this fraction of the training labels (after the validation split;
         * validation and test labels stay clean) changed to another class, drawn uniformly, seeded
         * by the run's seed. 0: none.
         */
        labelNoise: fraction().default(0),
        /**
         * Image data sets: resize every image to imageSize² after crop and flip (bilinear,
         * antialiased, as torchvision's Resize on tensors); the model takes that size. Default:
         * the data set's own size, or a pretrained ViT's (CIFAR at 224² for ViT-B/16).
         */
        imageSize: z.number().int().min(1).optional(),
        augment: z
          .strictObject({
            /** Random crop after zero padding of this many pixels (CIFAR: 4); 0 off. */
            crop: z.number().int().min(0).default(0),
            flip: z.boolean().default(false),
            /** Cutout square side; 0 off. */
            cutout: z.number().int().min(0).default(0),
          })
          .prefault({}),
      })
      .prefault({ name: 'fashion-mnist' }),
    model: z
      .strictObject({
        name: z.enum(MODELS),
        /** The builder's options (msam.models: width, depth, widen, variant, ...); classes, channels and image size come from the data unless given. */
        options: z.record(z.string(), z.unknown()).default({}),
      })
      .prefault({ name: 'smallCnn' }),
    method: z.enum(METHODS).default('msam'),
    /** mSAM's shards per batch (method 'msam'; 'sam' is m = 1 and ignores it); give m or microBatchSize. */
    m: count().optional(),
    /** Or the shard size: m = ⌈batchSize / microBatchSize⌉ (the paper: 16 of 512). */
    microBatchSize: count().optional(),
    rho: nonNegative().default(0.2),
    /** ASAM's adaptive perturbation. */
    adaptive: z.boolean().default(false),
    /** How the step's shards run (MSAMOptions.strategy): 'auto' (vectorized on CUDA, else the loop), 'loop', 'vectorized', 'graph'. */
    strategy: z.enum(['auto', 'loop', 'vectorized', 'graph']).default('auto'),
    /** 'vectorized': shards per batched pass, to bound memory; default all. */
    chunkSize: count().optional(),
    /** Appendix A: mSAM (or SAM) for a fraction of the steps, at the start or the end; vanilla for the rest. */
    hybrid: z
      .strictObject({
        fraction: finite().gt(0).max(1),
        position: z.enum(['first', 'last']).default('first'),
      })
      .nullable()
      .default(null),
    optimizer: z.discriminatedUnion('name', [sgd, adamw]).prefault({ name: 'sgd', lr: 0.1 }),
    schedule: schedule.prefault({ name: 'oneCycle' }),
    labelSmoothing: fraction().lt(1).default(0),
    /** Clip the gradient's global norm (after the mSAM gradient, before the optimizer); null off. */
    gradClip: positive().nullable().default(null),
    epochs: count(),
    /**
     * Stop after this many steps in all (the schedule is computed for them; epochs is then only
     * the bound ⌈maxSteps / steps per epoch⌉); null: epochs × steps per epoch.
     */
    maxSteps: count().nullable().default(null),
    /** Evaluate on the validation set every N steps as well as at the end of every epoch; 0: epochs only. */
    evalEvery: z.number().int().min(0).default(0),
    /** Stop when the validation metric has not improved for this many evaluations; 0: never. */
    earlyStopPatience: z.number().int().min(0).default(0),
    /** Stop the run when this many steps in a row are skipped as non-finite; 0: never. */
    maxNonFiniteSteps: z.number().int().min(0).default(10),
    checkpoint: z
      .strictObject({
        /** Write checkpoints/last.safetensors every N steps as well as at every evaluation; 0: evaluations only. */
        saveEvery: z.number().int().min(0).default(0),
        /** Keep the last k checkpoints (checkpoints/step-<n>.safetensors besides last); 1: last only. */
        keep: count().default(1),
      })
      .prefault({}),
    /** Start from these weights (a checkpoint or a module's safetensors), with a fresh optimizer and schedule. */
    initFrom: z.string().min(1).nullable().default(null),
    /**
     * Fine-tune a pretrained checkpoint (models.fromPretrained: a Hugging Face folder, or a
     * .safetensors ViT/ResNet state dict) with a head for the data's classes instead of building
     * model.name; a text data set then takes its tokenizer.json unless data.tokenizer is given.
     */
    pretrained: z.string().min(1).nullable().default(null),
    batchSize: count(),
    /** Drop the last incomplete training batch (default true). */
    dropLast: z.boolean().default(true),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
    device: device.default('auto'),
    /** 'bf16': autocast to bfloat16 (weights and gradients stay float32), on CUDA or the CPU. */
    precision: z.enum(['fp32', 'bf16']).default('fp32'),
    /** libtorch's intra-op threads; default: as libtorch starts. */
    threads: count().optional(),
    /** Where results.json, metrics.jsonl and checkpoints/ go; default runs/<preset>-<method>-<time>. */
    outDir: z.string().min(1).optional(),
    /** Continue from a checkpoint: true for <outDir>/checkpoints/last.safetensors, or a checkpoint file or run directory. */
    resume: z.union([z.boolean(), z.string().min(1)]).default(false),
    evalBatchSize: count().default(1000),
    log: z
      .strictObject({
        /** A metrics line every N steps as well as every epoch; 0: epochs only. */
        everySteps: z.number().int().min(0).default(0),
        /** 'auto': a bar on a TTY, plain lines otherwise. */
        progress: z.enum(['auto', 'bar', 'plain', 'none']).default('auto'),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (c.m !== undefined && c.microBatchSize !== undefined) issue(['microBatchSize'], "give either 'm' or 'microBatchSize', not both");
    // m and microBatchSize are mSAM's: SAM (m = 1) and vanilla ignore them.
    if (c.method === 'msam' && c.m !== undefined && c.m > c.batchSize) issue(['m'], `must be at most batchSize (${c.batchSize}), got ${c.m}`);
    if (c.method === 'msam' && c.microBatchSize !== undefined && c.microBatchSize > c.batchSize) {
      issue(['microBatchSize'], `must be at most batchSize (${c.batchSize}), got ${c.microBatchSize}`);
    }
    if (c.method === 'vanilla' && c.hybrid !== null) issue(['hybrid'], "a hybrid schedule mixes mSAM (or SAM) with vanilla steps: set method 'msam' or 'sam'");
    if (c.schedule.name === 'step' && c.schedule.everyEpochs > c.epochs && c.maxSteps === null) issue(['schedule', 'everyEpochs'], `must be at most epochs (${c.epochs})`);
    if (c.earlyStopPatience > 0 && c.data.valFraction === 0) issue(['earlyStopPatience'], 'early stopping watches the validation set: set data.valFraction (--val-fraction) above 0');
  });

/** A complete, validated configuration (what train() runs). */
export type TrainConfig = z.output<typeof trainConfigSchema>;
/** What a user writes: every field with a default may be left out. */
export type TrainConfigInput = z.input<typeof trainConfigSchema>;

/** Deep partial configuration: one layer of values (a preset, a file, flags) before merging. */
export type TrainConfigLayer = DeepPartial<TrainConfigInput>;
type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> | undefined } : T;

export type Method = (typeof METHODS)[number];

/** The number of shards mSAM uses for a full batch under `config` (1 for SAM and vanilla). */
export function shardsOf(config: Pick<TrainConfig, 'method' | 'm' | 'microBatchSize' | 'batchSize'>): number {
  if (config.method !== 'msam') return 1;
  if (config.m !== undefined) return config.m;
  if (config.microBatchSize !== undefined) return Math.ceil(config.batchSize / config.microBatchSize);
  return Math.min(32, config.batchSize);
}

/**
 * Which update step `step` (0-based, of `totalSteps`) takes: 'sharp' (mSAM or SAM, as the method)
 * or 'vanilla'. A hybrid of fraction f at the 'first' position sharpens steps [0, round(f·T)),
 * at the 'last' position steps [T − round(f·T), T).
 */
export function phaseAt(config: Pick<TrainConfig, 'method' | 'hybrid'>, step: number, totalSteps: number): 'sharp' | 'vanilla' {
  if (config.method === 'vanilla') return 'vanilla';
  const h = config.hybrid;
  if (h === null) return 'sharp';
  const sharpSteps = Math.round(h.fraction * totalSteps);
  return h.position === 'first' ? (step < sharpSteps ? 'sharp' : 'vanilla') : step >= totalSteps - sharpSteps ? 'sharp' : 'vanilla';
}
