#!/usr/bin/env bash
# The evidence runs of README "Evidence": vanilla / SAM / mSAM on Fashion-MNIST at 15 epochs,
# seeds 0-2, clean and with 25% symmetric label noise, with the sharpness of every final model;
# then mSAM's m-sweep. Two runs side by side with one thread each (a 2-core machine). Stopped
# (Ctrl-C, SIGTERM) it keeps what finished; run it again to continue where it stopped.
#   bash scripts/evidence.sh [out-root]     (default runs/evidence)
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-runs/evidence}"
msam=(node dist/lib/cli.js)
common=(--epochs 15 --jobs 2 --threads 1)
"${msam[@]}" compare "${common[@]}" --seeds 0,1,2 --sharpness --out-dir "$root/compare-clean"
"${msam[@]}" compare "${common[@]}" --seeds 0,1,2 --sharpness --label-noise 0.25 --out-dir "$root/compare-noise25"
"${msam[@]}" sweep-m "${common[@]}" --ms 1,2,4,8,16,32 --seeds 0 --out-dir "$root/sweep-m"
