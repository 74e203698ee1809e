#!/usr/bin/env bash
# One device call's worth of GPU checks (about 9 minutes), for a session that has the H200:
#   here:   bash ../shared/gpu/prepare.sh
#           bash scripts/prebuild-cuda.sh 2.11.0   # the prebuild for the device's PyTorch 2.11 (CUDA 13.0)
#   device: run with carry [".gpu", "prebuilds"], timeout_s 600:
#             bash .gpu/remote.sh 'bash bench/gpu-session.sh'
# Stages, each under its own time limit and all inside MSAM_SESSION_BUDGET seconds (default 530):
#   0. prebuild  as a user's install would: no build/, the install hook picks the prebuild that fits
#                the device's torch (prebuilds/ carried), then `msam doctor` on the GPU through it
#   1. build     npm run build:native (cmake-js against PyTorch's CUDA libtorch); if that fails,
#                once more without the graph strategy and c10d (MSAM_NO_GRAPH/NCCL/GLOO)
#   2. tests     the test files that exercise CUDA (vitest; graph vs loop among them)
#   3. gpu fp32  node dist/bench/gpu.js --precision fp32 (TF32 on)  -> $OUT/gpu-fp32.json
#   4. gpu bf16  node dist/bench/gpu.js --precision bf16 (autocast) -> $OUT/gpu-bf16.json
#   5. step      node dist/bench/step.js --device cuda (one model)  -> $OUT/step-cuda.json
# Everything is logged to $OUT/session.log (and printed); $OUT/summary.json has each stage's exit code and
# seconds, the versions and whether CUDA was seen by the addon. A stage that fails or runs out of
# time does not stop the later ones (except the build: nothing runs without it). The benches write
# their JSON after every model, so a stage cut short keeps what it measured.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-$PWD/.gpu-out}
mkdir -p "$OUT"
BUDGET=${MSAM_SESSION_BUDGET:-530}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
export PYTHONUNBUFFERED=1
: > "$OUT/session.log"
log() { echo "$*" | tee -a "$OUT/session.log"; }

stages=()
# run NAME LIMIT COMMAND...: the command under min(LIMIT, what the budget has left minus a reserve).
run() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET - SECONDS - 10))
  ((limit > left)) && limit=$left
  if ((limit < 15)); then
    log "=== $name: skipped, ${left}s of the budget left"
    stages+=("{\"stage\":\"$name\",\"code\":null,\"seconds\":0,\"note\":\"skipped: budget spent\"}")
    return 1
  fi
  log "=== $name (limit ${limit}s, ${SECONDS}s elapsed): $*"
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$OUT/session.log"
  local code=${PIPESTATUS[0]}
  local took=$((SECONDS - t0))
  local note=""
  ((code == 124 || code == 137)) && note="timed out"
  log "=== $name: exit $code after ${took}s${note:+ ($note)}"
  stages+=("{\"stage\":\"$name\",\"code\":$code,\"seconds\":$took,\"note\":\"$note\"}")
  return $code
}

summary() {
  local info
  info=$(node -e "
    const m = require('./dist/lib');
    console.log(JSON.stringify({ versions: m.version(), cudaAvailable: m.cuda.isAvailable(), tf32Defaults: m.backends.cuda.matmul.allowTf32 + '/' + m.backends.cudnn.allowTf32 }));
  " 2>/dev/null || echo '{"versions":null}')
  local IFS=,
  echo "{\"budget\":$BUDGET,\"elapsed\":$SECONDS,\"addon\":$info,\"stages\":[${stages[*]}]}" > "$OUT/summary.json"
}
trap summary EXIT

log "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"

run build-ts 60 npm run build:ts || { log "tsc failed: nothing else can run"; exit 1; }

# The CUDA prebuild, installed as a user's `npm install` would: with no build/ the install hook
# takes the prebuild that fits the torch it finds, and the loader uses it; doctor checks the GPU.
rm -rf build
if ls prebuilds/linux-x64/msam-torch*-cu*.glibc.json >/dev/null 2>&1; then
  run prebuild 90 bash -c 'node scripts/install.js --dry-run 2>&1 | tee /dev/stderr | grep -q "using the prebuilt binary" && node dist/lib/cli.js doctor --json > "$0/doctor-prebuild.json"; code=$?; cat "$0/doctor-prebuild.json"; exit $code' "$OUT"
else
  log "=== prebuild: none carried (run bash scripts/prebuild-cuda.sh 2.11.0 here, carry prebuilds)"
fi

# Then from source. Should that fail, a second build leaves out the parts most likely to trip on a
# new libtorch (the CUDA-graph strategy, c10d's NCCL and Gloo process groups), so the tests and
# benches of everything else still run.
if ! run build 150 npm run build:native; then
  rm -rf build
  run build-without-graph-and-dist 150 npx cmake-js compile --CDCMAKE_BUILD_TYPE=Release \
    "--CDCMAKE_CXX_FLAGS=-DMSAM_NO_GRAPH -DMSAM_NO_NCCL -DMSAM_NO_GLOO" || { log "build failed: nothing else can run"; exit 1; }
fi
log "addon: $(node -e "const m = require('./dist/lib'); console.log(JSON.stringify(m.version()), 'cuda available:', m.cuda.isAvailable())" 2>&1)"

# The test files that exercise CUDA (they skip their CUDA parts without it, so check the line above).
mapfile -t cudaTests < <(grep -lE "describeCuda|cudaSkipReason|device: 'cuda'" test/*.test.ts | grep -v bench-gpu)
if ((${#cudaTests[@]})); then
  run tests 95 npx vitest run --maxWorkers=6 --reporter=default --reporter=json --outputFile="$OUT/tests.json" "${cudaTests[@]}"
fi

run gpu-fp32 175 node dist/bench/gpu.js --device cuda --precision fp32 --iters 3 --warmup 1 --case-timeout 60 --out "$OUT/gpu-fp32.json"
run gpu-bf16 110 node dist/bench/gpu.js --device cuda --precision bf16 --iters 3 --warmup 1 --case-timeout 45 --out "$OUT/gpu-bf16.json"
run step 40 node dist/bench/step.js --device cuda --models resnet18 --batches 512 --ms 0,1,32 --rounds 1 --steps 2 --warmup 1 --out "$OUT/step-cuda.json"

# The two speed tables again at the end, where the device tool's output tail shows them.
for p in fp32 bf16; do
  [ -f "$OUT/gpu-$p.json" ] && node -e "
    const { markdown } = require('./dist/bench/gpu.js');
    console.log('\n' + markdown(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'))));
  " "$OUT/gpu-$p.json" 2>&1 | tee -a "$OUT/session.log"
done
exit 0
