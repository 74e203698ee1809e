// The one typed declaration of everything the addon exports, and its loader. Nothing else in
// lib/ or models/ loads the addon.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** An opaque native tensor handle (a type-tagged Node-API External owning an at::Tensor). */
export interface TensorHandle {
  readonly __tensorHandle: unique symbol;
}

/** An opaque native module handle (a type-tagged External owning a shared_ptr<nn::Module>). */
export interface ModuleHandle {
  readonly __moduleHandle: unique symbol;
}

/** An opaque native optimizer handle (a type-tagged External sharing a C++ optimizer). */
export interface OptimizerHandle {
  readonly __optimizerHandle: unique symbol;
}

/** An opaque process group handle (a type-tagged External sharing a c10d process group; csrc/distributed). */
export interface GroupHandle {
  readonly __groupHandle: unique symbol;
}

/** A parameter group's options as the addon sees them: numbers and flags by name. */
export type NativeOptions = Record<string, number | boolean>;

export type NativeValue = TensorHandle | number | boolean | string | null | undefined | NativeValue[] | { [k: string]: NativeValue };

export interface NativeMemory {
  tensors: number;
  storages: number;
  bytes: number;
  byDevice: Record<string, number>;
}

/** What one mSAM step reports (csrc/msam/bindings.cc); msam.StepStats. */
/** What csrc/profile/op_count.h counted between countOpsStart and countOpsStop. */
export interface NativeOpCounts {
  ops: number;
  hostReads: number;
  bookkeeping: number;
  reads: Record<string, number>;
  byName: Record<string, number>;
}

export interface NativeStepStats {
  /** Mean loss at w over the batch (shards weighted by size). */
  loss: number;
  /** Mean loss at the perturbed points w + ε_i. */
  perturbedLoss: number;
  /** Mean norm of the shard gradients ‖g_i‖. */
  gradNorm: number;
  shards: number;
  /** A non-finite loss or gradient: weights, buffers and optimizer state were left untouched. */
  skipped: boolean;
  skipReason: string | null;
}

/** A progress event of the loss-landscape analyses (csrc/progress.h). */
export interface NativeProgressEvent {
  stage: 'eigenvalue' | 'trace' | 'mSharpness';
  index: number;
  iteration: number;
  total: number;
  value: number;
  change: number;
}

/** Batches for the loss-landscape analyses: inputs[b] (one or more tensors) and targets[b]. */
export interface NativeBatches {
  inputs: TensorHandle[][];
  targets: TensorHandle[];
}

export interface NativeEigenResult {
  eigenvalues: number[];
  iterations: number[];
  converged: boolean[];
  relativeResiduals: number[];
  hessianVectorProducts: number;
  eigenvectors?: TensorHandle[][];
}

export interface NativeTraceResult {
  trace: number;
  standardError: number;
  samples: number;
  converged: boolean;
  values: number[];
}

export interface NativeMSharpnessResult {
  sharpness: number;
  oneStep: number;
  loss: number;
  standardError: number;
  shards: number;
}

export interface NativeAddon {
  // tensors
  fromData(data: ArrayBufferView, shape: number[], dtype: string | null, device: string | null, requiresGrad: boolean): TensorHandle;
  data(h: TensorHandle): Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;
  item(h: TensorHandle): number | boolean;
  /** [shape, dtype, device, requiresGrad, gradFn, isLeaf] */
  info(h: TensorHandle): [number[], string, string, boolean, string | null, boolean];
  shape(h: TensorHandle): number[];
  dtype(h: TensorHandle): string;
  numel(h: TensorHandle): number;
  isDisposed(h: TensorHandle): boolean;
  dispose(h: TensorHandle): void;
  memory(): NativeMemory;
  // the ATen bridge
  opHandle(name: string, overload: string): number;
  opSchema(id: number): string;
  call(id: number, ...args: unknown[]): NativeValue;
  callAsync(id: number, ...args: unknown[]): Promise<NativeValue>;
  // autograd
  backward(t: TensorHandle, grad: TensorHandle | null, retainGraph: boolean | undefined, createGraph: boolean): void;
  grad(
    outputs: TensorHandle[],
    inputs: TensorHandle[],
    gradOutputs: (TensorHandle | null)[] | null,
    retainGraph: boolean | undefined,
    createGraph: boolean,
    allowUnused: boolean,
  ): (TensorHandle | null)[];
  getGrad(t: TensorHandle): TensorHandle | null;
  setGrad(t: TensorHandle, g: TensorHandle | null): void;
  setRequiresGrad(t: TensorHandle, value: boolean): void;
  retainGrad(t: TensorHandle): void;
  setData(t: TensorHandle, source: TensorHandle): void;
  isGradEnabled(): boolean;
  setGradEnabled(enabled: boolean): boolean;
  // native modules
  moduleCreate(type: string, options: object): ModuleHandle;
  moduleForward(m: ModuleHandle, inputs: TensorHandle[]): TensorHandle;
  moduleNamedParameters(m: ModuleHandle): [string, TensorHandle][];
  moduleNamedBuffers(m: ModuleHandle): [string, TensorHandle][];
  moduleChildren(m: ModuleHandle): [string, ModuleHandle][];
  moduleTrain(m: ModuleHandle, on: boolean): void;
  moduleIsTraining(m: ModuleHandle): boolean;
  moduleTo(m: ModuleHandle, device: string | null, dtype: string | null): void;
  moduleRepr(m: ModuleHandle): string;
  moduleType(m: ModuleHandle): string;
  // the mSAM step
  msamGradient(model: ModuleHandle, inputs: TensorHandle[], target: TensorHandle, loss: object, options: object): NativeStepStats;
  msamGradientAsync(model: ModuleHandle, inputs: TensorHandle[], target: TensorHandle, loss: object, options: object): Promise<NativeStepStats>;
  msamStepAsync(
    model: ModuleHandle,
    inputs: TensorHandle[],
    target: TensorHandle,
    loss: object,
    options: object,
    optimizer: OptimizerHandle,
  ): Promise<NativeStepStats>;
  freezeRunningStats(on: boolean): boolean;
  setAutocast(device: string, dtype: string | null): string | null;
  // op counting (csrc/profile/op_count.h): process-wide while it runs; counts do not nest
  countOpsStart(): void;
  countOpsStop(): NativeOpCounts;
  // the loss landscape (csrc/hessian): the model in eval mode, the mean loss over all batches' examples
  hessianVectorProduct(model: ModuleHandle, data: NativeBatches, loss: object, vector: TensorHandle[]): TensorHandle[];
  hessianEigenvaluesAsync(model: ModuleHandle, data: NativeBatches, loss: object, options: object, onProgress: ((e: NativeProgressEvent) => void) | null): Promise<NativeEigenResult>;
  hessianTraceAsync(model: ModuleHandle, data: NativeBatches, loss: object, options: object, onProgress: ((e: NativeProgressEvent) => void) | null): Promise<NativeTraceResult>;
  mSharpnessAsync(model: ModuleHandle, data: NativeBatches, loss: object, options: object, onProgress: ((e: NativeProgressEvent) => void) | null): Promise<NativeMSharpnessResult>;
  // optimizers (csrc/optim): errors from these start with the optimizer's kind ("SGD: ...")
  optimCreate(kind: string, groups: { params: TensorHandle[]; options: NativeOptions }[]): OptimizerHandle;
  optimStep(h: OptimizerHandle): void;
  optimZeroGrad(h: OptimizerHandle, setToNone: boolean): void;
  optimGroups(h: OptimizerHandle): { options: NativeOptions; size: number }[];
  optimGetOption(h: OptimizerHandle, group: number, name: string): number | boolean;
  optimSetOption(h: OptimizerHandle, group: number, name: string, value: number | boolean): void;
  optimSetLr(h: OptimizerHandle, lr: number): void;
  /** Copies of the state tensors ("3.exp_avg") and the step counts by parameter index. */
  optimState(h: OptimizerHandle): { state: Record<string, TensorHandle>; steps: Record<string, number> };
  optimLoadState(h: OptimizerHandle, groups: NativeOptions[], state: Record<string, TensorHandle>, steps: Record<string, number>): void;
  optimDispose(h: OptimizerHandle): void;
  /** Scales the gradients in place; returns the total norm. */
  clipGradNorm(params: TensorHandle[], maxNorm: number, normType: number, errorIfNonfinite: boolean): number;
  // distributed (csrc/distributed): c10d process groups
  distInitAsync(options: { backend: string; masterAddr: string; masterPort: number; rank: number; worldSize: number; timeoutMs: number }): Promise<GroupHandle>;
  distInfo(h: GroupHandle): { rank: number; worldSize: number; backend: string };
  distBackends(): { gloo: boolean; nccl: boolean };
  distAllReduce(h: GroupHandle, tensors: TensorHandle[]): void;
  distAllReduceAsync(h: GroupHandle, tensors: TensorHandle[]): Promise<void>;
  distBroadcast(h: GroupHandle, tensors: TensorHandle[], root: number): void;
  distBroadcastAsync(h: GroupHandle, tensors: TensorHandle[], root: number): Promise<void>;
  distBarrierAsync(h: GroupHandle): Promise<void>;
  distReduceStep(h: GroupHandle, params: TensorHandle[], stats: NativeStepStats, localBatch: number): NativeStepStats;
  distClose(h: GroupHandle): void;
  // runtime
  rngState(device: string): TensorHandle;
  setRngState(device: string, state: TensorHandle): void;
  version(): { libtorch: string; cuda: string | null };
  manualSeed(seed: number): void;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(device?: number): void;
  cudaMemory(device: number): { allocated: number; reserved: number; peakAllocated: number } | null;
  /** The device's name ("NVIDIA H200"); null when this libtorch has no CUDA. */
  cudaDeviceName(device: number): string | null;
  cudaResetPeakMemoryStats(device: number): void;
  /** Releases the 'graph' strategy's captured step, then the caching allocator's unused blocks. */
  cudaEmptyCache(): void;
  getAllowTf32(): { matmul: boolean; cudnn: boolean };
  setAllowTf32(which: 'matmul' | 'cudnn', on: boolean): void;
  getFloat32MatmulPrecision(): 'highest' | 'high' | 'medium';
  setFloat32MatmulPrecision(precision: string): void;
}

/** The package root: the folder holding msam's package.json (from lib/ or dist/lib/). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'msam') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`msam: cannot find the package root above ${__dirname}`);
    dir = parent;
  }
}

/** A libtorch that scripts/find-libtorch.js found (the fields the loader uses). */
export interface FoundLibtorch {
  source: string;
  root: string;
  /** The folder with TorchConfig.cmake. */
  torchDir: string;
  libdir: string;
  version: string | null;
  cuda: boolean;
  cudaVersion: string | null;
  cxx11Abi: number | null;
}

interface PrebuildManifest {
  name: string;
  libtorch: { version: string; cuda: boolean; cudaVersion: string | null; cxx11Abi: number | null };
  needed: string[];
  glibc: string | null;
}

interface Prebuild {
  name: string;
  file: string;
  manifest: PrebuildManifest | null;
}

interface PrebuildSelection {
  prebuild: Prebuild | null;
  rejected: { name: string; file: string; why: string[] }[];
  dir: string;
}

/** scripts/prebuilds.js and scripts/find-libtorch.js: plain JS, shared with the install hook. */
export interface PrebuildScripts {
  find(): FoundLibtorch;
  selectPrebuild(root: string, lt: FoundLibtorch, glibc?: string | null): PrebuildSelection;
  explainNoMatch(selection: PrebuildSelection, lt: FoundLibtorch): string;
  preloadLibtorch(manifest: PrebuildManifest, lt: FoundLibtorch): string[];
  listPrebuilds(root: string): Prebuild[];
  runtimeGlibc(): string | null;
  flavour(lt: { cuda: boolean; cudaVersion: string | null }): string;
}

export function prebuildScripts(root: string = packageRoot()): PrebuildScripts {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const discovery = require(path.join(root, 'scripts', 'find-libtorch.js')) as Pick<PrebuildScripts, 'find'>;
  const prebuilds = require(path.join(root, 'scripts', 'prebuilds.js')) as Omit<PrebuildScripts, 'find'>;
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { ...prebuilds, find: discovery.find };
}

/** Which binary was loaded, and how it found libtorch. */
export interface LoadedBinary {
  /** 'source': this machine's build (build/Release/msam.node, which finds libtorch by its RUNPATH);
   * 'prebuild': a prebuilt binary that fits the libtorch found at load time; 'MSAM_BINARY': the file that variable names. */
  kind: 'source' | 'prebuild' | 'MSAM_BINARY';
  path: string;
  /** The prebuild's name (msam-torch1.13.0-cpu.glibc), null for a source build. */
  name: string | null;
  /** The libtorch libraries loaded before a prebuild, from the folder scripts/find-libtorch.js found. */
  preloaded: string[];
  /** That libtorch (null for a source build, which uses the one it was linked against). */
  libtorch: FoundLibtorch | null;
}

function loadPrebuild(root: string, file: string | null, kind: LoadedBinary['kind']): [string, LoadedBinary] {
  const scripts = prebuildScripts(root);
  let prebuild: Prebuild | null = null;
  if (file !== null) {
    const json = file.replace(/\.node$/, '.json');
    const manifest = fs.existsSync(json) ? (JSON.parse(fs.readFileSync(json, 'utf8')) as PrebuildManifest) : null;
    prebuild = { name: path.basename(file, '.node'), file, manifest };
    // A binary without a manifest (a build with its own RUNPATH) finds libtorch by itself.
    if (manifest === null) return [file, { kind, path: file, name: prebuild.name, preloaded: [], libtorch: null }];
  }
  let lt: FoundLibtorch;
  try {
    lt = scripts.find();
  } catch (e) {
    throw new Error(`msam: this package has no build of its own, and the prebuilt binaries need libtorch.\n${(e as Error).message}`);
  }
  if (prebuild === null) {
    const selection = scripts.selectPrebuild(root, lt);
    if (!selection.prebuild) {
      throw new Error(
        `msam: ${scripts.explainNoMatch(selection, lt)}\n` +
          `Build the addon from source for this libtorch: \`npm rebuild msam\` (or \`npm run build:native\` in ${root}); ` +
          'it needs cmake and a C++17 compiler. `npx msam doctor` says more.',
      );
    }
    prebuild = selection.prebuild;
  }
  const preloaded = prebuild.manifest ? scripts.preloadLibtorch(prebuild.manifest, lt) : [];
  return [prebuild.file, { kind, path: prebuild.file, name: prebuild.name, preloaded, libtorch: lt }];
}

/**
 * The addon to load: MSAM_BINARY when set; else this machine's build (build/Release/msam.node,
 * made by the install hook when no prebuild fits, or by `npm run build:native`); else the prebuilt
 * binary that fits the libtorch scripts/find-libtorch.js finds now, whose libtorch libraries are
 * loaded first from that folder (a prebuild has no RPATH; see scripts/prebuilds.js).
 */
function resolveBinary(): [string, LoadedBinary] {
  const root = packageRoot();
  const override = process.env['MSAM_BINARY'];
  if (override) {
    if (!fs.existsSync(override)) throw new Error(`msam: MSAM_BINARY=${override} does not exist`);
    return loadPrebuild(root, path.resolve(override), 'MSAM_BINARY');
  }
  const local = path.join(root, 'build', 'Release', 'msam.node');
  if (fs.existsSync(local)) return [local, { kind: 'source', path: local, name: null, preloaded: [], libtorch: null }];
  return loadPrebuild(root, null, 'prebuild');
}

function load(): [NativeAddon, LoadedBinary] {
  // OpenBLAS (what Debian's libtorch runs matmuls on once libopenblas0-pthread is installed) starts
  // a pool of its own threads beside libtorch's intra-op threads, and the two spin against each
  // other: 8 CNN mSAM steps took 2.87 s of system time, 0.52 s with one OpenBLAS thread. libtorch
  // parallelizes above BLAS (msam.setNumThreads is the one knob), so OpenBLAS gets one thread unless
  // the user said otherwise. It reads the variable when it is loaded, i.e. with the addon, below.
  if (process.env['OPENBLAS_NUM_THREADS'] === undefined) process.env['OPENBLAS_NUM_THREADS'] = '1';
  const [file, binary] = resolveBinary();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return [require(file) as NativeAddon, binary];
}

const [addon, binary] = load();
/** The binary lib/native.ts loaded (msam.version().binary). */
export const loadedBinary: LoadedBinary = binary;
export const native: NativeAddon = addon;
