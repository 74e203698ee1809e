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
};
