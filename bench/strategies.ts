// The mSAM step's strategies side by side in one run: ms per gradient with 'loop' and 'vectorized'
// (and 'graph' on CUDA), same model, batch and m; rounds alternate the strategies; medians.
//   node dist/bench/strategies.js [--models cnn,vit,resnet18] [--batch 128] [--ms 4,16,32]
//        [--strategies loop,vectorized] [--steps 3] [--rounds 3] [--device cpu] [--out FILE]
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as msam from '../lib';
import { median } from './python';
import { flag, list } from './args';

const device = flag('--device', 'cpu') as msam.Device;
const batch = Number(flag('--batch', '128'));
const steps = Number(flag('--steps', '3'));
const rounds = Number(flag('--rounds', '3'));
const strategies = list('--strategies', 'loop,vectorized') as ('loop' | 'vectorized' | 'graph')[];
const outFile = flag('--out', path.join(__dirname, '..', '..', 'bench', 'results', `strategies-${device.replace(':', '')}.json`));

const MODELS: Record<string, [() => msam.nn.Module, number[]]> = {
  cnn: [() => msam.models.smallCnn({ numClasses: 10, inChannels: 1, width: 32, imageSize: 28 }), [1, 28, 28]],
  vit: [() => msam.models.vit({ imageSize: 32, patchSize: 4, hiddenDim: 128, numLayers: 2, numHeads: 4, mlpDim: 256, numClasses: 10 }), [3, 32, 32]],
  resnet18: [() => msam.models.resnet18({ numClasses: 10, stem: 'cifar' }), [3, 32, 32]],
};

async function timeOne(model: msam.nn.Module, input: msam.Tensor, target: msam.Tensor, m: number, strategy: string): Promise<number> {
  const sam = new msam.MSAM(model, { step() {} }, { m, rho: 0.2, strategy: strategy as 'loop' });
  await sam.gradient({ input, target }); // warm-up
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = process.hrtime.bigint();
    await sam.gradient({ input, target });
    if (device !== 'cpu') msam.cuda.synchronize();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

async function main(): Promise<void> {
  const rows: { model: string; batch: number; m: number; ms: Record<string, number | string> }[] = [];
  for (const name of list('--models', 'cnn,vit')) {
    const [make, shape] = MODELS[name] ?? (() => { throw new Error(`unknown model '${name}' (${Object.keys(MODELS).join(', ')})`); })();
    msam.manualSeed(0);
    const model = make().to(device).train();
    const input = msam.randn([batch, ...shape], { device });
    const target = msam.randint(0, 10, [batch], { device });
    for (const m of list('--ms', '4,16,32').map(Number)) {
      const samples: Record<string, number[]> = {};
      const errors: Record<string, string> = {};
      for (let r = 0; r < rounds; r++) {
        for (const s of strategies) {
          if (errors[s]) continue;
          try {
            (samples[s] ??= []).push(await timeOne(model, input, target, m, s));
          } catch (e) {
            errors[s] = (e as Error).message;
          }
        }
      }
      const ms: Record<string, number | string> = {};
      for (const s of strategies) ms[s] = errors[s] ?? median(samples[s] ?? []);
      rows.push({ model: name, batch, m, ms });
      const cells = strategies.map((s) => (typeof ms[s] === 'number' ? (ms[s] as number).toFixed(0) : 'error'));
      const ratio = typeof ms.vectorized === 'number' && typeof ms.loop === 'number' ? ` (vectorized/loop ${(ms.vectorized / ms.loop).toFixed(2)})` : '';
      console.log(`${name} batch ${batch} m ${m}: ${strategies.map((s, i) => `${s} ${cells[i]} ms`).join(', ')}${ratio}`);
    }
  }
  const out = { device, threads: msam.getNumThreads(), libtorch: msam.version().libtorch, steps, rounds, rows, date: new Date().toISOString() };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(`${outFile}.tmp`, JSON.stringify(out, null, 2));
  fs.renameSync(`${outFile}.tmp`, outFile);
  console.log(`wrote ${outFile}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
