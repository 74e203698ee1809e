// Time per training step of vanilla, SAM and mSAM (m = 4, 8, 16, 32) from msam, side by side in one
// run with PyTorch in Python on the same libtorch running the same algorithm (a sequential loop
// over micro-batches, as the public m-SAM code does). Rounds alternate msam and Python; medians.
//   node dist/bench/step.js [--models cnn,resnet18] [--batches 128,512] [--ms 1,4,8,16,32]
//        [--steps 3] [--warmup 1] [--rounds 3] [--device cpu|cuda] [--strategy auto|loop|vectorized]
//        [--out bench/results/step.json]
// Models: cnn, resnet18, mlp (784-256-256-10). With SAM (m = 1) and m = 32 among the cases, it also
// prints the cost of an m = 32 step in SAM steps, msam's beside PyTorch's (README, "Benchmarks").
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as msam from '../lib';
import { median, runPythonJson } from './python';
import { flag, list } from './args';

const device = flag('--device', 'cpu') as msam.Device;
const steps = Number(flag('--steps', '3'));
const warmup = Number(flag('--warmup', '1'));
const rounds = Number(flag('--rounds', '3'));
const rho = 0.2;
const strategy = flag('--strategy', 'auto') as 'auto' | 'loop' | 'vectorized';
const outFile = flag('--out', path.join(__dirname, '..', '..', 'bench', 'results', `step-${device.replace(':', '')}.json`));

function smallCnn(): msam.nn.Module {
  const { nn } = msam;
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.BatchNorm2d(64), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(64 * 7 * 7, 10),
  );
}
function mlp(): msam.nn.Module {
  const { nn } = msam;
  return new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 10));
}
const MODELS: Record<string, [() => msam.nn.Module, number[]]> = {
  cnn: [smallCnn, [1, 28, 28]],
  mlp: [mlp, [784]],
  resnet18: [() => msam.models.resnet18({ numClasses: 10, stem: 'cifar' }), [3, 32, 32]],
};

interface Case {
  key: string;
  model: string;
  batch: number;
  method: string;
  m: number;
  rho: number;
}
const cases: Case[] = [];
for (const model of list('--models', 'cnn,resnet18')) {
  for (const batch of list('--batches', '128,512').map(Number)) {
    for (const m of list('--ms', '0,1,4,8,16,32').map(Number)) {
      if (m > batch) continue;
      const method = m === 0 ? 'vanilla' : m === 1 ? 'SAM' : `mSAM m=${m}`;
      cases.push({ key: `${model}/${batch}/${method}`, model, batch, method, m: Math.max(m, 1), rho: m === 0 ? 0 : rho });
    }
  }
}

async function measureMsam(c: Case): Promise<number> {
  const [make, shape] = MODELS[c.model] as [() => msam.nn.Module, number[]];
  msam.manualSeed(0);
  const model = make().to(device).train();
  const opt = new msam.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const sam = new msam.MSAM(model, opt, { m: c.m, rho: c.rho, strategy });
  const x = msam.randn([c.batch, ...shape], { device });
  const y = msam.randint(0, 10, [c.batch], { device });
  const batch = { input: x, target: y };
  for (let i = 0; i < warmup; i++) await sam.step(batch, { loss: 'cross_entropy' });
  if (device !== 'cpu') msam.cuda.synchronize();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) await sam.step(batch, { loss: 'cross_entropy' });
  if (device !== 'cpu') msam.cuda.synchronize();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / steps;
  x.dispose();
  y.dispose();
  return ms;
}


async function main(): Promise<void> {
  const ours: Record<string, number[]> = {};
  const theirs: Record<string, number[]> = {};
  let torchVersion = '';
  const threads = msam.getNumThreads();
  // Each case runs in msam and then in Python back to back, so both see the machine in the same state.
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      (ours[c.key] ??= []).push(await measureMsam(c));
      const py = runPythonJson<{ torch: string; msPerStep: Record<string, number> }>(path.join(__dirname, '..', '..', 'bench', 'step.py'), [
        JSON.stringify({ cases: [c], steps, warmup, threads, device }),
      ]);
      torchVersion = py.torch;
      (theirs[c.key] ??= []).push(py.msPerStep[c.key] as number);
      process.stderr.write(`round ${r + 1}/${rounds} ${c.key}: msam ${(ours[c.key] as number[]).at(-1)!.toFixed(1)} ms, PyTorch ${(theirs[c.key] as number[]).at(-1)!.toFixed(1)} ms\n`);
    }
  }
  const rows = cases.map((c) => {
    const a = median(ours[c.key] ?? []);
    const b = median(theirs[c.key] ?? []);
    return { model: c.model, batch: c.batch, method: c.method, msamMs: a, pythonMs: b, ratio: a / b };
  });
  const result = { date: new Date().toISOString(), device, strategy, libtorch: msam.version().libtorch, pythonTorch: torchVersion, threads, steps, rounds, rows };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(`${outFile}.tmp`, JSON.stringify(result, null, 2));
  fs.renameSync(`${outFile}.tmp`, outFile);
  console.log(`ms per training step, median of ${rounds} rounds × ${steps} steps (${device}, libtorch ${result.libtorch} vs torch ${torchVersion}, ${threads} thread(s))`);
  console.log('| model | batch | method | msam ms | PyTorch ms | ratio |');
  console.log('|---|---:|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.model} | ${r.batch} | ${r.method} | ${r.msamMs.toFixed(1)} | ${r.pythonMs.toFixed(1)} | ${r.ratio.toFixed(2)}× |`);
  // An m = 32 step in SAM steps: the same arithmetic, so what it costs beyond 1× is overhead.
  for (const sam of rows.filter((r) => r.method === 'SAM')) {
    const m32 = rows.find((r) => r.model === sam.model && r.batch === sam.batch && r.method === 'mSAM m=32');
    if (!m32) continue;
    console.log(`${sam.model}, batch ${sam.batch}: an m = 32 step costs ${(m32.msamMs / sam.msamMs).toFixed(2)} SAM steps in msam (strategy ${strategy}), ${(m32.pythonMs / sam.pythonMs).toFixed(2)} in PyTorch`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
