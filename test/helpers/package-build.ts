// The repository's own build products that the install tests need: the prebuild (made from
// build/'s objects by scripts/prebuild.js, which compiles first when there is no build) and dist/.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const repoRoot = path.join(__dirname, '..', '..');

export interface PrebuildFiles {
  node: string;
  json: string;
  manifest: { name: string; libtorch: { version: string; cuda: boolean; cudaVersion: string | null; cxx11Abi: number | null }; needed: string[]; glibc: string | null; glibcxx: string | null };
  /** The Python whose torch the build used (null: LIBTORCH or the system's libtorch), for discovery in another project. */
  python: string | null;
}

/** Makes the prebuild for this checkout's libtorch (CPU or CUDA) when it is missing or older than the sources. */
export function ensurePrebuild(): PrebuildFiles {
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'prebuild.js'), '--if-needed'], { cwd: repoRoot, stdio: 'pipe' });
  const lt = JSON.parse(fs.readFileSync(path.join(repoRoot, 'build', 'libtorch.json'), 'utf8')) as { version: string; cuda: boolean; python?: string };
  const dir = path.join(repoRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  const name = fs.readdirSync(dir).find((f) => f.startsWith(`msam-torch${lt.version}-`) && f.endsWith('.node'));
  if (!name) throw new Error(`no prebuild for libtorch ${lt.version} in ${dir}`);
  const node = path.join(dir, name);
  const json = node.replace(/\.node$/, '.json');
  return { node, json, manifest: JSON.parse(fs.readFileSync(json, 'utf8')) as PrebuildFiles['manifest'], python: lt.python ?? null };
}

export function ensureDist(): void {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'lib', 'index.js'))) {
    throw new Error('dist/ is not built: run `npm run build:ts` (scripts/setup.sh does)');
  }
}

/**
 * A folder for PATH with only node, npm and sh in it: no cc, c++, g++, cmake or make, so nothing
 * can be compiled by whatever runs with it.
 */
export function compilerFreeBin(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const which = (cmd: string) => execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
  for (const cmd of ['node', 'npm', 'sh']) {
    const link = path.join(dir, cmd);
    if (!fs.existsSync(link)) fs.symlinkSync(fs.realpathSync(which(cmd)), link);
  }
  return dir;
}
