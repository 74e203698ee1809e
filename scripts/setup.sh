#!/usr/bin/env bash
# Sets msam up on a fresh Debian/Ubuntu machine, for one of the two libtorch generations:
#   bash scripts/setup.sh          # Debian's libtorch 1.13 (CPU, from apt: small and quick)
#   bash scripts/setup.sh --cuda   # PyTorch 2.x with CUDA from PyPI in .venv/ (no GPU needed to build)
#   MSAM_SKIP_APT=1 bash scripts/setup.sh   # only the npm part (libtorch from LIBTORCH or python3)
# Either way: the system packages it needs when missing (a C++ toolchain and cmake, OpenBLAS for
# Debian's libtorch, libgloo-dev for msam.distributed, the Fashion-MNIST data set, and the tests'
# reference: Debian's python3-torch/torchvision 1.13, or the 2.x in .venv), then npm ci, the addon
# built against that libtorch, the TypeScript build and the prebuild for that libtorch.
#
# --cuda installs torch==$MSAM_TORCH_VERSION (default below) with its nvidia-* packages, torchvision
# (the tests' reference) and the CUDA headers torch's wheels lack into .venv (scripts/torch-venv.sh;
# the wheels, about 3 GB, are kept in $MSAM_WHEELS, so a second setup on the same machine downloads
# nothing). scripts/find-libtorch.js then finds .venv's
# torch before the system's, so the build, the tests and `msam` use it; LIBTORCH=system goes back.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) cuda=1 ;;
    *) echo "setup.sh: unknown option $arg (expected --cuda)" >&2; exit 2 ;;
  esac
done
torch_version="${MSAM_TORCH_VERSION:-2.15.0}"
torchvision_version="${MSAM_TORCHVISION_VERSION:-0.29.2}"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

need=()
if [ "${MSAM_SKIP_APT:-0}" != 1 ]; then
  if [ "$cuda" = 0 ] && [ -z "${LIBTORCH:-}" ] && ! LIBTORCH=system node scripts/find-libtorch.js --torch-dir >/dev/null 2>&1; then need+=(libtorch-dev); fi
  # Debian's libtorch runs matmuls on whatever libblas.so.3 is: netlib's reference BLAS unless
  # OpenBLAS is installed (an MLP step 21.6 ms → 1.8 ms, a CNN mSAM step 590 → 332 ms).
  [ "$cuda" = 1 ] || dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
  # Gloo's headers: c10d's ProcessGroupGloo.hpp includes them (msam.distributed; the code is in libtorch).
  [ -f /usr/include/gloo/context.h ] || need+=(libgloo-dev)
  command -v cmake >/dev/null || need+=(cmake)
  command -v g++ >/dev/null || need+=(g++)
  command -v readelf >/dev/null || need+=(binutils)
  if [ "$cuda" = 0 ]; then
    # PyTorch 1.13 in Python: the reference that tests and benchmarks compare against.
    /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
    /usr/bin/python3 -c 'import torchvision' >/dev/null 2>&1 || need+=(python3-torchvision)
  fi
  # The pretrained-checkpoint tests' reference (transformers, timm) lives in a venv either way.
  /usr/bin/python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "msam setup: installing ${need[*]} with apt-get"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ "$cuda" = 1 ]; then
  bash scripts/torch-venv.sh .venv "$torch_version" "torchvision==$torchvision_version"
  # transformers, timm, tokenizers, safetensors for test/pretrained-*.test.ts, into .venv beside
  # its torch 2.x. Pinned to the versions the tests were last checked with (a new transformers
  # once changed how RobertaTokenizerFast takes its vocabulary and turned CI red); raise them
  # deliberately, running test/pretrained-*.test.ts on the 2.x build.
  MSAM_REF_PINS="transformers==5.25.0 tokenizers==0.23.3 timm==1.0.31 safetensors==0.8.0" bash scripts/reference-venv.sh .venv .venv/bin/python
else
  # The same over Debian's torch 1.13: .venv-ref (gitignored; about 30 s and 170 MB).
  bash scripts/reference-venv.sh
fi

# The build folder belongs to one libtorch: configured for another one, it starts again.
want=$(node scripts/find-libtorch.js --libdir)
if [ -f build/libtorch.json ] && [ "$(node -p "require('./build/libtorch.json').libdir")" != "$want" ]; then
  echo "msam setup: build/ was configured for another libtorch; building again for $want"
  rm -rf build
fi

npm ci --no-audit --no-fund
npm run build:ts
# The prebuild for this libtorch (a second link of the objects just built, about a second): the
# tarball test installs it.
node scripts/prebuild.js --if-needed
node -e "const m = require('./dist/lib'); const v = m.version(); console.log('msam ' + v.msam + ' on libtorch ' + v.libtorch + (v.cuda ? ' (CUDA ' + v.cuda + ')' : ' (CPU)') + ', ' + v.binary.kind + ' binary ' + v.binary.path)"
