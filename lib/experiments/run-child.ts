// One run of an experiment grid in a process of its own (`--jobs N` runs N of these side by side):
// the parent sends the run's configuration layers, this process trains and answers with its epochs
// and its result. SIGINT/SIGTERM/SIGUSR1 reach the trainer's own handlers here (the parent forwards
// them), so a stopped run leaves its checkpoint and reports itself interrupted.
import type { ConfigLayer } from '../train/resolve';
import type { EpochMetrics, TrainResult } from '../train/trainer';
import { trainLayers } from '../train/trainer';

/** parent → child */
export interface ChildRequest {
  layers: ConfigLayer[];
}

/** child → parent */
export type ChildMessage = { kind: 'epoch'; metrics: EpochMetrics } | { kind: 'result'; result: TrainResult } | { kind: 'error'; message: string };

const send = (m: ChildMessage): Promise<void> => new Promise((resolve) => void process.send?.(m, undefined, {}, () => resolve()));

let answered = false;
// The parent gone (killed outright): stop as if preempted, leaving a checkpoint to resume from.
process.once('disconnect', () => {
  if (!answered) process.kill(process.pid, 'SIGTERM');
});

process.once('message', (request: ChildRequest) => {
  void (async () => {
    try {
      const result = await trainLayers(request.layers, { onEpoch: (metrics) => void send({ kind: 'epoch', metrics }) });
      answered = true;
      await send({ kind: 'result', result });
    } catch (e) {
      answered = true;
      await send({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
    } finally {
      answered = true;
      process.disconnect();
    }
  })();
});
