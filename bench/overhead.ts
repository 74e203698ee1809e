// Per-call overhead from JS against the same ops called from Python on the same libtorch, side
// by side in one run (rounds alternate JS and Python, the median of each is reported).
//   node dist/bench/overhead.js [--rounds 5] [--out bench/results/overhead.json]
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as msam from '../lib';
import { median, runPythonJson } from './python';
import { flag } from './args';

const rounds = Number(flag('--rounds', '5'));
const outFile = flag('--out', path.join(__dirname, '..', '..', 'bench', 'results', 'overhead.json'));
const threads = msam.getNumThreads();

type Case = [make: () => [msam.Tensor, msam.Tensor], fn: (a: msam.Tensor, b: msam.Tensor) => msam.Tensor, n: number];
const CASES: Record<string, Case> = {
  'add 1-element': [() => [msam.ones([1]), msam.ones([1])], (a, b) => a.add(b), 20000],
  'matmul 256x256': [() => [msam.randn([256, 256]), msam.randn([256, 256])], (a, b) => a.matmul(b), 400],
  'conv2d 16x32x32 3x3': [() => [msam.randn([1, 16, 32, 32]), msam.randn([16, 16, 3, 3])], (x, w) => x.conv2d(w, null, { padding: 1 }), 400],
};

function measureJs(): Record<string, number> {
  const out: Record<string, number> = {};
  msam.noGrad(() => {
    for (const [name, [make, fn, n]] of Object.entries(CASES)) {
      const [a, b] = make();
      for (let i = 0; i < n / 10; i++) fn(a, b).dispose();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) fn(a, b).dispose();
      out[name] = Number(process.hrtime.bigint() - t0) / 1e3 / n;
      a.dispose();
      b.dispose();
    }
  });
  return out;
}


const js: Record<string, number[]> = {};
const py: Record<string, number[]> = {};
let torchVersion = '';
for (let r = 0; r < rounds; r++) {
  for (const [k, v] of Object.entries(measureJs())) (js[k] ??= []).push(v);
  const p = runPythonJson<{ torch: string; perCallUs: Record<string, number> }>(path.join(__dirname, '..', '..', 'bench', 'overhead.py'), [String(threads)]);
  torchVersion = p.torch;
  for (const [k, v] of Object.entries(p.perCallUs)) (py[k] ??= []).push(v);
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}

const rows = Object.keys(CASES).map((name) => {
  const j = median(js[name] ?? []);
  const p = median(py[name] ?? []);
  return { op: name, jsUs: j, pythonUs: p, ratio: j / p };
});
const result = { date: new Date().toISOString(), libtorch: msam.version().libtorch, pythonTorch: torchVersion, threads, rounds, rows };
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(`${outFile}.tmp`, JSON.stringify(result, null, 2));
fs.renameSync(`${outFile}.tmp`, outFile);

console.log(`per-call time, median of ${rounds} rounds (libtorch ${result.libtorch} from JS, torch ${torchVersion} from Python, ${threads} thread(s))`);
console.log('| op | msam (JS) µs | PyTorch (Python) µs | ratio JS/Python |');
console.log('|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.op} | ${r.jsUs.toFixed(2)} | ${r.pythonUs.toFixed(2)} | ${r.ratio.toFixed(2)}× |`);
