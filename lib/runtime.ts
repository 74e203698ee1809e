// Versions, threads and CUDA queries.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native, packageRoot } from './native';

export interface VersionInfo {
  msam: string;
  libtorch: string;
  /** The CUDA runtime libtorch was built with, or null for a CPU-only libtorch. */
  cuda: string | null;
}

export function version(): VersionInfo {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return { msam: pkg.version, ...native.version() };
}

export const getNumThreads = (): number => native.getNumThreads();
export const setNumThreads = (n: number): void => native.setNumThreads(n);

export const cuda = {
  isAvailable: (): boolean => native.cudaIsAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
  /** Waits for all work on `device` (default: the current one) to finish. */
  synchronize: (device?: number): void => native.cudaSynchronize(device),
};
