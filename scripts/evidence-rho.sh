#!/usr/bin/env bash
# ρ tuned on the validation split, the same way for SAM and mSAM (README "Evidence"): clean
# Fashion-MNIST, the evidence budget (15 epochs), seed 0, ρ ∈ {0.01, 0.02, 0.05, 0.1}; each
# method's ρ is the one with the best validation accuracy (the best checkpoint's, bestValAccuracy:
# the test set plays no part), which then runs seeds 0-2 (seed 0 read back, not trained again).
# Stopped, it continues where it stopped (the experiments keep finished runs).
#   bash scripts/evidence-rho.sh [out-root]     (default runs/evidence)
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-runs/evidence}/rho"
msam=(node dist/lib/cli.js)
common=(--epochs 15 --jobs 2 --threads 1)
rhos=(0.01 0.02 0.05 0.1)
for rho in "${rhos[@]}"; do
  "${msam[@]}" compare "${common[@]}" --methods sam,msam --rho "$rho" --seeds 0 --out-dir "$root/grid-rho$rho"
done
# The selection: validation accuracy only.
node - "$root" "${rhos[@]}" <<'JS'
const fs = require('fs'), path = require('path');
const [root, ...rhos] = process.argv.slice(2);
const rows = [];
for (const rho of rhos) for (const method of ['sam', 'msam']) {
  const r = JSON.parse(fs.readFileSync(path.join(root, `grid-rho${rho}`, 'runs', `${method}-seed0`, 'results.json'), 'utf8'));
  rows.push({ rho: Number(rho), method, val: r.bestValAccuracy });
}
const best = {};
for (const row of rows) if (!(row.method in best) || row.val > best[row.method].val) best[row.method] = row;
console.log('| ρ | SAM validation accuracy (%) | mSAM validation accuracy (%) |\n|---:|---:|---:|');
for (const rho of rhos) console.log(`| ${rho} | ${rows.filter((r) => r.rho === Number(rho)).map((r) => (100 * r.val).toFixed(2) + (best[r.method] === r ? ' (best)' : '')).join(' | ')} |`);
fs.writeFileSync(path.join(root, 'selection.json'), JSON.stringify({ rows, best }, null, 2));
JS
for method in sam msam; do
  rho=$(node -p "require('./$root/selection.json').best['$method'].rho")
  mkdir -p "$root/tuned-$method/runs"
  [ -e "$root/tuned-$method/runs/$method-seed0" ] || cp -r "$root/grid-rho$rho/runs/$method-seed0" "$root/tuned-$method/runs/"
  "${msam[@]}" compare "${common[@]}" --methods "$method" --rho "$rho" --seeds 0,1,2 --out-dir "$root/tuned-$method"
done
