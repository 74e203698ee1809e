// Tensor lifetimes: dispose(), Symbol.dispose, tidy()/keep() (sync, nested, async, on throw), the
// live-tensor report, a leak check over 200,000 tensors, and the GC backstop for dropped tensors.
import { describe, it, expect } from 'vitest';
import * as msam from '../lib';
import type { Tensor } from '../lib';

/** global.gc when node runs with --expose-gc (vitest.config.ts passes it to the test workers). */
const gc = (globalThis as { gc?: () => void }).gc;

/** One turn of the event loop: Node-API finalizers and FinalizationRegistry callbacks run here. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Collects garbage (when gc is exposed) and lets the finalizers that follow it run. */
async function collect(rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc?.();
    await turn();
    await turn();
  }
}

const live = (): number => msam.memory().tensors;

describe('dispose', () => {
  it('frees the tensor now, and using it afterwards throws', () => {
    const before = msam.memory();
    const t = msam.zeros([4, 4]); // float32: 64 bytes
    expect(t.isDisposed).toBe(false);
    expect(msam.memory().tensors).toBe(before.tensors + 1);
    expect(msam.memory().bytes).toBe(before.bytes + 64);

    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(msam.memory().tensors).toBe(before.tensors);
    expect(msam.memory().bytes).toBe(before.bytes);
    expect(() => t.add(1)).toThrow(/disposed tensor/);
    expect(() => t.toArray()).toThrow(/disposed tensor/);
    expect(String(t)).toBe('tensor(<disposed>)');
  });

  it('Symbol.dispose disposes (what `using` calls)', () => {
    const before = live();
    const t = msam.ones([3]);
    expect(typeof t[Symbol.dispose]).toBe('function');
    t[Symbol.dispose]();
    expect(t.isDisposed).toBe(true);
    expect(live()).toBe(before);
  });

  it('a second dispose is harmless and counts nothing twice', () => {
    const a = msam.ones([3]);
    const b = msam.ones([5]);
    const before = msam.memory();
    a.dispose();
    const once = msam.memory();
    expect(() => a.dispose()).not.toThrow();
    expect(() => a[Symbol.dispose]()).not.toThrow();
    expect(msam.memory()).toEqual(once);
    expect(once.tensors).toBe(before.tensors - 1);
    expect(b.isDisposed).toBe(false);
    expect(b.toArray()).toEqual([1, 1, 1, 1, 1]);
    b.dispose();
  });

  it('disposing a view leaves its base intact, and the other way round', () => {
    const base = msam.arange(6);
    const v = base.view([2, 3]);
    v.dispose();
    expect(base.toArray()).toEqual([0, 1, 2, 3, 4, 5]);
    const w = base.index('1:3');
    base.dispose();
    expect(w.toArray()).toEqual([1, 2]);
    w.dispose();
  });
});

describe('memory()', () => {
  it('counts live tensors, their distinct storages and those storages’ bytes', () => {
    const m0 = msam.memory();
    const a = msam.zeros([10]); // float32: 40 bytes
    const b = msam.zeros([3], { dtype: 'float64' }); // 24 bytes
    const m1 = msam.memory();
    expect(m1.tensors).toBe(m0.tensors + 2);
    expect(m1.storages).toBe(m0.storages + 2);
    expect(m1.bytes).toBe(m0.bytes + 64);
    expect(m1.byDevice.cpu ?? 0).toBe((m0.byDevice.cpu ?? 0) + 64);
    expect(m1.cuda === undefined).toBe(!msam.cuda.isAvailable());
    a.dispose();
    b.dispose();
    expect(msam.memory()).toMatchObject({ tensors: m0.tensors, storages: m0.storages, bytes: m0.bytes });
  });

  it('a view adds a tensor but no storage and no bytes', () => {
    const a = msam.zeros([10]);
    const m1 = msam.memory();
    const views = [a.view([2, 5]), a.index('1:3'), a.reshape([5, 2]), a.detach(), a.select(0, 0), a.to('float32')];
    const m2 = msam.memory();
    expect(m2.tensors).toBe(m1.tensors + views.length);
    expect(m2.storages).toBe(m1.storages);
    expect(m2.bytes).toBe(m1.bytes);

    // The storage lives while any view of it does.
    a.dispose();
    expect(msam.memory().bytes).toBe(m1.bytes);
    expect(msam.memory().storages).toBe(m1.storages);
    for (const v of views) v.dispose();
    expect(msam.memory().storages).toBe(m1.storages - 1);
    expect(msam.memory().bytes).toBe(m1.bytes - 40);
    expect(msam.memory().tensors).toBe(m1.tensors - 1);
  });

  it('a copy adds a storage and its bytes', () => {
    const a = msam.zeros([10]);
    const m1 = msam.memory();
    const c = a.clone();
    expect(msam.memory()).toMatchObject({ tensors: m1.tensors + 1, storages: m1.storages + 1, bytes: m1.bytes + 40 });
    a.dispose();
    c.dispose();
  });
});

describe('tidy', () => {
  it('disposes intermediates and keeps the returned tensor', () => {
    const before = live();
    let intermediate: Tensor | undefined;
    const out = msam.tidy(() => {
      intermediate = msam.ones([3]).mul(2);
      return intermediate.add(1);
    });
    expect(intermediate?.isDisposed).toBe(true);
    expect(out.isDisposed).toBe(false);
    expect(out.toArray()).toEqual([3, 3, 3]);
    expect(live()).toBe(before + 1);
    out.dispose();
    expect(live()).toBe(before);
  });

  it('keeps tensors returned inside arrays and plain objects', () => {
    const before = live();
    const inner: Tensor[] = [];
    const r = msam.tidy(() => {
      const x = msam.arange(4);
      inner.push(x);
      const y = x.mul(2);
      inner.push(y);
      return { sum: y.sum(), parts: [y.add(1), { deep: y.sub(1) }], label: 'r', n: 1 };
    });
    expect(inner.every((t) => t.isDisposed)).toBe(true);
    expect(r.sum.item()).toBe(12);
    expect((r.parts[0] as Tensor).toArray()).toEqual([1, 3, 5, 7]);
    expect((r.parts[1] as { deep: Tensor }).deep.toArray()).toEqual([-1, 1, 3, 5]);
    expect(live()).toBe(before + 3);
    r.sum.dispose();
    (r.parts[0] as Tensor).dispose();
    (r.parts[1] as { deep: Tensor }).deep.dispose();
    expect(live()).toBe(before);
  });

  it('leaves tensors made outside it alone, even when used inside', () => {
    const outside = msam.ones([2]);
    msam.tidy(() => {
      outside.add(1);
      return undefined;
    });
    expect(outside.isDisposed).toBe(false);
    outside.dispose();
  });

  it('nests: an inner result belongs to the outer scope', () => {
    const before = live();
    let innerTemp: Tensor | undefined;
    let innerResult: Tensor | undefined;
    const outer = msam.tidy(() => {
      innerResult = msam.tidy(() => {
        innerTemp = msam.ones([2]);
        return innerTemp.mul(3);
      });
      expect(innerTemp?.isDisposed).toBe(true);
      expect(innerResult.isDisposed).toBe(false);
      return innerResult.add(1);
    });
    // Not returned by the outer scope: disposed at its end.
    expect(innerResult?.isDisposed).toBe(true);
    expect(outer.toArray()).toEqual([4, 4]);
    expect(live()).toBe(before + 1);
    outer.dispose();
  });

  it('keep() exempts a tensor from every enclosing tidy', () => {
    const before = live();
    let kept: Tensor | undefined;
    msam.tidy(() => {
      msam.tidy(() => {
        kept = msam.keep(msam.full([2], 7));
        msam.ones([2]);
        return undefined;
      });
      return undefined;
    });
    expect(kept?.isDisposed).toBe(false);
    expect(kept?.toArray()).toEqual([7, 7]);
    expect(live()).toBe(before + 1);
    kept?.dispose();
    expect(live()).toBe(before);
  });

  it('disposes everything when fn throws, and rethrows', () => {
    const before = live();
    const made: Tensor[] = [];
    expect(() =>
      msam.tidy(() => {
        made.push(msam.ones([2]), msam.zeros([3]));
        made.push(made[0]!.add(1));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(live()).toBe(before);

    // An op failing inside: the error passes through and the inputs are freed.
    expect(() => msam.tidy(() => msam.ones([2]).matmul(msam.ones([3])))).toThrow(/aten::matmul/);
    expect(live()).toBe(before);
  });

  it('async: tensors made before and after an await are disposed at the end; the result survives', async () => {
    const before = live();
    const made: Tensor[] = [];
    const pending = msam.tidy(async () => {
      const x = msam.ones([3]);
      made.push(x);
      await sleep(5);
      const y = msam.full([3], 2); // after the await: still this scope's
      made.push(y);
      await turn();
      made.push(x.add(y));
      return { z: x.mul(y), list: [y.sub(x)] };
    });
    expect(pending).toBeInstanceOf(Promise);
    // The sync part has returned; nothing is disposed yet.
    expect(made[0]?.isDisposed).toBe(false);

    const r = await pending;
    expect(made).toHaveLength(3);
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(r.z.toArray()).toEqual([2, 2, 2]);
    expect(r.list[0]!.toArray()).toEqual([1, 1, 1]);
    expect(live()).toBe(before + 2);
    r.z.dispose();
    r.list[0]!.dispose();
    expect(live()).toBe(before);
  });

  it('async: disposes everything when the function rejects', async () => {
    const before = live();
    const made: Tensor[] = [];
    await expect(
      msam.tidy(async () => {
        made.push(msam.ones([2]));
        await turn();
        made.push(msam.ones([2]));
        throw new Error('async boom');
      }),
    ).rejects.toThrow('async boom');
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(live()).toBe(before);
  });

  it('async: callAsync results made inside belong to the scope', async () => {
    const before = live();
    let temp: Tensor | undefined;
    const r = await msam.tidy(async () => {
      const a = msam.ones([2, 2]);
      temp = (await msam.ops.callAsync('aten::matmul', '', a, a)) as Tensor;
      return temp.sum();
    });
    expect(temp?.isDisposed).toBe(true);
    expect(r.item()).toBe(8);
    r.dispose();
    expect(live()).toBe(before);
  });

  it('async: two concurrent scopes keep their own tensors apart', async () => {
    const before = live();
    const madeA: Tensor[] = [];
    const madeB: Tensor[] = [];
    const [ra, rb] = await Promise.all([
      msam.tidy(async () => {
        for (let i = 0; i < 3; i++) {
          madeA.push(msam.full([1], i));
          await sleep(1);
        }
        return msam.full([1], 10);
      }),
      msam.tidy(async () => {
        for (let i = 0; i < 3; i++) {
          madeB.push(msam.full([1], i));
          await turn();
        }
        return msam.full([1], 20);
      }),
    ]);
    expect([...madeA, ...madeB].every((t) => t.isDisposed)).toBe(true);
    expect(ra.item()).toBe(10);
    expect(rb.item()).toBe(20);
    ra.dispose();
    rb.dispose();
    expect(live()).toBe(before);
  });
});

describe('no leaks', () => {
  it('200,000 small tensors (dispose and tidy) leave the tensor count and RSS where they were', async () => {
    const N = 100_000;
    // Warm up (op handles, allocator pools, JIT) before taking the baseline.
    for (let i = 0; i < 10_000; i++) msam.tidy(() => void msam.ones([4]).add(1));
    await collect();
    const tensors0 = live();
    const rss0 = process.memoryUsage().rss;

    // Disposed handles are small but their native boxes go with the JS objects, whose Node-API
    // finalizers run on the event loop: give it a turn every 10,000.
    for (let i = 0; i < N; i++) {
      const t = msam.ones([4]);
      t.dispose();
      if (i % 10_000 === 9_999) await collect(1);
    }
    expect(live()).toBe(tensors0);

    for (let i = 0; i < N / 100; i++) {
      msam.tidy(() => {
        let x = msam.ones([4]);
        for (let j = 0; j < 99; j++) x = x.add(1); // 100 tensors per scope
        return undefined;
      });
      if (i % 100 === 99) await collect(1);
    }
    expect(live()).toBe(tensors0);

    await collect();
    const grownMB = (process.memoryUsage().rss - rss0) / 2 ** 20;
    expect(grownMB).toBeLessThan(50);
  });

  it.skipIf(gc === undefined)('GC backstop: tensors dropped without dispose() are released once collected', async () => {
    // (Needs --expose-gc: vitest.config.ts passes it to the test workers.)
    await collect();
    const before = msam.memory();
    (() => {
      for (let i = 0; i < 1000; i++) msam.ones([256]); // 1 KiB each, never disposed, never referenced
    })();
    expect(live()).toBe(before.tensors + 1000);
    expect(msam.memory().bytes).toBe(before.bytes + 1000 * 1024);

    for (let i = 0; i < 20 && live() > before.tensors; i++) await collect(1);
    expect(live()).toBe(before.tensors);
    expect(msam.memory().bytes).toBe(before.bytes);
  });

  it.skipIf(gc === undefined)('GC backstop leaves referenced tensors alone', async () => {
    const t = msam.arange(5);
    await collect();
    expect(t.isDisposed).toBe(false);
    expect(t.toArray()).toEqual([0, 1, 2, 3, 4]);
    t.dispose();
  });
});
