// The GPU speed table of DESIGN.md ("Speed"): ms per training step and peak memory of vanilla,
// SAM and mSAM for ResNet-50 (CIFAR stem), WRN-28-10 and ViT-B/16 (224²) at batch 512, m = 32,
// msam (vanilla, SAM, mSAM per strategy: loop, graph, vectorized) beside PyTorch eager (vanilla,
// SAM, mSAM as a loop, mSAM vmap-batched) in Python on the same machine.
//
//   node dist/bench/gpu.js [--models resnet50,wrn28-10,vit-b16] [--batch 512] [--m 32]
//        [--precision fp32|bf16] [--device cuda] [--iters 5] [--warmup 2] [--image-size N]
//        [--rho 0.05] [--tf32 on|off] [--case-timeout 300] [--out bench/results/gpu-<precision>.json]
//
// On CUDA each of our cases runs in its own Node process (clean memory for its peak, and a crash
// or time-out is reported for that case alone); PyTorch runs one process per model (bench/gpu.py).
// A case that fails is reported as an error in its cell. Times: the median of --iters steps after
// --warmup steps, each step CUDA-synchronized. Peak memory: the caching allocator's peak of
// allocated bytes (torch.cuda.max_memory_allocated on both sides), from before the first step.
// fp32 runs with TF32 on for matmul and cuDNN on both sides (--tf32 off to measure without);
// bf16 is autocast (MSAMOptions autocast 'bfloat16'; torch.autocast). The JSON is written after
// every model (atomically), so a run cut short keeps what it measured.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as msam from '../lib';
import { packageRoot } from '../lib/native';
import { median, torchPython } from './python';

export const MODELS = {
  resnet50: { title: 'ResNet-50 (CIFAR)', imageSize: 32, numClasses: 10 },
  'wrn28-10': { title: 'WRN-28-10', imageSize: 32, numClasses: 10 },
  'vit-b16': { title: 'ViT-B/16', imageSize: 224, numClasses: 1000 },
} as const;
export type ModelName = keyof typeof MODELS;
export const OUR_METHODS = ['vanilla', 'sam', 'loop', 'graph', 'vectorized'] as const;
export const TORCH_METHODS = ['vanilla', 'sam', 'loop', 'vmap'] as const;
type OurMethod = (typeof OUR_METHODS)[number];

/** One cell: a time and a peak (null off CUDA), or why there is none. */
export type Measure = { ms: number; peakBytes: number | null; skippedSteps?: number } | { error: string };

export interface Config {
  models: ModelName[];
  batch: number;
  m: number;
  rho: number;
  precision: 'fp32' | 'bf16';
  device: msam.Device;
  iters: number;
  warmup: number;
  imageSize: number | null;
  tf32: boolean;
  caseTimeoutS: number;
  out: string;
}

export interface Row {
  model: ModelName;
  title: string;
  imageSize: number;
  numClasses: number;
  ours: Partial<Record<OurMethod, Measure>>;
  pytorch: Partial<Record<(typeof TORCH_METHODS)[number], Measure>>;
}

export interface Result {
  date: string;
  complete: boolean;
  config: Omit<Config, 'out'>;
  msam: msam.VersionInfo;
  pytorch: { torch: string; cuda: string | null; gpu: string | null; vmap: string | null } | { error: string };
  rows: Row[];
}

const FLAGS = ['--models', '--batch', '--m', '--rho', '--precision', '--device', '--iters', '--warmup', '--image-size', '--tf32', '--case-timeout', '--out'];

export function parseConfig(args: string[]): Config {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i] as string;
    const value = args[i + 1];
    if (!FLAGS.includes(flag)) throw new Error(`bench/gpu: unknown flag ${flag} (flags: ${FLAGS.join(' ')})`);
    if (value === undefined) throw new Error(`bench/gpu: ${flag} needs a value`);
    values.set(flag, value);
  }
  const int = (flag: string, fallback: number, min: number): number => {
    const v = Number(values.get(flag) ?? fallback);
    if (!Number.isInteger(v) || v < min) throw new Error(`bench/gpu: ${flag} must be an integer ≥ ${min}, got ${values.get(flag)}`);
    return v;
  };
  const models = (values.get('--models') ?? Object.keys(MODELS).join(',')).split(',').filter(Boolean);
  for (const m of models) if (!(m in MODELS)) throw new Error(`bench/gpu: unknown model '${m}' (models: ${Object.keys(MODELS).join(', ')})`);
  const precision = values.get('--precision') ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`bench/gpu: --precision must be fp32 or bf16, got ${precision}`);
  const tf32 = values.get('--tf32') ?? 'on';
  if (tf32 !== 'on' && tf32 !== 'off') throw new Error(`bench/gpu: --tf32 must be on or off, got ${tf32}`);
  const rho = Number(values.get('--rho') ?? 0.05);
  if (!(rho > 0 && Number.isFinite(rho))) throw new Error(`bench/gpu: --rho must be a positive number, got ${values.get('--rho')}`);
  const device = (values.get('--device') ?? 'cuda') as msam.Device;
  if (!/^(cpu|cuda(:\d+)?)$/.test(device)) throw new Error(`bench/gpu: --device must be cpu, cuda or cuda:N, got ${device}`);
  const batch = int('--batch', 512, 1);
  const m = int('--m', 32, 1);
  if (m > batch) throw new Error(`bench/gpu: --m (${m}) exceeds --batch (${batch})`);
  return {
    models: models as ModelName[],
    batch,
    m,
    rho,
    precision,
    device,
    iters: int('--iters', 5, 1),
    warmup: int('--warmup', 2, 0),
    imageSize: values.has('--image-size') ? int('--image-size', 0, 1) : null,
    tf32: tf32 === 'on',
    caseTimeoutS: int('--case-timeout', 300, 1),
    out: values.get('--out') ?? path.join(packageRoot(), 'bench', 'results', `gpu-${precision}.json`),
  };
}

const deviceIndex = (d: msam.Device): number => (d.startsWith('cuda:') ? Number(d.slice(5)) : 0);

function buildModel(name: ModelName, imageSize: number): msam.nn.Module {
  const { numClasses } = MODELS[name];
  if (name === 'resnet50') return msam.models.resnet50({ stem: 'cifar', numClasses });
  if (name === 'wrn28-10') return msam.models.wideResNet({ depth: 28, widen: 10, numClasses });
  return msam.models.vit({ variant: 'b16', imageSize, numClasses });
}

interface OurCase {
  model: ModelName;
  method: OurMethod;
  imageSize: number;
  config: Omit<Config, 'out' | 'models'>;
}

// One of our cases, in this (worker) process: what its cell shows.
async function measureOurs(c: OurCase): Promise<Measure> {
  const { config: cfg } = c;
  const cuda = cfg.device !== 'cpu';
  if (cuda) {
    msam.backends.cuda.matmul.allowTf32 = cfg.tf32;
    msam.backends.cudnn.allowTf32 = cfg.tf32;
  }
  msam.manualSeed(0);
  const model = buildModel(c.model, c.imageSize).to(cfg.device).train();
  const opt = new msam.optim.SGD(model.parameters(), { lr: 1e-3, momentum: 0.9 });
  const m = c.method === 'vanilla' || c.method === 'sam' ? 1 : cfg.m;
  const strategy = c.method === 'graph' || c.method === 'vectorized' ? c.method : 'loop';
  const sam = new msam.MSAM(model, opt, {
    m,
    rho: c.method === 'vanilla' ? 0 : cfg.rho,
    strategy,
    ...(cfg.precision === 'bf16' ? { autocast: 'bfloat16' as const } : {}),
  });
  const batch = {
    input: msam.randn([cfg.batch, 3, c.imageSize, c.imageSize], { device: cfg.device }),
    target: msam.randint(0, MODELS[c.model].numClasses, [cfg.batch], { device: cfg.device }),
  };
  const dev = deviceIndex(cfg.device);
  const sync = (): void => {
    if (cuda) msam.cuda.synchronize(dev);
  };
  sync();
  if (cuda) msam.cuda.resetPeakMemoryStats(dev);
  let skippedSteps = 0;
  for (let i = 0; i < cfg.warmup; i++) skippedSteps += (await sam.step(batch)).skipped ? 1 : 0;
  const times: number[] = [];
  for (let i = 0; i < cfg.iters; i++) {
    sync();
    const t0 = process.hrtime.bigint();
    skippedSteps += (await sam.step(batch)).skipped ? 1 : 0;
    sync();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), peakBytes: cuda ? msam.cuda.maxMemoryAllocated(dev) : null, ...(skippedSteps ? { skippedSteps } : {}) };
}

const firstLine = (s: string): string => (s.split('\n').find((l) => l.trim() !== '') ?? s).trim().slice(0, 400);

// Runs one of our cases in a child process; a crash, a time-out or an error becomes its cell.
function runOurCase(c: OurCase, timeoutS: number): Measure {
  // execArgv: the same loader flags (ts-node when run from the sources).
  const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--worker', JSON.stringify(c)], {
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    killSignal: 'SIGKILL',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 << 20,
  });
  const lastLine = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return { error: `timed out after ${timeoutS} s` };
  try {
    return JSON.parse(lastLine) as Measure;
  } catch {
    const why = r.signal ? `killed by ${r.signal}` : `exited with code ${r.status}`;
    return { error: `${why}: ${firstLine(r.stderr ?? '')}` };
  }
}

interface TorchOutput {
  torch: string;
  cuda: string | null;
  gpu: string | null;
  vmap: string | null;
  methods: Record<string, Measure>;
}

// The PyTorch side of one model, in one Python process.
function runTorch(cfg: Config, model: ModelName, imageSize: number): TorchOutput | { error: string } {
  const py = torchPython();
  if (py === null) return { error: 'no python3 with torch found (set MSAM_PYTHON)' };
  const payload = {
    model,
    imageSize,
    numClasses: MODELS[model].numClasses,
    methods: TORCH_METHODS,
    batch: cfg.batch,
    m: cfg.m,
    rho: cfg.rho,
    precision: cfg.precision,
    device: cfg.device,
    iters: cfg.iters,
    warmup: cfg.warmup,
    tf32: cfg.tf32,
    threads: cfg.device === 'cpu' ? msam.getNumThreads() : 0,
  };
  const r = spawnSync(py, [path.join(packageRoot(), 'bench', 'gpu.py'), JSON.stringify(payload)], {
    encoding: 'utf8',
    timeout: cfg.caseTimeoutS * TORCH_METHODS.length * 1000,
    killSignal: 'SIGKILL',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 << 20,
  });
  process.stderr.write(r.stderr ?? '');
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() as string) as TorchOutput;
  } catch {
    const why = r.signal ? `killed by ${r.signal}` : `exited with code ${r.status}`;
    const lastErr = (r.stderr ?? '').trim().split('\n').pop() ?? '';  // a Python traceback ends with the exception
    return { error: `PyTorch: ${why}: ${lastErr.slice(0, 400)}` };
  }
}

function writeAtomic(file: string, result: Result): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(result, null, 2));
  fs.renameSync(tmp, file);
}

const cell = (m: Measure | undefined, what: 'ms' | 'mem'): string => {
  if (m === undefined) return '–';
  if ('error' in m) return 'error';
  if (what === 'ms') return m.ms >= 100 ? m.ms.toFixed(0) : m.ms.toFixed(1);
  return m.peakBytes === null ? '–' : (m.peakBytes / 2 ** 30).toFixed(1);
};

/** The two markdown tables (ms per step; peak GiB) and the errors under them. */
export function markdown(result: Result): string {
  const c = result.config;
  const head =
    '| model | vanilla | SAM | mSAM loop | mSAM graph | mSAM vectorized | PyTorch vanilla | PyTorch SAM | PyTorch mSAM loop | PyTorch mSAM vmap |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const line = (r: Row, what: 'ms' | 'mem') =>
    `| ${r.title} (${r.imageSize}²) | ${OUR_METHODS.map((k) => cell(r.ours[k], what)).join(' | ')} | ${TORCH_METHODS.map((k) => cell(r.pytorch[k], what)).join(' | ')} |`;
  const torchInfo = 'error' in result.pytorch ? result.pytorch.error : `torch ${result.pytorch.torch}, vmap via ${result.pytorch.vmap ?? 'nothing'}`;
  const errors = result.rows.flatMap((r) => [
    ...OUR_METHODS.flatMap((k) => {
      const m = r.ours[k];
      return m && 'error' in m ? [`- ${r.title}, msam ${k}: ${m.error}`] : [];
    }),
    ...TORCH_METHODS.flatMap((k) => {
      const m = r.pytorch[k];
      return m && 'error' in m ? [`- ${r.title}, PyTorch ${k}: ${m.error}`] : [];
    }),
  ]);
  return [
    `ms per training step, median of ${c.iters} after ${c.warmup} warm-up (${c.device}, ${c.precision}${c.precision === 'fp32' && c.tf32 && c.device !== 'cpu' ? '/TF32' : ''}, batch ${c.batch}, m = ${c.m}, ρ = ${c.rho}; msam ${result.msam.msam} on libtorch ${result.msam.libtorch}; ${torchInfo})`,
    head,
    ...result.rows.map((r) => line(r, 'ms')),
    '',
    'peak GiB allocated (caching allocator, from before the first step)',
    head,
    ...result.rows.map((r) => line(r, 'mem')),
    ...(errors.length ? ['', 'errors:', ...errors] : []),
    ...(result.complete ? [] : ['', '(incomplete: the run stopped before every model was measured)']),
  ].join('\n');
}

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2));
  const { out, ...config } = cfg;
  const v = msam.version();
  const result: Result = { date: new Date().toISOString(), complete: false, config, msam: v, pytorch: { error: 'not run yet' }, rows: [] };
  for (const model of cfg.models) {
    const imageSize = cfg.imageSize ?? MODELS[model].imageSize;
    const row: Row = { model, title: MODELS[model].title, imageSize, numClasses: MODELS[model].numClasses, ours: {}, pytorch: {} };
    result.rows.push(row);
    const { models: _models, ...caseConfig } = config;
    for (const method of OUR_METHODS) {
      const c: OurCase = { model, method, imageSize, config: caseConfig };
      // On the CPU there is no allocator peak to keep clean: the cases run in this process.
      row.ours[method] = cfg.device === 'cpu' ? await measureCaught(c) : runOurCase(c, cfg.caseTimeoutS);
      process.stderr.write(`msam ${model} ${method}: ${JSON.stringify(row.ours[method])}\n`);
      writeAtomic(out, result);
    }
    const torch = runTorch(cfg, model, imageSize);
    if ('error' in torch) {
      for (const k of TORCH_METHODS) row.pytorch[k] = { error: torch.error };
    } else {
      result.pytorch = { torch: torch.torch, cuda: torch.cuda, gpu: torch.gpu, vmap: torch.vmap };
      for (const k of TORCH_METHODS) row.pytorch[k] = torch.methods[k] ?? { error: 'not reported' };
    }
    writeAtomic(out, result);
  }
  result.complete = true;
  writeAtomic(out, result);
  console.log(markdown(result));
}

async function measureCaught(c: OurCase): Promise<Measure> {
  try {
    return await measureOurs(c);
  } catch (e) {
    return { error: firstLine(e instanceof Error ? e.message : String(e)) };
  }
}

async function worker(spec: string): Promise<void> {
  console.log(JSON.stringify(await measureCaught(JSON.parse(spec) as OurCase)));
}

if (require.main === module) {
  const run = process.argv[2] === '--worker' ? worker(process.argv[3] ?? '{}') : main();
  run.catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
