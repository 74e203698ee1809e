// What the trainer does differently with several processes (README, "Multi-process training"):
// each rank takes its contiguous run of the global batch's shards (lib/distributed/split.ts), draws its
// dropout masks from a generator seeded by (seed, step, rank) so that a resume is exact on every
// rank, agrees with the others on stopping, and averages BatchNorm's running statistics before
// evaluating and checkpointing. Rank 0 alone writes files and reports.
import type { Batch } from '../msam';
import type { ProcessGroup } from '../distributed/group';
import { rankShare } from '../distributed/split';
import type { Module } from '../nn/module';
import { Tensor } from '../tensor/core';
import type { Device } from '../types';
import { manualSeed, tensor } from '../tensor/creation';

export class Ranks {
  readonly world: number;
  readonly rank: number;

  /** Where the model is (NCCL's small collectives go there). */
  device: Device = 'cpu';

  constructor(readonly group: ProcessGroup | null) {
    this.world = group?.worldSize ?? 1;
    this.rank = group?.rank ?? 0;
  }

  get distributed(): boolean {
    return this.group !== null && this.world > 1;
  }

  /** Rank 0 writes the files and the reports. */
  get lead(): boolean {
    return this.rank === 0;
  }

  /** This rank's share of a global batch of B examples in m shards: views of its examples and its m. */
  share(batch: Batch, m: number): { batch: Batch; m: number; views: Tensor[] } {
    const B = batch.target.shape[0] as number;
    if (!this.distributed) return { batch, m, views: [] };
    const s = rankShare(B, m, this.world, this.rank);
    const views: Tensor[] = [];
    const cut = (t: Tensor) => {
      const v = t.narrow(0, s.start, s.end - s.start);
      views.push(v);
      return v;
    };
    const input = Array.isArray(batch.input) ? batch.input.map(cut) : cut(batch.input);
    return { batch: { input, target: cut(batch.target) }, m: s.m, views };
  }

  /** Seeds this rank's generators for step `step` (dropout): a pure function of (seed, step, rank). */
  seedStep(seed: number, step: number): void {
    if (!this.distributed) return;
    // A 53-bit mix of the three (splitmix-like), so that nearby steps and ranks get unrelated streams.
    let h = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(step) * 0xbf58476d1ce4e5b9n + BigInt(this.rank + 1) * 0x94d049bb133111ebn);
    h = BigInt.asUintN(64, (h ^ (h >> 31n)) * 0xd6e8feb86659fd93n);
    manualSeed(Number(h >> 11n));
  }

  /** True when any rank asked to stop (SIGINT, an abort): all ranks then stop after the same step. */
  async agreeStop(stop: boolean): Promise<boolean> {
    if (!this.distributed) return stop;
    const group = this.group as ProcessGroup;
    // NCCL reduces only CUDA tensors.
    const flag = tensor([stop ? 1 : 0], { dtype: 'float32', device: group.backend === 'nccl' ? this.device : 'cpu' });
    try {
      await group.allReduce(flag);
      return flag.item() > 0;
    } finally {
      flag.dispose();
    }
  }

  /** The same weights on every rank to start with (rank 0's): a guard against any difference in initialization or loading. */
  async syncParameters(model: Module): Promise<void> {
    if (!this.distributed) return;
    await (this.group as ProcessGroup).broadcast([...model.parameters(), ...model.buffers()], 0);
  }

  /**
   * Averages the floating-point buffers (BatchNorm's running statistics, which each rank updated
   * with its own shards) over the ranks; integer buffers (batch counts) take rank 0's.
   */
  async averageBuffers(model: Module): Promise<void> {
    if (!this.distributed) return;
    const group = this.group as ProcessGroup;
    const buffers = model.buffers();
    const floats = buffers.filter((b) => b.dtype.startsWith('float') || b.dtype === 'bfloat16');
    const others = buffers.filter((b) => !floats.includes(b));
    if (floats.length > 0) await group.allReduceMean(floats);
    if (others.length > 0) await group.broadcast(others, 0);
  }

  /** Waits for every rank (rank 0 evaluating and writing while the others wait). */
  async barrier(): Promise<void> {
    if (this.distributed) await (this.group as ProcessGroup).barrier();
  }
}
