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

/** An opaque process group handle (a type-tagged External sharing a c10d process group; csrc/dist). */
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
  // distributed (csrc/dist): c10d process groups
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

/** A prebuilt binary for this platform (prebuildify's layout: prebuilds/<platform>-<arch>/*.node), or null. */
function findPrebuild(root: string): string | null {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (!fs.existsSync(dir)) return null;
  const libc = process.platform === 'linux' ? (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : null;
  const candidates = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.node'))
    .filter((f) => libc === null || !/\.(glibc|musl)\./.test(f) || f.includes(`.${libc}.`));
  return candidates.length > 0 ? path.join(dir, candidates[0] as string) : null;
}

function load(): NativeAddon {
  const root = packageRoot();
  // A prebuild when one matches this platform, else the local build (cmake-js or node-gyp).
  const file = findPrebuild(root) ?? path.join(root, 'build', 'Release', 'msam.node');
  if (!fs.existsSync(file)) {
    throw new Error(
      'msam: the native addon is not built and no prebuilt binary matches this platform.\n' +
        `Build it from ${root} with \`npm run build:native\` (cmake-js; it needs libtorch: set LIBTORCH, ` +
        'install PyTorch for python3, or `apt-get install libtorch-dev`), or run `bash scripts/setup.sh`.',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as NativeAddon;
}

export const native: NativeAddon = load();
