// Versions, threads and CUDA queries.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadedBinary, native, packageRoot, type LoadedBinary } from './native';

/** The addon binary in use (msam.version().binary). */
export interface BinaryInfo {
  /** 'source': built on this machine; 'prebuild': a prebuilt binary; 'MSAM_BINARY': the file that variable names. */
  kind: LoadedBinary['kind'];
  path: string;
  /** A prebuild's name (msam-torch1.13.0-cpu.glibc); null for a source build. */
  name: string | null;
  /** 'cpu' or 'cuda': whether the binary runs on a CUDA libtorch. */
  flavour: 'cpu' | 'cuda';
  /** The folder libtorch (libc10) was actually loaded from, read from /proc/self/maps (null elsewhere). */
  libtorchDir: string | null;
}

export interface VersionInfo {
  msam: string;
  libtorch: string;
  /** The CUDA runtime libtorch was built with, or null for a CPU-only libtorch. */
  cuda: string | null;
  binary: BinaryInfo;
}

/** Where the process mapped libc10 from: the libtorch really in use, whatever found it. */
export function loadedLibtorchDir(): string | null {
  try {
    const line = fs
      .readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .find((l) => /\/libc10\.so(\.[\d.]+)?$/.test(l));
    return line ? path.dirname(line.slice(line.indexOf('/'))) : null;
  } catch {
    return null;
  }
}

export function version(): VersionInfo {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  const v = native.version();
  const { kind, path: file, name } = loadedBinary;
  return { msam: pkg.version, ...v, binary: { kind, path: file, name, flavour: v.cuda ? 'cuda' : 'cpu', libtorchDir: loadedLibtorchDir() } };
}

export const getNumThreads = (): number => native.getNumThreads();
export const setNumThreads = (n: number): void => native.setNumThreads(n);

export const cuda = {
  isAvailable: (): boolean => native.cudaIsAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
  /** Waits for all work on `device` (default: the current one) to finish. */
  synchronize: (device?: number): void => native.cudaSynchronize(device),
  /** The device's name ("NVIDIA H200"), or null when this libtorch has no CUDA. */
  deviceName: (device = 0): string | null => native.cudaDeviceName(device),
  /** Bytes the caching allocator holds for tensors now (torch.cuda.memory_allocated); 0 without CUDA. */
  memoryAllocated: (device = 0): number => native.cudaMemory(device)?.allocated ?? 0,
  /** The peak of memoryAllocated since the start or the last resetPeakMemoryStats (torch.cuda.max_memory_allocated). */
  maxMemoryAllocated: (device = 0): number => native.cudaMemory(device)?.peakAllocated ?? 0,
  /** Starts the peaks again from the current values (torch.cuda.reset_peak_memory_stats). */
  resetPeakMemoryStats: (device = 0): void => native.cudaResetPeakMemoryStats(device),
  /** Releases what the 'graph' strategy keeps (its captured step), then unused cached blocks (torch.cuda.empty_cache). */
  emptyCache: (): void => native.cudaEmptyCache(),
};

const boolean = (what: string, v: unknown): boolean => {
  if (typeof v !== 'boolean') throw new TypeError(`${what} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
};

/**
 * Backend switches, named as PyTorch's. TF32 for float32 on CUDA (Ampere and later): faster
 * matrix products and convolutions with a 10-bit mantissa. The defaults are PyTorch's: off for
 * matmul, on for cuDNN convolutions.
 *
 *   msam.backends.cuda.matmul.allowTf32 = true;   // torch.backends.cuda.matmul.allow_tf32 = True
 *   msam.backends.cudnn.allowTf32 = true;         // torch.backends.cudnn.allow_tf32 = True
 */
export const backends = {
  cuda: {
    matmul: {
      get allowTf32(): boolean {
        return native.getAllowTf32().matmul;
      },
      set allowTf32(on: boolean) {
        native.setAllowTf32('matmul', boolean('backends.cuda.matmul.allowTf32', on));
      },
    },
  },
  cudnn: {
    get allowTf32(): boolean {
      return native.getAllowTf32().cudnn;
    },
    set allowTf32(on: boolean) {
      native.setAllowTf32('cudnn', boolean('backends.cudnn.allowTf32', on));
    },
  },
};

export type Float32MatmulPrecision = 'highest' | 'high' | 'medium';

/** torch.get_float32_matmul_precision(): 'highest' (full fp32, the default), 'high' (TF32 allowed) or 'medium'. */
export const getFloat32MatmulPrecision = (): Float32MatmulPrecision => native.getFloat32MatmulPrecision();

/** torch.set_float32_matmul_precision(): 'high' allows TF32 in matmul, as backends.cuda.matmul.allowTf32 = true. */
export function setFloat32MatmulPrecision(precision: Float32MatmulPrecision): void {
  if (precision !== 'highest' && precision !== 'high' && precision !== 'medium') {
    throw new TypeError(`setFloat32MatmulPrecision: precision must be 'highest', 'high' or 'medium', got ${JSON.stringify(precision)}`);
  }
  native.setFloat32MatmulPrecision(precision);
}
