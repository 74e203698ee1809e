#!/usr/bin/env node
// Finds libtorch for both builds (CMakeLists.txt and binding.gyp), in this order:
//   1. the LIBTORCH environment variable (a libtorch folder: include/, lib/, share/cmake/Torch/)
//   2. a Python torch install (`python3 -c "import torch"`) that ships share/cmake/Torch
//   3. the system's (Debian/Ubuntu `libtorch-dev`: /usr/lib/<multiarch>/cmake/Torch)
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
      root = execFileSync(python, ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      continue; // no such python, or no torch in it
    }
    const torchDir = path.join(root, 'share', 'cmake', 'Torch');
    if (hasConfig(torchDir)) return { source: `python (${python})`, root, torchDir, libdir: path.join(root, 'lib') };
  }
  return null;
}

function fromSystem() {
  const multiarch = [];
  try {
    multiarch.push(execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    multiarch.push(`${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`);
  }
  const libdirs = [...multiarch.filter(Boolean).map((m) => `/usr/lib/${m}`), '/usr/lib', '/usr/local/lib'];
  for (const libdir of libdirs) {
    const torchDir = path.join(libdir, 'cmake', 'Torch');
    if (hasConfig(torchDir) && fs.existsSync(path.join(libdir, 'libtorch.so'))) {
      return { source: 'system', root: path.resolve(libdir, '..', '..'), torchDir, libdir };
    }
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
    cuda,
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
module.exports = { find };
