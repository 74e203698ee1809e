// Step time of data-parallel mSAM: 1 process against N processes (Gloo over c10d) on this
// machine's CPUs, the same global batch and m. Each configuration is launched fresh; rank 0
// reports the median ms per step (the mSAM passes, the all-reduce and the SGD step).
// Rounds alternate the configurations (a shared machine's load then falls on all of them alike)
// and the median over rounds is reported, with every round's value and the load average.
//   node dist/bench/dist.js [--batch 128] [--ms 4,8] [--steps 12] [--warmup 3] [--rounds 3] [--out bench/results/dist-cpu.json]
// A worker (launched by the driver with WORLD_SIZE set) measures one configuration.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as msam from '../lib';
import { launch } from '../lib/distributed/launch';
import { median } from './python';
import { flag } from './args';


function smallCnn(): msam.nn.Module {
  const { nn } = msam;
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.BatchNorm2d(64), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(64 * 7 * 7, 10),
  );
}

interface Measured {
  processes: number;
  threadsPerProcess: number;
  batch: number;
  m: number;
  /** Median over the measured steps, each started together on all ranks (a barrier), so the slowest rank's. */
  msPerStep: number;
  steps: number;
  /** Median time of one all-reduce of the whole gradient alone (N > 1), the communication a step adds. */
  allReduceMs: number | null;
  gradientBytes: number;
}

async function worker(): Promise<void> {
  const batch = Number(flag('--batch', '128'));
  const m = Number(flag('--m', '4'));
  const steps = Number(flag('--steps', '12'));
  const warmup = Number(flag('--warmup', '3'));
  const threads = Number(flag('--threads', '1'));
  const out = flag('--result', '');
  msam.setNumThreads(threads);
  const world = msam.dist.worldFromEnv();
  const group = world !== null && world.worldSize > 1 ? await msam.dist.initProcessGroup() : null;
  const size = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  msam.manualSeed(0);
  const model = smallCnn().train();
  const opt = new msam.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = msam.randn([batch, 1, 28, 28]);
  const y = msam.randint(0, 10, [batch]);
  const share = msam.dist.rankShare(batch, m, size, rank);
  const input = x.narrow(0, share.start, share.end - share.start).contiguous();
  const target = y.narrow(0, share.start, share.end - share.start).contiguous();
  const sam = new msam.MSAM(model, opt, { m: share.m, rho: 0.2, ...(group !== null ? { processGroup: group } : {}) });
  const times: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    if (group !== null) await group.barrier(); // start together: a step's time is the slowest rank's
    const t0 = performance.now();
    await sam.step({ input, target });
    if (s >= warmup) times.push(performance.now() - t0);
  }
  let allReduceMs: number | null = null;
  const grads = model.parameters().map((p) => p.grad as msam.Tensor);
  if (group !== null) {
    const reduceTimes: number[] = [];
    for (let k = 0; k < 25; k++) {
      await group.barrier();
      const t0 = performance.now();
      await group.allReduce(grads);
      reduceTimes.push(performance.now() - t0);
    }
    allReduceMs = median(reduceTimes.slice(5));
  }
  const gradientBytes = grads.reduce((s, g) => s + 4 * g.numel, 0);
  if (rank === 0 && out !== '') {
    const r: Measured = { processes: size, threadsPerProcess: threads, batch, m, msPerStep: median(times), steps, allReduceMs, gradientBytes };
    fs.writeFileSync(out, JSON.stringify(r));
  }
  group?.close();
}

async function driver(): Promise<void> {
  const batch = flag('--batch', '128');
  const ms = flag('--ms', '4,8').split(',');
  const steps = flag('--steps', '12');
  const warmup = flag('--warmup', '3');
  const rounds = Number(flag('--rounds', '3'));
  const outFile = flag('--out', path.join(__dirname, '..', '..', 'bench', 'results', 'dist-cpu.json'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-bench-dist-'));
  const configs = [
    { nproc: 1, threads: 1 },
    { nproc: 1, threads: 2 },
    { nproc: 2, threads: 1 },
  ];
  const byKey = new Map<string, Measured[]>();
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const m of ms) {
      for (const c of configs) {
        loads.push(os.loadavg()[0] as number);
        const result = path.join(tmp, `r-${m}-${c.nproc}-${c.threads}.json`);
        const r = await launch({
          command: process.execPath,
          args: [__filename, '--worker', '--batch', batch, '--m', m, '--steps', steps, '--warmup', warmup, '--threads', String(c.threads), '--result', result],
          nproc: c.nproc,
          // One process: no launcher environment at all (a plain single process).
          env: c.nproc === 1 ? { WORLD_SIZE: '1' } : {},
        });
        if (r.exitCode !== 0) throw new Error(`bench: ${c.nproc} process(es) failed with code ${r.exitCode}`);
        const measured = JSON.parse(fs.readFileSync(result, 'utf8')) as Measured;
        const key = `${m}/${c.nproc}/${c.threads}`;
        byKey.set(key, [...(byKey.get(key) ?? []), measured]);
        console.log(`round ${round + 1}: batch ${batch}, m = ${m}: ${c.nproc} process(es) × ${c.threads} thread(s): ${measured.msPerStep.toFixed(1)} ms/step`);
      }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const results = [...byKey.values()].map((runs) => ({ ...(runs[0] as Measured), msPerStep: median(runs.map((r) => r.msPerStep)), rounds: runs.map((r) => r.msPerStep) }));
  for (const r of results) {
    const reduce = r.allReduceMs === null ? '' : ` (all-reduce of the ${(r.gradientBytes / 1024).toFixed(0)} KiB gradient alone: ${r.allReduceMs.toFixed(2)} ms)`;
    console.log(`median: m = ${r.m}, ${r.processes} × ${r.threadsPerProcess}: ${r.msPerStep.toFixed(1)} ms/step${reduce}`);
  }
  const doc = {
    machine: `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`,
    libtorch: msam.version().libtorch,
    date: new Date().toISOString(),
    model: 'smallCnn 32/64 channels, 28×28',
    loadAverage: { min: Math.min(...loads), max: Math.max(...loads) },
    results,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`wrote ${outFile}`);
}

(process.argv.includes('--worker') ? worker() : driver()).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
