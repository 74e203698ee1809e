#!/usr/bin/env bash
# Release script: a CUDA prebuild for one PyTorch version from PyPI, made on any Linux x64 machine
# (no GPU, no CUDA toolkit: the wheels carry libtorch, cudart and, with cuda-toolkit[crt,cccl], every
# header msam includes; scripts/torch-venv.sh). Outside CI, which builds only the CUDA prebuild of the torch setup.sh --cuda
# installs. The default is PyTorch 2.11.0 (CUDA 13.0), the GPU machine's version.
#   bash scripts/prebuild-cuda.sh            # torch 2.11.0
#   bash scripts/prebuild-cuda.sh 2.12.1     # another version
# It installs that torch into .venv-torch<version>/ (wheels cached in $MSAM_WHEELS, default
# ~/.cache/msam/wheels), compiles msam against it in build-torch<version>/ (this checkout's build/
# is left alone), and writes prebuilds/linux-x64/msam-torch<version>-cu<xy>.glibc.{node,json}. Then
# it checks the file: no RPATH/RUNPATH, and every symbol resolves when loaded against that torch;
# on a machine with a GPU also `msam doctor` (a matmul and an mSAM step on every GPU).
# Publishing: gather the CPU prebuild and the CUDA ones in prebuilds/linux-x64/, then npm pack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version="${1:-2.11.0}"
venv=".venv-torch$version"
bash scripts/torch-venv.sh "$venv" "$version"

export PYTHON="$PWD/$venv/bin/python"
lt_json=$(node scripts/find-libtorch.js --json)
node -e '
  const lt = JSON.parse(process.argv[1]);
  if (!lt.cuda) { console.error(`prebuild-cuda: torch ${lt.version} in ${lt.libdir} is CPU-only`); process.exit(1); }
  console.log(`prebuild-cuda: libtorch ${lt.version} (CUDA ${lt.cudaVersion}, C++${lt.cxxStandard}) from ${lt.libdir}`);' "$lt_json"

[ -d node_modules ] || npm ci --ignore-scripts --no-audit --no-fund
[ -f dist/lib/index.js ] || npm run build:ts
MSAM_BUILD_DIR="build-torch$version" node scripts/prebuild.js

name=$(node -e 'console.log(require("./scripts/prebuild.js").prebuildName(JSON.parse(process.argv[1])))' "$lt_json")
binary="prebuilds/linux-x64/${name}.glibc.node"
if readelf -d "$binary" | grep -E 'RPATH|RUNPATH'; then echo "prebuild-cuda: $binary has an RPATH/RUNPATH" >&2; exit 1; fi
# Loaded the way lib/native.ts loads a prebuild, with every symbol bound at load (LD_BIND_NOW).
LD_BIND_NOW=1 MSAM_BINARY="$binary" node -e '
  const m = require("./dist/lib");
  const v = m.version();
  console.log(`prebuild-cuda: ${process.env.MSAM_BINARY} loads: libtorch ${v.libtorch}, CUDA ${v.cuda}, ${m.cuda.isAvailable() ? m.cuda.deviceName(0) : "no GPU visible"}`);'
if [ -e /dev/nvidia0 ]; then MSAM_BINARY="$binary" node dist/lib/cli.js doctor; fi
echo "prebuild-cuda: $binary and ${binary%.node}.json"
