// Event-loop responsiveness: timing-sensitive, so these run after the other tests, one file at a
// time (vitest.timing.config.ts), where no other test competes for the 2 cores.
import { describe, it, expect } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';

function expectClose(actual: Tensor, expected: Tensor, tol: number): void {
  expect(actual.shape).toEqual(expected.shape);
  const a = actual.data() as Float64Array;
  const b = expected.data() as Float64Array;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  expect(max).toBeLessThanOrEqual(tol);
}

describe('ops.callAsync', () => {
  it('leaves the event loop free: a 5 ms timer keeps ticking (max gap < 50 ms) through ~1 s of matmuls', async () => {
    // A size whose product takes long enough (>= 80 ms) that a blocked loop would show.
    let n = 400;
    for (;;) {
      const m = msam.randn([n, n], { dtype: 'float64' });
      const start = performance.now();
      m.mm(m).dispose();
      const ms = performance.now() - start;
      m.dispose();
      if (ms >= 80 || n >= 3200) break;
      n = Math.round(n * 1.5);
    }
    msam.manualSeed(3);
    const a = msam.randn([n, n], { dtype: 'float64' });
    const b = msam.randn([n, n], { dtype: 'float64' });
    // Warm up (the first product pays one-time costs) on the worker too.
    ((await msam.ops.callAsync('aten::mm', '', a, b)) as Tensor).dispose();

    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    const t0 = performance.now();
    let products = 0;
    let last: Tensor | undefined;
    try {
      // A chain: each product feeds the next (scaled down to stay finite).
      let x = a;
      while (performance.now() - t0 < 1000 && products < 500) {
        const y = (await msam.ops.callAsync('aten::mm', '', x, b)) as Tensor;
        const z = (await msam.ops.callAsync('aten::div', 'Scalar', y, Math.sqrt(n))) as Tensor;
        y.dispose();
        if (x !== a) x.dispose();
        x = z;
        products++;
      }
      last = x;
    } finally {
      clearInterval(timer);
    }
    const elapsed = performance.now() - t0;
    ticks.unshift(t0);
    ticks.push(performance.now());
    let maxGap = 0;
    for (let i = 1; i < ticks.length; i++) maxGap = Math.max(maxGap, (ticks[i] as number) - (ticks[i - 1] as number));

    expect(products).toBeGreaterThan(1);
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(maxGap).toBeLessThan(50);
    expect(ticks.length).toBeGreaterThan(elapsed / 25); // it ticked all along, not just in between

    // And the chain computed the right thing: the same products done synchronously.
    const check = msam.tidy(() => {
      let x = a;
      for (let i = 0; i < products; i++) x = x.mm(b).div(Math.sqrt(n));
      return x;
    });
    expectClose(last as Tensor, check, 1e-6);
    for (const t of [a, b, last as Tensor, check]) t.dispose();
  });
});
