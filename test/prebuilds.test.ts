// The prebuilt binary: no path of the build machine in its dynamic section, the libtorch it runs
// on chosen by the discovery order at load time, the choice among prebuilds (and the reasons for
// refusing one), and the install hook's decision.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilerFreeBin, ensurePrebuild, repoRoot, type PrebuildFiles } from './helpers/package-build';

import { prebuildScripts } from '../lib/native';

const { selectPrebuild, explainNoMatch, find, flavour } = prebuildScripts(repoRoot);
// A copy of scripts/ elsewhere (the fake packages below) has no .venv beside it: PYTHON makes its
// discovery find the same libtorch as this checkout's (Debian's, or .venv's torch 2.x).
const here = find() as ReturnType<typeof find> & { python?: string; rpath: string[] };
const sameDiscovery: NodeJS.ProcessEnv = here.python ? { PYTHON: here.python } : {};

let prebuild: PrebuildFiles;
let tmp = '';
const sourceBuild = path.join(repoRoot, 'build', 'Release', 'msam.node');

beforeAll(() => {
  prebuild = ensurePrebuild();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-prebuilds-'));
}, 600_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const dynamicSection = (file: string) => execFileSync('readelf', ['-d', file], { encoding: 'utf8' });

describe('the prebuild\'s dynamic links (readelf -d, ldd)', () => {
  it('has no RPATH or RUNPATH, while this machine\'s build keeps its RUNPATH to the libtorch it was built with', () => {
    const dyn = dynamicSection(prebuild.node);
    expect(dyn).not.toMatch(/\((RPATH|RUNPATH)\)/);
    expect(dynamicSection(sourceBuild)).toMatch(/\(RUNPATH\)\s+Library runpath: \[.+\]/);
  });

  it('names libtorch by soname only, as its manifest records', () => {
    const needed = [...dynamicSection(prebuild.node).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(needed).toEqual(prebuild.manifest.needed);
    expect(needed.filter((so) => so!.includes('/'))).toEqual([]);
    expect(needed.some((so) => /^libc10\.so/.test(so!))).toBe(true);
    expect(needed.some((so) => /^libtorch_cpu\.so/.test(so!))).toBe(true);
    const lt = find();
    expect(prebuild.manifest.libtorch.version).toBe(lt.version);
    expect(prebuild.manifest.libtorch.cuda).toBe(lt.cuda);
  });

  it('resolves every library ldd looks for, with only the libtorch folder (and cudart\'s) on the search path', () => {
    const out = execFileSync('ldd', [prebuild.node], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', LD_LIBRARY_PATH: here.rpath.join(':') } });
    expect(out).not.toContain('not found');
    expect(out).toMatch(/libc10\.so\S* => \S+/);
  });

  it('records the newest glibc symbol version it needs, which this system provides', () => {
    const versions = execFileSync('readelf', ['-V', prebuild.node], { encoding: 'utf8' });
    const glibc = [...versions.matchAll(/Name: GLIBC_(\d+\.\d+)/g)].map((m) => m[1]!).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
    expect(prebuild.manifest.glibc).toBe(glibc[glibc.length - 1]);
    const runtime = (process.report.getReport() as { header: { glibcVersionRuntime: string } }).header.glibcVersionRuntime;
    expect(Number(prebuild.manifest.glibc!.split('.')[1])).toBeLessThanOrEqual(Number(runtime.split('.')[1]));
  });
});

/**
 * A libtorch folder of hard links (or copies) to the found libtorch's files, so that it has its own
 * path. A pip torch's libraries find their neighbours ($ORIGIN: libgomp, the nvidia-* packages
 * two folders up), so all of lib/ is linked and nvidia/ sits beside the copy as beside torch/.
 */
function relocatedLibtorch(dir: string): string {
  const lt = find();
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'share', 'cmake', 'Torch'), { recursive: true });
  for (const f of ['TorchConfig.cmake', 'TorchConfigVersion.cmake']) fs.copyFileSync(path.join(lt.torchDir, f), path.join(dir, 'share', 'cmake', 'Torch', f));
  const nvidia = path.join(lt.root, '..', 'nvidia');
  if (fs.existsSync(nvidia)) fs.symlinkSync(nvidia, path.join(dir, '..', 'nvidia'));
  const libs = lt.source === 'system' ? prebuild.manifest.needed.filter((s) => /^lib(c10|torch)/.test(s)) : fs.readdirSync(lt.libdir).filter((f) => f.includes('.so'));
  for (const so of libs) {
    const src = fs.realpathSync(path.join(lt.libdir, so));
    try {
      fs.linkSync(src, path.join(dir, 'lib', so));
    } catch {
      fs.copyFileSync(src, path.join(dir, 'lib', so));
    }
  }
  return dir;
}

function loadedFrom(extraEnv: NodeJS.ProcessEnv): { binary: { kind: string; libtorchDir: string }; sum: number } {
  const code = "const m = require('./dist/lib'); console.log(JSON.stringify({ binary: m.version().binary, sum: m.tensor([1, 2, 3]).sum().item() }))";
  const env = { ...process.env, ...extraEnv };
  const out = execFileSync(process.execPath, ['-e', code], { cwd: repoRoot, env, encoding: 'utf8' });
  return JSON.parse(out) as { binary: { kind: string; libtorchDir: string }; sum: number };
}

describe('finding libtorch at load time', () => {
  it('loads libtorch for the prebuild from the folder discovery finds (LIBTORCH here), not from a build-machine path', () => {
    const dir = relocatedLibtorch(path.join(tmp, 'relocated-libtorch'));
    const viaPrebuild = loadedFrom({ MSAM_BINARY: prebuild.node, LIBTORCH: dir });
    expect(viaPrebuild.binary.kind).toBe('MSAM_BINARY');
    expect(viaPrebuild.binary.libtorchDir).toBe(path.join(dir, 'lib'));
    expect(viaPrebuild.sum).toBe(6);
    // This machine's build follows its RUNPATH instead, whatever LIBTORCH says.
    const viaSource = loadedFrom({ MSAM_BINARY: '', LIBTORCH: dir });
    expect(viaSource.binary.kind).toBe('source');
    expect(fs.realpathSync(viaSource.binary.libtorchDir)).toBe(fs.realpathSync(find().libdir));
  });
});

/** A package root with scripts/ and the given prebuilds (manifests; the .node files are empty). */
function fakePackage(name: string, manifests: Record<string, object | null>): string {
  const root = path.join(tmp, name);
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(repoRoot, 'scripts'), path.join(root, 'scripts'), { recursive: true });
  for (const [prebuildName, manifest] of Object.entries(manifests)) {
    fs.writeFileSync(path.join(dir, `${prebuildName}.node`), '');
    if (manifest !== null) fs.writeFileSync(path.join(dir, `${prebuildName}.json`), JSON.stringify(manifest));
  }
  return root;
}

describe('choosing a prebuild', () => {
  const lt = find();
  const cpuLibtorch = (overrides: object = {}) => ({ version: lt.version, cuda: false, cudaVersion: null, cxx11Abi: lt.cxx11Abi, ...overrides });
  // Built for exactly the libtorch found here (CPU or CUDA).
  const hereLibtorch = (overrides: object = {}) => ({ version: lt.version, cuda: lt.cuda, cudaVersion: lt.cudaVersion, cxx11Abi: lt.cxx11Abi, ...overrides });
  // What a CUDA 12.4 build is told against this libtorch, CPU or CUDA 13.
  const notCuda124 = lt.cuda ? `it is built for CUDA 12.4, this libtorch for CUDA ${lt.cudaVersion}` : 'it is built for a CUDA 12.4 libtorch, this one is cpu';
  const manifest = (libtorch: object, extra: object = {}) => ({ libtorch, needed: prebuild.manifest.needed, glibc: '2.17', libc: 'glibc', ...extra });

  it('takes the one that fits and gives each other one its reasons', () => {
    const root = fakePackage('choice', {
      'msam-torch2.5.1-cu124.glibc': manifest({ version: '2.5.1', cuda: true, cudaVersion: '12.4', cxx11Abi: lt.cxx11Abi }),
      'msam-torch-abi.glibc': manifest(hereLibtorch({ cxx11Abi: 1 - (lt.cxx11Abi ?? 1) })),
      'msam-torch-newglibc.glibc': manifest(hereLibtorch(), { glibc: '2.99' }),
      'msam-torch-othersoname.glibc': manifest(hereLibtorch(), { needed: ['libc10.so.1.12', 'libc.so.6'] }),
      'msam-torch-nomanifest.glibc': null,
      'msam-torch-good.glibc': manifest(hereLibtorch()),
    });
    const sel = selectPrebuild(root, lt, '2.36');
    expect(sel.prebuild?.name).toBe('msam-torch-good.glibc');
    const why = Object.fromEntries(sel.rejected.map((r) => [r.name, r.why]));
    expect(why['msam-torch2.5.1-cu124.glibc']).toEqual([
      `it is built for libtorch 2.5.1, this is ${lt.version}`,
      notCuda124,
    ]);
    expect(why['msam-torch-abi.glibc']).toEqual([`it is built with _GLIBCXX_USE_CXX11_ABI=${1 - (lt.cxx11Abi ?? 1)}, this libtorch with ${lt.cxx11Abi}`]);
    expect(why['msam-torch-newglibc.glibc']).toEqual(['it needs glibc 2.99, this system has 2.36']);
    expect(why['msam-torch-othersoname.glibc']).toEqual([`${lt.libdir} has no libc10.so.1.12`]);
    expect(why['msam-torch-nomanifest.glibc']).toEqual(['it has no manifest (.json beside the .node)']);
  });

  it('matches CUDA builds by the CUDA major version', () => {
    const cudaLt = { ...lt, cuda: true, cudaVersion: '12.1' };
    const root = fakePackage('cuda', {
      'msam-cu118.glibc': manifest(cpuLibtorch({ cuda: true, cudaVersion: '11.8' })),
      'msam-cu124.glibc': manifest(cpuLibtorch({ cuda: true, cudaVersion: '12.4' })),
      'msam-cpu.glibc': manifest(cpuLibtorch()),
    });
    const sel = selectPrebuild(root, cudaLt, '2.36');
    expect(sel.prebuild?.name).toBe('msam-cu124.glibc');
    expect(explainNoMatch({ ...sel, prebuild: null }, cudaLt)).toBe(
      [
        `no prebuilt binary fits libtorch ${lt.version} (CUDA 12.1) from ${lt.source} at ${lt.libdir}:`,
        '  msam-cpu.glibc: it is built for a cpu libtorch, this one is CUDA 12.1',
        '  msam-cu118.glibc: it is built for CUDA 11.8, this libtorch for CUDA 12.1',
      ].join('\n'),
    );
  });
});

describe('the install hook (scripts/install.js)', () => {
  it('says why no prebuild fits and that it builds from source', () => {
    const root = fakePackage('hook-dry-run', { 'msam-torch2.5.1-cu124.glibc': manifest2() });
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'install.js'), '--dry-run'], { encoding: 'utf8', env: { ...process.env, ...sameDiscovery } });
    expect(r.status).toBe(0);
    const lt = find();
    const notCuda124 = lt.cuda ? `it is built for CUDA 12.4, this libtorch for CUDA ${lt.cudaVersion}` : 'it is built for a CUDA 12.4 libtorch, this one is cpu';
    expect(r.stderr).toContain(`msam: no prebuilt binary fits libtorch ${lt.version} (${flavour(lt)}) from ${lt.source} at ${lt.libdir}:`);
    expect(r.stderr).toContain(`msam-torch2.5.1-cu124.glibc: it is built for libtorch 2.5.1, this is ${lt.version}; ${notCuda124}`);
    expect(r.stderr).toContain('msam: building from source with cmake-js');
  });

  it('stops with what to install when it must build and cmake or the compiler is missing', () => {
    const root = fakePackage('hook-no-compiler', {});
    const env = { ...process.env, PATH: compilerFreeBin(path.join(tmp, 'bin')) };
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'install.js')], { encoding: 'utf8', env });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no prebuilt binary in');
    expect(r.stderr).toContain('building from source needs cmake and a C++17 compiler; cmake and c++ not on PATH (Debian/Ubuntu: sudo apt-get install cmake g++)');
  });

  it('uses the fitting prebuild and builds nothing', () => {
    const root = fakePackage('hook-prebuild', {});
    const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    fs.copyFileSync(prebuild.node, path.join(dir, path.basename(prebuild.node)));
    fs.copyFileSync(prebuild.json, path.join(dir, path.basename(prebuild.json)));
    const env = { ...process.env, ...sameDiscovery, PATH: compilerFreeBin(path.join(tmp, 'bin')) };
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'install.js')], { encoding: 'utf8', env });
    expect(r.stderr).toContain(`msam: using the prebuilt binary prebuilds/${process.platform}-${process.arch}/${path.basename(prebuild.node)}`);
    expect(r.status).toBe(0);
    expect(fs.existsSync(path.join(root, 'build'))).toBe(false);
  });
});

function manifest2() {
  return { libtorch: { version: '2.5.1', cuda: true, cudaVersion: '12.4', cxx11Abi: find().cxx11Abi }, needed: ['libc10.so', 'libtorch_cpu.so', 'libtorch_cuda.so', 'libtorch.so'], glibc: '2.28', libc: 'glibc' };
}
