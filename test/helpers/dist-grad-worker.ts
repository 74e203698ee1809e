// One rank of the data-parallel gradient test (test/dist.test.ts): joins the group from
// torchrun's environment, takes its share of a float64 batch of 11 in 5 shards, and writes the
// reduced mSAM gradient (native and closure forms), the statistics and the weights after one
// SGD step to the JSON file given as its argument (RANK in it replaced by the rank).
import * as fs from 'node:fs';
import * as msam from '../../lib';
import { gradBatch, gradModel, GRAD_CASE } from './dist-grad-case';

async function main(): Promise<void> {
  const group = await msam.dist.initProcessGroup({ timeout: 60 });
  const out = (process.argv[2] as string).replace('RANK', String(group.rank));
  const model = gradModel();
  const { x, y } = gradBatch();
  const share = msam.dist.rankShare(GRAD_CASE.B, GRAD_CASE.m, group.worldSize, group.rank);
  const input = x.narrow(0, share.start, share.end - share.start);
  const target = y.narrow(0, share.start, share.end - share.start);
  const params = model.parameters();
  const opt = new msam.optim.SGD(params, { lr: 0.1, momentum: 0.9 });
  const sam = new msam.MSAM(model, opt, { m: share.m, rho: GRAD_CASE.rho, processGroup: group });
  const grads = () => params.map((p) => Array.from(p.grad!.data() as Float64Array));
  const stats = await sam.gradient({ input, target });
  const native = grads();
  const closureStats = sam.gradientSync({ input, target }, (m, shard) => msam.crossEntropy(m.forward(shard.input as msam.Tensor), shard.target));
  const closure = grads();
  const stepStats = await sam.step({ input, target });
  const weights = params.map((p) => Array.from(p.detach().data() as Float64Array));
  fs.writeFileSync(out, JSON.stringify({ rank: group.rank, localM: share.m, localB: share.end - share.start, stats, native, closureStats, closure, stepStats, weights }));
  group.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
