// The event loop stays free while the Hessian analyses run on their worker thread: a 5 ms
// setInterval keeps ticking through a multi-second power iteration, and its progress events arrive
// while it runs, not all at the end. Timing-sensitive: runs with the other timing tests, one file
// at a time (vitest.timing.config.mts).
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';

interface Ticks {
  ms: number;
  maxGap: number;
  ticks: number;
  elu: number;
}

async function ticking(work: () => Promise<unknown>): Promise<Ticks> {
  let maxGap = 0;
  let ticks = 0;
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  let last = t0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const end = performance.now();
  return { ms: end - t0, maxGap: Math.max(maxGap, end - last), ticks, elu: performance.eventLoopUtilization(elu0).utilization };
}

describe('the event loop during a Hessian analysis', () => {
  it('keeps ticking (max gap < 50 ms) through a multi-second power iteration, with progress as it goes', async () => {
    msam.manualSeed(3);
    const model = msam.models.smallCnn({ width: 16 });
    const data = { input: msam.randn([256, 1, 28, 28]), target: msam.randint(0, 10, [256]) };
    let iterations = 4;
    const runs: (Ticks & { progressSpan: number })[] = [];
    for (let attempt = 0; attempt < 6 && runs.length < 3; attempt++) {
      const seen: number[] = [];
      const r = await ticking(() => msam.analysis.hessianEigenvalues(model, data, { maxIterations: iterations, tolerance: 0, onProgress: () => seen.push(performance.now()) }));
      if (r.ms < 1500) {
        iterations *= 2;
        continue;
      }
      expect(seen).toHaveLength(iterations);
      runs.push({ ...r, progressSpan: (seen[seen.length - 1]! - seen[0]!) / r.ms });
      if (r.maxGap < 50) break;
    }
    console.log(runs.map((r) => `power iteration: ${r.ms.toFixed(0)} ms, ${r.ticks} ticks, max gap ${r.maxGap.toFixed(1)} ms, loop utilization ${r.elu.toFixed(3)}, progress over ${(100 * r.progressSpan).toFixed(0)}% of it`).join('\n'));
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) {
      expect(r.ticks).toBeGreaterThan(r.ms / 50);
      expect(r.elu).toBeLessThan(0.25);
      expect(r.progressSpan).toBeGreaterThan(0.5); // events came during the run, not in a burst at the end
    }
    expect(Math.min(...runs.map((r) => r.maxGap))).toBeLessThan(50);
  });
});
