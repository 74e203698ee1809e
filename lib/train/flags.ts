// The flags of `msam train` and the configuration layers they make: the config file, then
// --preset, then each flag as its own layer (so errors name the flag), then --set items.
import { ConfigError, readConfigFile, setPath, type ConfigLayer } from './resolve';

/** A number when the text is one; otherwise the text itself, which validation then reports with the flag's name. */
const num = (text: string): number | string => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);
const str = (text: string): string => text;

/**
 * Flags and the fields they set, in the order they apply: a flag naming an optimizer or schedule
 * comes before the flags that set its options, so `--optimizer adamw --lr 3e-4` sets AdamW's lr.
 */
export const FLAGS: { flag: string; field: string; parse: (text: string) => unknown; help: string }[] = [
  { flag: '--method <method>', field: 'method', parse: str, help: "'vanilla', 'sam' or 'msam'" },
  { flag: '--m <shards>', field: 'm', parse: num, help: 'mSAM shards per batch (1 is SAM)' },
  { flag: '--micro-batch-size <n>', field: 'microBatchSize', parse: num, help: 'or the shard size: m = ⌈batch size / n⌉' },
  { flag: '--rho <rho>', field: 'rho', parse: num, help: 'perturbation radius ρ (0 is vanilla)' },
  { flag: '--adaptive', field: 'adaptive', parse: () => true, help: "ASAM's adaptive perturbation" },
  { flag: '--strategy <name>', field: 'strategy', parse: str, help: "how the shards run: 'auto' (vectorized on CUDA, else loop), 'loop', 'vectorized' or 'graph'" },
  { flag: '--chunk-size <n>', field: 'chunkSize', parse: num, help: "'vectorized': shards per batched pass (bounds memory; default all)" },
  { flag: '--hybrid <fraction>', field: 'hybrid.fraction', parse: num, help: 'mSAM for this fraction of the steps, vanilla for the rest (Appendix A)' },
  { flag: '--hybrid-position <first|last>', field: 'hybrid.position', parse: str, help: 'where the mSAM part of a hybrid run is (default first)' },
  { flag: '--optimizer <sgd|adamw>', field: 'optimizer.name', parse: str, help: 'the base optimizer' },
  { flag: '--lr <lr>', field: 'optimizer.lr', parse: num, help: 'peak learning rate' },
  { flag: '--momentum <m>', field: 'optimizer.momentum', parse: num, help: "SGD's momentum" },
  { flag: '--weight-decay <wd>', field: 'optimizer.weightDecay', parse: num, help: 'weight decay' },
  { flag: '--schedule <name>', field: 'schedule.name', parse: str, help: "'oneCycle', 'cosine', 'linear', 'step' or 'constant'" },
  { flag: '--warmup <fraction>', field: 'schedule.warmupFraction', parse: num, help: 'warm-up fraction of the steps' },
  { flag: '--label-smoothing <x>', field: 'labelSmoothing', parse: num, help: 'label smoothing' },
  { flag: '--grad-clip <norm>', field: 'gradClip', parse: num, help: "clip the gradient's norm" },
  { flag: '--epochs <n>', field: 'epochs', parse: num, help: 'epochs' },
  { flag: '--batch-size <n>', field: 'batchSize', parse: num, help: 'examples per step' },
  { flag: '--seed <n>', field: 'seed', parse: num, help: 'seeds the model, the data order and the augmentation' },
  { flag: '--device <device>', field: 'device', parse: str, help: "'auto' (default), 'cpu', 'cuda' or 'cuda:N'" },
  { flag: '--precision <fp32|bf16>', field: 'precision', parse: str, help: "'bf16': autocast to bfloat16" },
  { flag: '--threads <n>', field: 'threads', parse: num, help: "libtorch's CPU threads" },
  { flag: '--data-dir <dir>', field: 'data.dir', parse: str, help: "the data set's files (Fashion-MNIST: /usr/share/datasets/fashion-mnist; CIFAR: the binary version's .bin files; GLUE: the task's train.tsv and dev.tsv)" },
  { flag: '--tokenizer <file>', field: 'data.tokenizer', parse: str, help: 'GLUE: a tokenizer.json (default: a word-level vocabulary from the training set)' },
  { flag: '--max-length <n>', field: 'data.maxLength', parse: num, help: 'GLUE: the longest sequence in tokens (default 128)' },
  { flag: '--train-limit <n>', field: 'data.trainLimit', parse: num, help: 'train on the first n examples only' },
  { flag: '--test-limit <n>', field: 'data.testLimit', parse: num, help: 'evaluate on the first n test examples only' },
  { flag: '--label-noise <x>', field: 'data.labelNoise', parse: num, help: 'symmetric label noise: change this fraction of the training labels (never validation or test) to another class, uniformly, seeded by --seed (default 0)' },
  { flag: '--image-size <n>', field: 'data.imageSize', parse: num, help: "resize images to n×n (bilinear, antialiased as torchvision's Resize) after crop and flip (default: the data's size; with a pretrained ViT, its own: 224 for ViT-B/16)" },
  { flag: '--val-fraction <x>', field: 'data.valFraction', parse: num, help: 'the share of the training set held out for validation, which chooses the best model (default 0.1; 0: none, the last model is reported)' },
  { flag: '--early-stop-patience <n>', field: 'earlyStopPatience', parse: num, help: 'stop when the validation metric has not improved for n evaluations (default 0: never)' },
  { flag: '--max-steps <n>', field: 'maxSteps', parse: num, help: 'train for n steps in all (the schedule is computed for them; overrides --epochs)' },
  { flag: '--eval-every <n>', field: 'evalEvery', parse: num, help: 'evaluate on the validation set every n steps too (default 0: at the end of every epoch only)' },
  { flag: '--save-every <n>', field: 'checkpoint.saveEvery', parse: num, help: 'write the last checkpoint every n steps too (default 0: at every evaluation only)' },
  { flag: '--keep-checkpoints <k>', field: 'checkpoint.keep', parse: num, help: 'keep the last k checkpoints as checkpoints/step-<n>.safetensors (default 1: last.safetensors only)' },
  { flag: '--init-from <checkpoint>', field: 'initFrom', parse: str, help: "start from a checkpoint's weights (a run's last or best, or msam.save of a module) with a fresh optimizer and schedule" },
  { flag: '--pretrained <path>', field: 'pretrained', parse: str, help: "fine-tune a pretrained checkpoint (a Hugging Face folder with config.json, e.g. roberta-base; or a timm/torchvision ViT .safetensors) with a new head for the data's classes" },
  { flag: '--max-non-finite-steps <k>', field: 'maxNonFiniteSteps', parse: num, help: 'stop the run when k steps in a row are skipped as non-finite (default 10; 0: never)' },
  { flag: '--out-dir <dir>', field: 'outDir', parse: str, help: 'where results.json, metrics.jsonl and checkpoints/ go (default runs/<preset>-<method>-<time>)' },
  { flag: '--log-every <steps>', field: 'log.everySteps', parse: num, help: 'a metrics line every n steps too' },
  { flag: '--progress <mode>', field: 'log.progress', parse: str, help: "'auto' (a bar on a terminal), 'bar', 'plain' or 'none'" },
];

/** `--micro-batch-size` → `microBatchSize`, as commander names option values. */
const attribute = (flag: string): string =>
  (flag.split(' ')[0] as string)
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parses `path=value` (value as JSON when it parses, else a string). */
function parseSet(item: string): [string, unknown] {
  const eq = item.indexOf('=');
  if (eq <= 0) throw new ConfigError([{ field: item, source: `--set ${item}`, message: "expected --set path=value (e.g. --set optimizer.nesterov=true)" }]);
  const text = item.slice(eq + 1);
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // a bare string
  }
  return [item.slice(0, eq), value];
}

/** The configuration layers of a `msam train` command line: the preset, then the file, then each flag. */
export function trainLayersFromOptions(opts: Record<string, unknown>): ConfigLayer[] {
  const layers: ConfigLayer[] = [];
  if (typeof opts['config'] === 'string') layers.push(readConfigFile(opts['config']));
  if (typeof opts['preset'] === 'string') layers.push({ source: '--preset', values: { preset: opts['preset'] } });
  for (const f of FLAGS) {
    const v = opts[attribute(f.flag)];
    if (v === undefined) continue;
    const values: Record<string, unknown> = {};
    setPath(values, f.field, typeof v === 'string' ? f.parse(v) : v);
    layers.push({ source: f.flag.split(' ')[0] as string, values });
  }
  if (opts['resume'] !== undefined) layers.push({ source: '--resume', values: { resume: opts['resume'] } });
  for (const item of (opts['set'] as string[] | undefined) ?? []) {
    const [field, value] = parseSet(item);
    const values: Record<string, unknown> = {};
    setPath(values, field, value);
    layers.push({ source: `--set ${item}`, values });
  }
  return layers;
}

