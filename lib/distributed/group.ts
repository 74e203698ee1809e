// msam.dist: process groups over libtorch's c10d (csrc/distributed): a TCPStore rendezvous at rank 0's
// address, then Gloo (CPU tensors) or NCCL (CUDA tensors). Collectives change tensors in place and
// must be called by every rank in the same order.
import { native, type GroupHandle, type NativeStepStats } from '../native';
import { Tensor, expectTensor } from '../tensor/core';
import { worldFromEnv } from './env';

export type Backend = 'gloo' | 'nccl';

export interface InitOptions {
  /** 'gloo' (CPU tensors), 'nccl' (CUDA tensors), or 'auto' (default): NCCL when this build has it and CUDA is there, else Gloo. */
  backend?: Backend | 'auto';
  /** Rank 0's address (default MASTER_ADDR, else 127.0.0.1). */
  masterAddr?: string;
  /** Rank 0's TCPStore port (default MASTER_PORT, else 29500). */
  masterPort?: number;
  /** This process's rank (default RANK). */
  rank?: number;
  /** The number of processes (default WORLD_SIZE). */
  worldSize?: number;
  /** Seconds the rendezvous and each collective wait for the other ranks (default 1800, PyTorch's). */
  timeout?: number;
}

/** The backends this build of msam has. */
export function backends(): { gloo: boolean; nccl: boolean } {
  return native.distBackends();
}

const tensorsOf = (ts: Tensor | Tensor[], what: string): Tensor[] => (Array.isArray(ts) ? ts : [ts]).map((t, i) => expectTensor(t, `${what}[${i}]`));

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: Backend;
  #handle: GroupHandle | null;

  /** @internal use initProcessGroup. */
  constructor(handle: GroupHandle) {
    this.#handle = handle;
    const info = native.distInfo(handle);
    this.rank = info.rank;
    this.worldSize = info.worldSize;
    this.backend = info.backend as Backend;
  }

  /** @internal the native handle (the mSAM step all-reduces through it). */
  get handle(): GroupHandle {
    if (this.#handle === null) throw new Error('dist: the process group was closed');
    return this.#handle;
  }

  /** Sums each tensor over the ranks, in place, off the JS thread. */
  allReduce(tensors: Tensor | Tensor[]): Promise<void> {
    return native.distAllReduceAsync(this.handle, tensorsOf(tensors, 'allReduce: tensors').map((t) => t.handle));
  }

  /** allReduce on the JS thread. */
  allReduceSync(tensors: Tensor | Tensor[]): void {
    native.distAllReduce(this.handle, tensorsOf(tensors, 'allReduce: tensors').map((t) => t.handle));
  }

  /** Averages each tensor over the ranks, in place (a sum, then a division by the world size). */
  async allReduceMean(tensors: Tensor | Tensor[]): Promise<void> {
    const ts = tensorsOf(tensors, 'allReduceMean: tensors');
    await this.allReduce(ts);
    for (const t of ts) t.div_(this.worldSize);
  }

  /** Copies `root`'s tensors into every rank's, in place. */
  broadcast(tensors: Tensor | Tensor[], root = 0): Promise<void> {
    return native.distBroadcastAsync(this.handle, tensorsOf(tensors, 'broadcast: tensors').map((t) => t.handle), root);
  }

  broadcastSync(tensors: Tensor | Tensor[], root = 0): void {
    native.distBroadcast(this.handle, tensorsOf(tensors, 'broadcast: tensors').map((t) => t.handle), root);
  }

  /** Resolves when every rank has reached it. */
  barrier(): Promise<void> {
    return native.distBarrierAsync(this.handle);
  }

  /** @internal the closure form's all-reduce of an mSAM gradient (the native step does it itself). */
  reduceStep(params: Tensor[], stats: NativeStepStats, localBatch: number): NativeStepStats {
    return native.distReduceStep(this.handle, params.map((p) => p.handle), stats, localBatch);
  }

  /** Leaves the group (idempotent). */
  close(): void {
    if (this.#handle !== null) native.distClose(this.#handle);
    this.#handle = null;
  }

  get closed(): boolean {
    return this.#handle === null;
  }
}

/**
 * Joins a process group: blocks (off the JS thread) until all `worldSize` ranks have joined.
 * Options default to torchrun's environment variables (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE).
 */
export async function initProcessGroup(options: InitOptions = {}): Promise<ProcessGroup> {
  const known = new Set(['backend', 'masterAddr', 'masterPort', 'rank', 'worldSize', 'timeout']);
  for (const k of Object.keys(options)) if (!known.has(k)) throw new TypeError(`dist.initProcessGroup: unknown option '${k}'`);
  const env = options.rank === undefined || options.worldSize === undefined ? worldFromEnv() : null;
  const worldSize = options.worldSize ?? env?.worldSize;
  const rank = options.rank ?? env?.rank;
  const fail = (field: string, why: string, got: unknown): never => {
    throw new RangeError(`dist.initProcessGroup: option '${field}' ${why}, got ${JSON.stringify(got)}`);
  };
  if (worldSize === undefined) fail('worldSize', 'is needed (or the environment variable WORLD_SIZE)', worldSize);
  if (rank === undefined) fail('rank', 'is needed (or the environment variable RANK)', rank);
  if (!Number.isInteger(worldSize) || (worldSize as number) < 1) fail('worldSize', 'must be an integer ≥ 1', worldSize);
  if (!Number.isInteger(rank) || (rank as number) < 0 || (rank as number) >= (worldSize as number)) fail('rank', `must be an integer in [0, ${worldSize})`, rank);
  const masterAddr = options.masterAddr ?? env?.masterAddr ?? process.env['MASTER_ADDR'] ?? '127.0.0.1';
  if (typeof masterAddr !== 'string' || masterAddr === '') fail('masterAddr', 'must be a host name or address', masterAddr);
  const masterPort = options.masterPort ?? env?.masterPort ?? (process.env['MASTER_PORT'] !== undefined ? Number(process.env['MASTER_PORT']) : 29500);
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) fail('masterPort', 'must be a port (1..65535)', masterPort);
  const timeout = options.timeout ?? 1800;
  if (!(Number.isFinite(timeout) && timeout > 0)) fail('timeout', 'must be a positive number of seconds', timeout);
  const have = backends();
  let backend = options.backend ?? 'auto';
  if (backend === 'auto') backend = have.nccl && native.cudaIsAvailable() ? 'nccl' : 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl') fail('backend', "must be 'gloo', 'nccl' or 'auto'", backend);
  if (!have[backend]) {
    throw new Error(
      backend === 'gloo'
        ? 'dist: this build of msam has no Gloo backend: install Gloo\'s headers (Debian/Ubuntu: libgloo-dev) and rebuild (npm run build:native)'
        : "dist: this build of msam has no NCCL backend (it needs a CUDA libtorch with NCCL, and nccl.h when building); use backend 'gloo'",
    );
  }
  const handle = await native.distInitAsync({ backend, masterAddr, masterPort, rank: rank as number, worldSize: worldSize as number, timeoutMs: Math.round(timeout * 1000) });
  return new ProcessGroup(handle);
}
