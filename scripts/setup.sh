#!/usr/bin/env bash
# Sets msam up on a fresh Debian/Ubuntu machine: the system packages it needs (libtorch-dev,
# libgloo-dev for msam.dist, the Fashion-MNIST data set, a C++ toolchain and cmake, and PyTorch/torchvision for Python as
# the tests' reference) when missing, then npm ci (which builds
# the addon through the install hook), the TypeScript build and the prebuild.
#   bash scripts/setup.sh            # everything
#   MSAM_SKIP_APT=1 bash scripts/setup.sh   # only the npm part (libtorch from LIBTORCH or python3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

need=()
if [ "${MSAM_SKIP_APT:-0}" != 1 ]; then
  if [ -z "${LIBTORCH:-}" ] && ! node scripts/find-libtorch.js --torch-dir >/dev/null 2>&1; then need+=(libtorch-dev); fi
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
  # Gloo's headers: c10d's ProcessGroupGloo.hpp includes them (msam.dist; the code is in libtorch).
  [ -f /usr/include/gloo/context.h ] || need+=(libgloo-dev)
  command -v cmake >/dev/null || need+=(cmake)
  command -v g++ >/dev/null || need+=(g++)
  # PyTorch in Python: the reference that tests and benchmarks compare against.
  /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
  /usr/bin/python3 -c 'import torchvision' >/dev/null 2>&1 || need+=(python3-torchvision)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "msam setup: installing ${need[*]} with apt-get"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

npm ci --no-audit --no-fund
npm run build:ts
# The prebuild for this libtorch (a second link of the objects just built, about a second): the
# tarball test installs it.
node scripts/prebuild.js --if-needed
node -e "const m = require('./dist/lib'); const v = m.version(); console.log('msam ' + v.msam + ' on libtorch ' + v.libtorch + (v.cuda ? ' (CUDA ' + v.cuda + ')' : ' (CPU)') + ', ' + v.binary.kind + ' binary ' + v.binary.path)"
