#!/usr/bin/env node
// Finds libtorch for both builds (CMakeLists.txt and binding.gyp) and for the loader of prebuilt
// binaries (scripts/prebuilds.js, lib/native.ts), in this order:
//   1. the LIBTORCH environment variable: a libtorch folder (include/, lib/, share/cmake/Torch/),
//      or the word `system` for 3. even where a Python torch is installed
//   2. a Python torch install that ships share/cmake/Torch: PYTHON's, then the project's own
//      virtual environment (.venv, made by `scripts/setup.sh --cuda`: PyTorch 2.x with CUDA from
//      PyPI), then python3's
//   3. the system's (Debian/Ubuntu `libtorch-dev`: /usr/lib/<multiarch>/cmake/Torch)
// It runs at load time too, so it is cheap: no `import torch` (Python only locates the package)
// and no compiler (gcc -print-multiarch only when the usual folder has no libtorch).
// For a CUDA libtorch it also finds CUDA's headers and runtime library where PyPI's nvidia-* packages
// put them beside torch (nvidia/cu13 for CUDA 13, nvidia/<library> for CUDA 12), so neither build
// needs a CUDA toolkit or nvcc: msam has no .cu file, it only includes ATen's CUDA headers.
// Usage: node scripts/find-libtorch.js [--torch-dir | --include | --libdir | --rpath | --libs | --defines | --cxx-std | --cflags | --json]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const HOW_TO_GET_ONE = [
  'msam needs libtorch to build, and found none. Any one of these will do:',
  '  1. set LIBTORCH to an unpacked libtorch folder (the one with include/, lib/ and share/cmake/Torch/);',
  '  2. install PyTorch for python3 (`python3 -c "import torch"` must work; pip wheels ship share/cmake/Torch),',
  '     or run `bash scripts/setup.sh --cuda` in the msam checkout (PyTorch 2.x with CUDA in .venv);',
  '  3. install the system package: `sudo apt-get install libtorch-dev` (Debian 12+/Ubuntu 23.04+).',
].join('\n');

const hasConfig = (dir) => fs.existsSync(path.join(dir, 'TorchConfig.cmake'));

const packageRoot = path.resolve(__dirname, '..');
/** The compiler's own include folders (Debian's libtorch has its headers in /usr/include). */
const DEFAULT_INCLUDES = ['/usr/include', '/usr/local/include'];

function fromEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  if (root === 'system') {
    const found = fromSystem();
    if (!found) throw new Error('LIBTORCH=system, but there is no system libtorch (Debian/Ubuntu: sudo apt-get install libtorch-dev)');
    return found;
  }
  const torchDir = path.join(root, 'share', 'cmake', 'Torch');
  if (!hasConfig(torchDir)) {
    throw new Error(`LIBTORCH=${root} has no share/cmake/Torch/TorchConfig.cmake: is it a libtorch folder?`);
  }
  return { source: 'LIBTORCH', root, torchDir, libdir: path.join(root, 'lib') };
}

/** The project's own virtual environment (scripts/setup.sh --cuda), when there is one. */
function venvPython() {
  const python = path.join(packageRoot, '.venv', 'bin', 'python');
  return fs.existsSync(python) ? python : null;
}

function fromPython() {
  for (const python of [process.env.PYTHON, venvPython(), 'python3'].filter(Boolean)) {
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
    if (hasConfig(torchDir)) return { source: `python (${python})`, python, root, torchDir, libdir: path.join(root, 'lib') };
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

/**
 * CUDA's headers and runtime library for a CUDA libtorch: PyPI's nvidia-* packages beside a pip
 * torch (CUDA 13: nvidia/cu13/{include,lib}; CUDA 12: nvidia/<library>/{include,lib}, one folder
 * each), else CUDA_HOME's or /usr/local/cuda's toolkit. ATen's CUDA headers include cuda_runtime,
 * cuBLAS, cuSPARSE and cuSOLVER headers; NCCL's header is for c10d's ProcessGroupNCCL.
 */
function cudaPaths(found) {
  const nvidia = path.join(found.root, '..', 'nvidia');
  const packages = fs.existsSync(nvidia) ? fs.readdirSync(nvidia).sort().map((d) => path.join(nvidia, d)) : [];
  const toolkits = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter(Boolean);
  const includes = [...packages.map((d) => path.join(d, 'include')), ...toolkits.map((d) => path.join(d, 'include'))].filter((d) =>
    fs.existsSync(d),
  );
  const has = (file) => includes.some((d) => fs.existsSync(path.join(d, file)));
  const libdirs = [...packages.map((d) => path.join(d, 'lib')), ...toolkits.map((d) => path.join(d, 'lib64'))].filter((d) => fs.existsSync(d));
  let cudart = null;
  for (const dir of libdirs) {
    const so = fs.readdirSync(dir).find((f) => /^libcudart\.so\.\d+$/.test(f));
    if (so) {
      cudart = { dir, soname: so };
      break;
    }
  }
  // cuda_runtime.h includes crt/host_config.h (PyPI: nvidia-cuda-crt), cuda_fp16.h includes
  // <nv/target> (CCCL; PyPI: nvidia-cuda-cccl, a dependency of some torch versions, not of others).
  const runtime = ['cuda_runtime_api.h', path.join('crt', 'host_config.h'), path.join('nv', 'target')];
  return { includes, missingHeaders: runtime.filter((f) => !has(f)), cudart };
}

/**
 * The C++ standard libtorch's headers need: 20 where ATen.h refuses anything older (PyTorch ≥ 2.13),
 * else 17. Read from the header itself rather than guessed from the version number.
 */
function cxxStandard(include) {
  const aten = path.join(include, 'ATen', 'ATen.h');
  return fs.existsSync(aten) && /C\+\+20 or later/.test(fs.readFileSync(aten, 'utf8')) ? 20 : 17;
}

function find() {
  const found = fromEnv() || fromPython() || fromSystem();
  if (!found) throw new Error(HOW_TO_GET_ONE);
  const include = path.join(found.root, 'include');
  const cuda = fs.existsSync(path.join(found.libdir, 'libtorch_cuda.so'));
  // The C++ ABI libtorch was built with: dependent code must match it.
  const config = fs.readFileSync(path.join(found.torchDir, 'TorchConfig.cmake'), 'utf8');
  const abi = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(config);
  // Gloo's headers (msam.distributed on the CPU) are found on the default path (Debian: libgloo-dev).
  const cudaFound = cuda ? cudaPaths(found) : null;
  if (cudaFound && cudaFound.missingHeaders.length > 0) {
    throw new Error(
      `${found.libdir} is a CUDA libtorch, but CUDA's headers ${cudaFound.missingHeaders.join(', ')} are neither beside it ` +
        "(PyPI's nvidia-* packages) nor in CUDA_HOME or /usr/local/cuda: `pip install 'cuda-toolkit[crt,cccl]'` into torch's environment " +
        '(scripts/setup.sh --cuda does), or set CUDA_HOME to a CUDA toolkit',
    );
  }
  const cudaLibs = cudaFound
    ? // --no-as-needed: the addon calls nothing in torch_cuda by name for most ops, yet loading it is
      // what registers the CUDA kernels and allocator; an as-needed link would drop it.
      ['-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', ...(cudaFound.cudart ? [`-L${cudaFound.cudart.dir}`, `-l:${cudaFound.cudart.soname}`] : []), '-Wl,--as-needed']
    : [];
  return {
    ...found,
    version: torchVersion(found),
    cuda,
    cudaVersion: cuda ? cudaVersion(found) : null,
    // PyTorch ≥ 2.7 builds only with the C++11 ABI (GCC's default) and no longer writes the flag.
    cxx11Abi: abi ? Number(abi[1]) : 1,
    cxxStandard: cxxStandard(include),
    includeDirs: [include, path.join(include, 'torch', 'csrc', 'api', 'include'), ...(cudaFound ? cudaFound.includes : [])],
    libs: ['-ltorch', '-ltorch_cpu', '-lc10', ...cudaLibs],
    // A source build's RUNPATH: libtorch's folder, and cudart's (msam needs libcudart.so.N itself; the
    // loader looks for it before libtorch_cuda, whose own RUNPATH would find it, is loaded).
    rpath: [found.libdir, ...(cudaFound && cudaFound.cudart ? [cudaFound.cudart.dir] : [])],
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
    '--rpath': lt.rpath.join(':'),
    '--cxx-std': String(lt.cxxStandard),
    // binding.gyp's compiler flags: the standard, and libtorch's/CUDA's headers as system headers
    // (not /usr/include itself, already the compiler's: -isystem would reorder it and break
    // libstdc++'s #include_next).
    '--cflags': [`-std=c++${lt.cxxStandard}`, ...lt.includeDirs.filter((d) => !DEFAULT_INCLUDES.includes(d)).flatMap((d) => ['-isystem', d])].join(' '),
    '--json': JSON.stringify(lt, null, 2),
  }[flag];
  if (out === undefined) {
    process.stderr.write(`find-libtorch: unknown flag ${flag}\n`);
    process.exit(2);
  }
  process.stdout.write(`${out}\n`);
}

if (require.main === module) main();
module.exports = { find, HOW_TO_GET_ONE, DEFAULT_INCLUDES };
