#!/usr/bin/env bash
# The reference for fromPretrained's tests (models/pretrained/): transformers, timm, tokenizers and
# safetensors from PyPI in a test-only virtual environment, never in a system site.
#   bash scripts/reference-venv.sh [DIR] [PYTHON]
# DIR defaults to .venv-ref (gitignored) over Debian's /usr/bin/python3, whose torch 1.13 it sees
# through --system-site-packages; the versions are the last that still run on torch 1.13. For the
# 2.x generation setup.sh --cuda passes .venv and its python, and newer versions fit.
# Idempotent: a venv that already imports all four is left as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${1:-.venv-ref}"
python="${2:-/usr/bin/python3}"
# transformers 4.44 is among the last to accept torch < 2 (later ones need torch >= 2.0); tokenizers
# 0.19 is what it pins; timm 1.0.9 still guards its use of torch 2's scaled_dot_product_attention.
pins=(${MSAM_REF_PINS:-transformers==4.44.2 tokenizers==0.19.1 timm==1.0.9 safetensors==0.4.5 numpy<2})
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c 'import torch, transformers, timm, tokenizers, safetensors' >/dev/null 2>&1; then
  exit 0
fi
if [ ! -x "$dir/bin/python" ]; then
  "$python" -m venv --system-site-packages "$dir"
fi
# numpy stays 1.x over Debian's torch 1.13 (built against numpy 1.x); torch and torchvision stay
# the environment's: --no-deps for timm keeps pip from "upgrading" them.
rest=() timm=()
for p in "${pins[@]}"; do case "$p" in timm*) timm+=("$p") ;; *) rest+=("$p") ;; esac; done
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${rest[@]}"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${timm[@]}"
"$dir/bin/python" -c 'import torch, transformers, timm, tokenizers, safetensors; print("reference venv:", "torch", torch.__version__, "transformers", transformers.__version__, "timm", timm.__version__, "tokenizers", tokenizers.__version__, "safetensors", safetensors.__version__)'
