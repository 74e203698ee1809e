#!/usr/bin/env node
// Finds libtorch for both builds (CMakeLists.txt and binding.gyp) and for the loader of prebuilt
// binaries (scripts/prebuilds.js, lib/native.ts), in this order:
//   1. the LIBTORCH environment variable (a libtorch folder: include/, lib/, share/cmake/Torch/)
//   2. a Python torch install (python3's `torch` package) that ships share/cmake/Torch
//   3. the system's (Debian/Ubuntu `libtorch-dev`: /usr/lib/<multiarch>/cmake/Torch)
// It runs at load time too, so it is cheap: no `import torch` (Python only locates the package)
// and no compiler (gcc -print-multiarch only when the usual folder has no libtorch).
// Usage: node scripts/find-libtorch.js [--torch-dir | --include | --libdir | --libs | --defines | --nccl-include | --json]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const HOW_TO_GET_ONE = [
  'msam needs libtorch to build, and found none. Any one of these will do:',
  '  1. set LIBTORCH to an unpacked libtorch folder (the one with include/, lib/ and share/cmake/Torch/);',
  '  2. install PyTorch for python3 (`python3 -c "import torch"` must work; pip wheels ship share/cmake/Torch);',
  '  3. install the system package: `sudo apt-get install libtorch-dev` (Debian 12+/Ubuntu 23.04+).',
].join('\n');

const hasConfig = (dir) => fs.existsSync(path.join(dir, 'TorchConfig.cmake'));

function fromEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  const torchDir = path.join(root, 'share', 'cmake', 'Torch');
  if (!hasConfig(torchDir)) {
    throw new Error(`LIBTORCH=${root} has no share/cmake/Torch/TorchConfig.cmake: is it a libtorch folder?`);
  }
  return { source: 'LIBTORCH', root, torchDir, libdir: path.join(root, 'lib') };
}

function fromPython() {
  for (const python of [process.env.PYTHON, 'python3'].filter(Boolean)) {
    let root;
    try {
      // find_spec locates the package without running it (importing torch takes seconds).
      const script = "import importlib.util as u; s = u.find_spec('torch'); print(s.submodule_search_locations[0] if s else '')";
      root = execFileSync(python, ['-c', script], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      continue; // no such python
    }
    if (!root) continue; // no torch in it
    const torchDir = path.join(root, 'share', 'cmake', 'Torch');
    if (hasConfig(torchDir)) return { source: `python (${python})`, root, torchDir, libdir: path.join(root, 'lib') };
  }
  return null;
}

function gccMultiarch() {
  try {
    return execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return ''; // no compiler (an install from a prebuilt binary needs none)
  }
}

function fromSystem() {
  const usual = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  const inFolder = (libdir) => hasConfig(path.join(libdir, 'cmake', 'Torch')) && fs.existsSync(path.join(libdir, 'libtorch.so'));
  const libdirs = [`/usr/lib/${usual}`, '/usr/lib', '/usr/local/lib'];
  if (!libdirs.some(inFolder)) {
    const multiarch = gccMultiarch();
    if (multiarch && multiarch !== usual) libdirs.push(`/usr/lib/${multiarch}`);
  }
  for (const libdir of libdirs) {
    const torchDir = path.join(libdir, 'cmake', 'Torch');
    if (hasConfig(torchDir) && fs.existsSync(path.join(libdir, 'libtorch.so'))) {
      return { source: 'system', root: path.resolve(libdir, '..', '..'), torchDir, libdir };
    }
  }
  return null;
}

/** libtorch's version ("1.13.0", "2.5.1"): CMake's package version file, which every layout ships. */
function torchVersion(found) {
  const file = path.join(found.torchDir, 'TorchConfigVersion.cmake');
  const m = fs.existsSync(file) ? /PACKAGE_VERSION "([^"]+)"/.exec(fs.readFileSync(file, 'utf8')) : null;
  return m ? m[1] : null;
}

/**
 * The CUDA version a CUDA libtorch was built for ("12.4"), without loading it: a pip wheel's
 * torch/version.py (`cuda = '12.4'`), or an unpacked libtorch's build-version ("2.5.1+cu124").
 */
function cudaVersion(found) {
  const versionPy = path.join(found.root, 'version.py');
  if (fs.existsSync(versionPy)) {
    const m = /^cuda[^=]*=\s*['"]([\d.]+)['"]/m.exec(fs.readFileSync(versionPy, 'utf8'));
    if (m) return m[1];
  }
  const buildVersion = path.join(found.root, 'build-version');
  if (fs.existsSync(buildVersion)) {
    const m = /\+cu(\d+)(\d)\b/.exec(fs.readFileSync(buildVersion, 'utf8'));
    if (m) return `${m[1]}.${m[2]}`;
  }
  return null;
}

function find() {
  const found = fromEnv() || fromPython() || fromSystem();
  if (!found) throw new Error(HOW_TO_GET_ONE);
  const include = path.join(found.root, 'include');
  const cuda = fs.existsSync(path.join(found.libdir, 'libtorch_cuda.so'));
  // The C++ ABI libtorch was built with: dependent code must match it.
  const config = fs.readFileSync(path.join(found.torchDir, 'TorchConfig.cmake'), 'utf8');
  const abi = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(config);
  // nccl.h for c10d's ProcessGroupNCCL (msam.dist on CUDA): pip's nvidia-nccl package beside torch,
  // NCCL_INCLUDE_DIR, or the CUDA toolkit's. Gloo's headers are found on the default path.
  const ncclInclude = cuda
    ? [process.env.NCCL_INCLUDE_DIR, path.join(found.root, '..', 'nvidia', 'nccl', 'include'), '/usr/local/cuda/include', '/usr/include']
        .filter(Boolean)
        .find((d) => fs.existsSync(path.join(d, 'nccl.h'))) || null
    : null;
  return {
    ...found,
    version: torchVersion(found),
    cuda,
    cudaVersion: cuda ? cudaVersion(found) : null,
    cxx11Abi: abi ? Number(abi[1]) : null,
    ncclInclude,
    includeDirs: [include, path.join(include, 'torch', 'csrc', 'api', 'include'), ...(ncclInclude ? [ncclInclude] : [])],
    libs: ['-ltorch', '-ltorch_cpu', '-lc10', ...(cuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])],
    defines: [...(abi ? [`_GLIBCXX_USE_CXX11_ABI=${abi[1]}`] : []), ...(cuda ? ['MSAM_WITH_CUDA=1'] : [])],
  };
}

function main() {
  let lt;
  try {
    lt = find();
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  const flag = process.argv[2] || '--json';
  const out = {
    '--torch-dir': lt.torchDir,
    '--include': lt.includeDirs.join(' '),
    '--libdir': lt.libdir,
    '--libs': lt.libs.join(' '),
    '--defines': lt.defines.join(' '),
    '--nccl-include': lt.ncclInclude || '',
    '--json': JSON.stringify(lt, null, 2),
  }[flag];
  if (out === undefined) {
    process.stderr.write(`find-libtorch: unknown flag ${flag}\n`);
    process.exit(2);
  }
  process.stdout.write(`${out}\n`);
}

if (require.main === module) main();
module.exports = { find, HOW_TO_GET_ONE };
