#!/usr/bin/env bash
# A virtual environment with PyPI's torch (CUDA build, with its nvidia-* packages) and
# cuda-toolkit[crt,cccl] (crt/host_config.h and <nv/target>, headers torch's wheels lack or, for
# some versions, do not bring), for building msam against it. Used by setup.sh --cuda and
# prebuild-cuda.sh. The wheels are kept in $MSAM_WHEELS (default ~/.cache/msam/wheels): pip
# downloads only what the cache lacks, then installs from the cache alone, so a second environment
# on the same machine downloads nothing. Nothing is done when the environment already has that torch.
#   bash scripts/torch-venv.sh VENV TORCH_VERSION [MORE_PACKAGES...]
set -euo pipefail
venv=$1 torch_version=$2
shift 2
wheels="${MSAM_WHEELS:-$HOME/.cache/msam/wheels}"
packages=("torch==$torch_version" 'cuda-toolkit[crt,cccl]' "$@")
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if "$venv/bin/python" - "$torch_version" <<'PY' 2>/dev/null; then
import importlib.metadata as m, sys
assert m.version('torch') == sys.argv[1] and m.version('nvidia-cuda-crt') and m.version('nvidia-cuda-cccl')
PY
  exit 0
fi
echo "msam: torch $torch_version with CUDA into $venv (wheels cached in $wheels)"
mkdir -p "$wheels"
"$venv/bin/python" -m pip download --quiet --dest "$wheels" "${packages[@]}"
"$venv/bin/python" -m pip install --quiet --no-index --find-links "$wheels" "${packages[@]}"
