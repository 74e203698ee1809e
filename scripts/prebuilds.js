// Prebuilt binaries: which of prebuilds/<platform>-<arch>/ fits the libtorch that
// scripts/find-libtorch.js finds, and why the others do not. Used by the install hook
// (scripts/install.js), the loader (lib/native.ts) and `msam doctor`.
//
// Each prebuild is a pair written by scripts/prebuild.js:
//   msam-torch1.13.0-cpu.glibc.node    the addon, linked against libtorch with no RPATH/RUNPATH
//   msam-torch1.13.0-cpu.glibc.json    its manifest: { libtorch: { version, cuda, cudaVersion,
//                                      cxx11Abi }, needed: [sonames], glibc: "2.34", napi, ... }
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** The folder prebuildify writes to for this machine. */
function prebuildDir(root) {
  return path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
}

/** Every prebuild of this platform with its manifest (null when the .json is missing or unreadable). */
function listPrebuilds(root) {
  const dir = prebuildDir(root);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.node'))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      let manifest = null;
      try {
        manifest = JSON.parse(fs.readFileSync(file.replace(/\.node$/, '.json'), 'utf8'));
      } catch {
        manifest = null;
      }
      return { name: f.replace(/\.node$/, ''), file, manifest };
    });
}

/** "cpu" or "CUDA 12.4" (or "CUDA" when the version is unknown). */
function flavour(lt) {
  if (!lt.cuda) return 'cpu';
  return lt.cudaVersion ? `CUDA ${lt.cudaVersion}` : 'CUDA';
}

const majorMinor = (v) => (v ? v.split('.').slice(0, 2).join('.') : null);

/** Compares dotted versions: negative, zero or positive. */
function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The C library's version at run time ("2.36"), null for musl or when unknown. */
function runtimeGlibc() {
  if (process.platform !== 'linux') return null;
  const header = process.report && process.report.getReport().header;
  return (header && header.glibcVersionRuntime) || null;
}

/** The libtorch shared objects a prebuild links against (libc10.so.1.13, libtorch_cuda.so, ...). */
function torchSonames(manifest) {
  return (manifest.needed || []).filter((so) => /^lib(c10|torch|shm|caffe2)/.test(so));
}

/**
 * Why `prebuild` cannot run against `lt` (a find-libtorch.js result): a list of reasons, empty when
 * it fits. `glibc` is the C library's version here (null: not glibc, or unknown).
 */
function mismatches(prebuild, lt, glibc) {
  const m = prebuild.manifest;
  if (!m || !m.libtorch) return ['it has no manifest (.json beside the .node)'];
  const why = [];
  const want = m.libtorch;
  if (majorMinor(want.version) !== majorMinor(lt.version)) {
    why.push(`it is built for libtorch ${want.version}, this is ${lt.version || 'of an unknown version'}`);
  }
  if (Boolean(want.cuda) !== Boolean(lt.cuda)) {
    why.push(`it is built for a ${flavour(want)} libtorch, this one is ${flavour(lt)}`);
  } else if (want.cuda && want.cudaVersion && lt.cudaVersion && want.cudaVersion.split('.')[0] !== lt.cudaVersion.split('.')[0]) {
    why.push(`it is built for CUDA ${want.cudaVersion}, this libtorch for CUDA ${lt.cudaVersion}`);
  }
  if (want.cxx11Abi !== null && lt.cxx11Abi !== null && want.cxx11Abi !== lt.cxx11Abi) {
    why.push(`it is built with _GLIBCXX_USE_CXX11_ABI=${want.cxx11Abi}, this libtorch with ${lt.cxx11Abi}`);
  }
  const missing = torchSonames(m).filter((so) => !fs.existsSync(path.join(lt.libdir, so)));
  if (missing.length > 0) why.push(`${lt.libdir} has no ${missing.join(', ')}`);
  if (m.glibc && glibc && compareVersions(m.glibc, glibc) > 0) {
    why.push(`it needs glibc ${m.glibc}, this system has ${glibc}`);
  }
  if (m.libc && process.platform === 'linux' && m.libc !== (glibc ? 'glibc' : 'musl')) {
    why.push(`it is built for ${m.libc}, this system's C library is ${glibc ? 'glibc' : 'musl'}`);
  }
  return why;
}

/**
 * The prebuild for libtorch `lt`, or null; `rejected` says why each other one does not fit. Among
 * several that fit, the one built for exactly this libtorch version wins.
 */
function selectPrebuild(root, lt, glibc = runtimeGlibc()) {
  const all = listPrebuilds(root);
  const fits = [];
  const rejected = [];
  for (const p of all) {
    const why = mismatches(p, lt, glibc);
    if (why.length === 0) fits.push(p);
    else rejected.push({ name: p.name, file: p.file, why });
  }
  fits.sort((a, b) => Number(b.manifest.libtorch.version === lt.version) - Number(a.manifest.libtorch.version === lt.version));
  return { prebuild: fits[0] || null, rejected, dir: prebuildDir(root) };
}

/** One paragraph on why no prebuild was chosen, for the install hook and the loader's errors. */
function explainNoMatch(selection, lt) {
  const target = `libtorch ${lt.version || '(unknown version)'} (${flavour(lt)}) from ${lt.source} at ${lt.libdir}`;
  if (selection.rejected.length === 0) return `no prebuilt binary in ${selection.dir} for ${target}`;
  const lines = selection.rejected.map((r) => `  ${r.name}: ${r.why.join('; ')}`);
  return [`no prebuilt binary fits ${target}:`, ...lines].join('\n');
}

// RTLD_NODELETE (glibc's value; Node does not export it): a preloaded library stays loaded after
// process.dlopen finds no addon in it and closes its handle.
const RTLD_NODELETE = 0x1000;

/**
 * Loads the libtorch libraries a prebuild links against from `lt.libdir`, globally, so that the
 * prebuild's NEEDED entries resolve to them (the dynamic loader matches loaded libraries by soname)
 * without any RPATH or LD_LIBRARY_PATH. Returns the files loaded.
 */
function preloadLibtorch(manifest, lt) {
  const order = (so) => ['libc10.', 'libc10_cuda', 'libtorch_cpu', 'libtorch_cuda', 'libtorch.'].findIndex((p) => so.startsWith(p));
  const sonames = torchSonames(manifest).sort((a, b) => order(a) - order(b));
  const { RTLD_NOW, RTLD_GLOBAL } = require('node:os').constants.dlopen;
  const loaded = [];
  for (const so of sonames) {
    const file = path.join(lt.libdir, so);
    if (!fs.existsSync(file)) continue;
    try {
      process.dlopen({ exports: {} }, file, RTLD_NOW | RTLD_GLOBAL | (process.platform === 'linux' ? RTLD_NODELETE : 0));
    } catch (e) {
      // Expected: a library, not an addon. Anything else (a missing dependency) is a real error.
      if (!/did not self-register/.test(String(e && e.message))) throw e;
    }
    loaded.push(file);
  }
  return loaded;
}

module.exports = { prebuildDir, listPrebuilds, selectPrebuild, explainNoMatch, mismatches, preloadLibtorch, runtimeGlibc, flavour, compareVersions };
