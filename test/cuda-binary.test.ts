// Nothing CUDA is compiled out of a CUDA binary. No GPU is needed to check that on the file: its
// NEEDED entries name libtorch_cuda/c10_cuda/cudart (linked --no-as-needed, so loading msam loads the
// CUDA kernels), it imports at::cuda::CUDAGraph (the 'graph' strategy) and c10d::ProcessGroupNCCL,
// and every symbol it imports resolves when it is loaded with RTLD_NOW.
// Checks this checkout's build when it is a CUDA one, and every CUDA prebuild in prebuilds/.
// Under MSAM_REQUIRE_CUDA_BUILD=1 (.ci/run's libtorch 2.x run) having no CUDA binary fails.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prebuildScripts } from '../lib/native';

const root = path.join(__dirname, '..');
const scripts = prebuildScripts(root);

interface CudaBinary {
  file: string;
  /** A prebuild's manifest and the libtorch it is loaded against (its libraries are loaded first, as
   * lib/native.ts does: a prebuild has no RUNPATH); null for the build, which has one. */
  preload: { manifest: object; libtorch: { libdir: string } } | null;
}

function cudaBinaries(): CudaBinary[] {
  const out: CudaBinary[] = [];
  const built = path.join(root, 'build', 'libtorch.json');
  const binary = path.join(root, 'build', 'Release', 'msam.node');
  if (fs.existsSync(built) && fs.existsSync(binary)) {
    const lt = JSON.parse(fs.readFileSync(built, 'utf8')) as { cuda: boolean; libdir: string };
    if (lt.cuda) out.push({ file: binary, preload: null });
  }
  let found: ReturnType<typeof scripts.find> | null = null;
  try {
    found = scripts.find();
  } catch {
    found = null;
  }
  for (const p of scripts.listPrebuilds(root)) {
    if (!p.manifest?.libtorch.cuda || found === null) continue;
    if (scripts.selectPrebuild(root, found).prebuild?.file !== p.file) continue; // built for another libtorch than the one here
    out.push({ file: p.file, preload: { manifest: p.manifest, libtorch: { libdir: found.libdir } } });
  }
  return out;
}

const binaries = cudaBinaries();
const required = process.env['MSAM_REQUIRE_CUDA_BUILD'] === '1';
const reason = 'no CUDA binary here (build/ is a CPU build and no CUDA prebuild fits the libtorch found): bash scripts/setup.sh --cuda makes one';

describe.skipIf(binaries.length === 0 && !required)(`the CUDA binary${binaries.length === 0 ? ` (skipped: ${reason})` : ''}`, () => {
  it('exists', () => {
    expect(binaries.length, reason).toBeGreaterThan(0);
  });

  it.each(binaries.map((b) => [path.relative(root, b.file), b] as const))('%s: needs the CUDA libraries and imports CUDAGraph and ProcessGroupNCCL', (_, b) => {
    const { needed } = require('../scripts/prebuild.js').dynamicInfo(b.file) as { needed: string[] };
    expect(needed).toEqual(expect.arrayContaining(['libtorch_cuda.so', 'libc10_cuda.so']));
    expect(needed.some((so) => /^libcudart\.so\.\d+$/.test(so))).toBe(true);
    const undefinedSymbols = execFileSync('nm', ['-D', '--undefined-only', b.file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    // at::cuda::CUDAGraph's constructor, capture and replay; c10d::ProcessGroupNCCL's constructor.
    for (const symbol of ['_ZN2at4cuda9CUDAGraphC1', '_ZN2at4cuda9CUDAGraph13capture_begin', '_ZN2at4cuda9CUDAGraph6replay', '_ZN4c10d16ProcessGroupNCCLC1']) {
      expect(undefinedSymbols, symbol).toContain(symbol);
    }
  });

  it.each(binaries.map((b) => [path.relative(root, b.file), b] as const))('%s: every symbol resolves (RTLD_NOW) and msam.cuda answers without a GPU', (_, b) => {
    const script = `
      const preload = ${JSON.stringify(b.preload)};
      if (preload) require(${JSON.stringify(path.join(root, 'scripts', 'prebuilds.js'))}).preloadLibtorch(preload.manifest, preload.libtorch);
      const m = { exports: {} };
      process.dlopen(m, ${JSON.stringify(b.file)}, require('node:os').constants.dlopen.RTLD_NOW);
      const v = m.exports.version();
      console.log(JSON.stringify({ cuda: v.cuda, available: m.exports.cudaIsAvailable(), count: m.exports.cudaDeviceCount(), nccl: m.exports.distBackends().nccl }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/undefined symbol/);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { cuda: string | null; available: boolean; count: number; nccl: boolean };
    expect(out.cuda).toMatch(/^\d+\.\d+$/);
    expect(out.nccl).toBe(true);
    if (!out.available) expect(out.count).toBe(0);
  });
});
