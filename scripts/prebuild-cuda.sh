#!/usr/bin/env bash
# Makes the CUDA prebuild on a Linux machine with an NVIDIA GPU: builds msam against the CUDA
# libtorch that scripts/find-libtorch.js finds (LIBTORCH, or python3's torch: PyTorch 2.x for
# CUDA 12 from pip), then prebuilds/linux-x64/msam-torch<version>-cu<xy>.glibc.{node,json}, then
# checks that prebuild by loading it and running `msam doctor` (a matmul and an mSAM step on every
# GPU). Needs node, cmake, g++ and the CUDA toolkit libtorch's CMake files look for (nvcc;
# CUDAToolkit_ROOT or CUDA_HOME when it is not on PATH).
#   bash scripts/prebuild-cuda.sh                 # python3's torch
#   LIBTORCH=/opt/libtorch bash scripts/prebuild-cuda.sh
#   PYTHON=/opt/venv/bin/python bash scripts/prebuild-cuda.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

lt_json=$(node scripts/find-libtorch.js --json)
is_cuda=$(node -e 'const lt = JSON.parse(process.argv[1]); console.log(lt.cuda ? 1 : 0)' "$lt_json")
if [ "$is_cuda" != 1 ]; then
  echo "prebuild-cuda: the libtorch found is CPU-only:" >&2
  echo "$lt_json" >&2
  echo "install PyTorch with CUDA for python3 (python3 -m pip install torch) or set LIBTORCH to a CUDA libtorch" >&2
  exit 1
fi
node -e 'const lt = JSON.parse(process.argv[1]); console.log(`prebuild-cuda: libtorch ${lt.version} (CUDA ${lt.cudaVersion}) from ${lt.source} at ${lt.libdir}`)' "$lt_json"

[ -d node_modules ] || npm ci --ignore-scripts --no-audit --no-fund
# A clean configure: an existing build/ may be configured for another libtorch.
npx cmake-js rebuild --CDCMAKE_BUILD_TYPE=Release
node scripts/prebuild.js
npm run build:ts

name=$(node -e 'const lt = require("./build/libtorch.json"); console.log(require("./scripts/prebuild.js").prebuildName(lt))')
binary="prebuilds/linux-x64/${name}.glibc.node"
readelf -d "$binary" | grep -E 'RPATH|RUNPATH' && { echo "prebuild-cuda: $binary has an RPATH/RUNPATH" >&2; exit 1; }
MSAM_BINARY="$binary" node dist/lib/cli.js doctor
MSAM_BINARY="$binary" node -e '
  const m = require("./dist/lib");
  if (!m.cuda.isAvailable()) { console.error("prebuild-cuda: the prebuild loaded but sees no GPU"); process.exit(1); }
  console.log("prebuild-cuda: " + process.env.MSAM_BINARY + " works on " + m.cuda.deviceName(0));'
echo "prebuild-cuda: copy $binary and ${binary%.node}.json into prebuilds/linux-x64/ of the checkout that publishes"
