// Off-thread ops (ops.callAsync): results, rejections, input lifetimes and a free event loop;
// version(); and CUDA, which runs only where a CUDA device is available.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import * as msam from '../lib';
import { describeCuda } from './helpers/cuda';
import type { Tensor } from '../lib';

const gc = (globalThis as { gc?: () => void }).gc;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const live = (): number => msam.memory().tensors;

function expectClose(actual: Tensor, expected: Tensor, tol = 1e-9): void {
  expect(actual.shape).toEqual(expected.shape);
  expect(actual.dtype).toBe(expected.dtype);
  const a = actual.data();
  const e = expected.data();
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(Number(a[i]) - Number(e[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

/** Catches a rejection (or, wrongly, a synchronous throw) and says which it was. */
async function outcome(start: () => Promise<unknown>): Promise<{ sync: boolean; error: unknown }> {
  let p: Promise<unknown>;
  try {
    p = start();
  } catch (error) {
    return { sync: true, error };
  }
  try {
    await p;
  } catch (error) {
    return { sync: false, error };
  }
  return { sync: false, error: undefined };
}

describe('ops.callAsync', () => {
  it('resolves with the same values as the synchronous op', async () => {
    await msam.tidy(async () => {
      msam.manualSeed(1);
      const a = msam.randn([64, 32], { dtype: 'float64' });
      const b = msam.randn([32, 16], { dtype: 'float64' });

      const mm = (await msam.ops.callAsync('aten::matmul', '', a, b)) as Tensor;
      expect(mm).toBeInstanceOf(msam.Tensor);
      expectClose(mm, a.matmul(b), 0);

      const sum = (await msam.ops.callAsync('aten::add', 'Tensor', a, a, { alpha: 2 })) as Tensor;
      expectClose(sum, a.add(a, 2), 0);

      const soft = (await msam.ops.callAsync('aten::softmax', 'int', a, 1)) as Tensor;
      expectClose(soft, a.softmax(1), 0);

      // Several results come back as an array, in schema order.
      const [values, indices] = (await msam.ops.callAsync('aten::max', 'dim', a, 1, false)) as Tensor[];
      const sync = a.maxWithIndices(1);
      expectClose(values as Tensor, sync.values, 0);
      expect((indices as Tensor).toArray()).toEqual(sync.indices.toArray());

      // A non-tensor result.
      expect(await msam.ops.callAsync('aten::equal', '', a, a.clone())).toBe(true);
      expect(await msam.ops.callAsync('aten::equal', '', a, a.add(1))).toBe(false);
      return undefined;
    });
  });

  it('resolves an in-place op to the very Tensor it was given', async () => {
    const x = msam.ones([3]);
    const y = msam.full([3], 2);
    const r = await msam.ops.callAsync('aten::add_', 'Tensor', x, y);
    expect(r).toBe(x);
    expect(x.toArray()).toEqual([3, 3, 3]);
    x.dispose();
    y.dispose();
  });

  it('rejects with an Error naming the op on a shape mismatch', async () => {
    const before = live();
    const a = msam.ones([2, 3]);
    const b = msam.ones([4, 5]);
    const { sync, error } = await outcome(() => msam.ops.callAsync('aten::matmul', '', a, b));
    expect(sync).toBe(false);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).constructor).toBe(Error);
    expect((error as Error).message).toMatch(/aten::matmul: (mm: )?mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/);
    expect((error as Error).message).not.toMatch(/Exception raised from/);

    const four = msam.ones([4]);
    await expect(msam.ops.callAsync('aten::add', 'Tensor', a, four)).rejects.toThrow(
      /aten::add\.Tensor: The size of tensor a \(3\) must match the size of tensor b \(4\)/,
    );
    // The error left everything usable.
    const at = a.transpose(0, 1);
    const c = (await msam.ops.callAsync('aten::matmul', '', a, at)) as Tensor;
    expect(c.toArray()).toEqual([[3, 3], [3, 3]]);
    for (const t of [a, b, four, at, c]) t.dispose();
    expect(live()).toBe(before);
  });

  it('rejects (never throws synchronously) on bad arguments', async () => {
    const a = msam.ones([2]);
    const gone = msam.ones([2]);
    gone.dispose();
    const cases: [() => Promise<unknown>, ErrorConstructor, RegExp][] = [
      [() => msam.ops.callAsync('aten::neg', '', 'x'), TypeError, /aten::neg: argument 'self' must be a Tensor, got a string/],
      [() => msam.ops.callAsync('aten::neg', '', gone), Error, /aten::neg: argument 'self' is a disposed tensor/],
      [() => msam.ops.callAsync('aten::add', 'Tensor', a), TypeError, /aten::add\.Tensor: missing argument 'other'/],
      [() => msam.ops.callAsync('aten::neg', '', a, { bogus: 1 }), TypeError, /aten::neg: unknown keyword argument 'bogus'/],
      [() => msam.ops.callAsync('aten::frobnicate', ''), Error, /ops: unknown operator 'aten::frobnicate'/],
      [() => msam.ops.callAsync('neg', ''), TypeError, /operator name must look like 'aten::add'/],
      // An error raised by the op itself on the worker thread.
      [() => msam.ops.callAsync('aten::narrow', '', a, 0, 1, 5), Error, /aten::narrow: start \(1\) \+ length \(5\) exceeds dimension size \(2\)/],
    ];
    try {
      for (const [start, type, message] of cases) {
        const { sync, error } = await outcome(start);
        expect(sync, String(message)).toBe(false);
        expect((error as Error).constructor, String(message)).toBe(type);
        expect((error as Error).message).toMatch(message);
      }
    } finally {
      a.dispose();
    }
  });

  it('rejects with a RangeError for an index out of range, as the synchronous call throws', async () => {
    const t = msam.ones([3]);
    expect(() => msam.ops.call('aten::select', 'int', t, 0, 9)).toThrow(RangeError);
    await expect(msam.ops.callAsync('aten::select', 'int', t, 0, 9)).rejects.toThrow(RangeError);
    await expect(msam.ops.callAsync('aten::select', 'int', t, 0, 9)).rejects.toThrow(/aten::select\.int: .*index 9 out of range/);
    t.dispose();
  });

  it('keeps its inputs alive when they are disposed right after the call', async () => {
    const before = live();
    msam.manualSeed(2);
    const a = msam.randn([300, 300], { dtype: 'float64' });
    const b = msam.randn([300, 300], { dtype: 'float64' });
    const expected = a.matmul(b);
    const pending = msam.ops.callAsync('aten::matmul', '', a, b);
    a.dispose();
    b.dispose();
    expect(a.isDisposed && b.isDisposed).toBe(true);
    gc?.();
    await turn();
    const r = (await pending) as Tensor;
    expectClose(r, expected, 0);
    r.dispose();
    expected.dispose();
    expect(live()).toBe(before);
  });

  it('many concurrent calls all resolve correctly', async () => {
    const before = live();
    const xs = Array.from({ length: 16 }, (_, i) => msam.full([8, 8], i, { dtype: 'float64' }));
    const rs = (await Promise.all(xs.map((x) => msam.ops.callAsync('aten::mm', '', x, x)))) as Tensor[];
    rs.forEach((r, i) => {
      expect(r.data().every((v) => v === 8 * i * i)).toBe(true);
    });
    for (const t of [...xs, ...rs]) t.dispose();
    expect(live()).toBe(before);
  });

});

describe('version()', () => {
  it('reports msam, the libtorch the binary was built against and the CUDA runtime (null for a CPU-only libtorch)', () => {
    const v = msam.version();
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(Object.keys(v).sort()).toEqual(['binary', 'cuda', 'libtorch', 'msam']);
    expect(v.msam).toBe(pkg.version);
    // What the build's libtorch discovery recorded (CMake's package version), or the prebuild's manifest.
    const recorded = v.binary.kind === 'source' ? path.join(path.dirname(v.binary.path), '..', 'libtorch.json') : v.binary.path.replace(/\.node$/, '.json');
    type Recorded = { version: string; cuda: boolean; cudaVersion: string | null };
    const json = JSON.parse(fs.readFileSync(recorded, 'utf8')) as Partial<Recorded> & { libtorch?: Recorded };
    const built = (json.libtorch ?? json) as Recorded;
    expect(v.libtorch.split('.').slice(0, 2)).toEqual(built.version.split('.').slice(0, 2));
    // A CUDA binary reports the CUDA runtime it loaded (the one libtorch was built for), GPU or not.
    expect(v.cuda).toBe(built.cuda ? built.cudaVersion : null);
    if (v.cuda === null) {
      expect(() => msam.ones([1], { device: 'cuda' })).toThrow(/CUDA/);
      expect(msam.cuda.isAvailable()).toBe(false);
      expect(msam.cuda.deviceCount()).toBe(0);
    }
  });
});

describeCuda('CUDA', () => {
  it('has a device', () => {
    expect(msam.cuda.deviceCount()).toBeGreaterThanOrEqual(1);
    expect(msam.version().cuda).toMatch(/^\d+\.\d+$/);
  });

  it('creates tensors on cuda and moves them back and forth with their values', () => {
    const before = msam.memory();
    const values = [[1, 2, 3], [4, 5, 6]];
    const g = msam.tensor(values, { device: 'cuda' });
    expect(g.device).toBe('cuda:0');
    expect(g.toArray()).toEqual(values);

    const c = g.cpu();
    expect(c.device).toBe('cpu');
    expect(c.toArray()).toEqual(values);
    const back = c.to('cuda:0');
    expect(back.device).toBe('cuda:0');
    const z = msam.zeros([2, 3], { device: 'cuda', dtype: 'float64' });
    expect(z.device).toBe('cuda:0');
    expect(z.dtype).toBe('float64');

    // Ops run on the device and agree with the CPU.
    const prod = g.float().matmul(back.float().transpose(0, 1));
    expect(prod.device).toBe('cuda:0');
    expect(prod.cpu().toArray()).toEqual([[14, 32], [32, 77]]);
    msam.cuda.synchronize();

    // Mixing devices is an error that names the op.
    expect(() => g.add(c)).toThrow(/aten::add\.Tensor: .*(cuda|device)/i);

    for (const t of [g, c, back, z, prod]) t.dispose();
    expect(msam.memory().tensors).toBeLessThanOrEqual(before.tensors + 2); // prod.cpu(), g.float() temporaries
  });

  it('memory() reports cuda bytes per device and the caching allocator', () => {
    const before = msam.memory();
    expect(Array.isArray(before.cuda)).toBe(true);
    const t = msam.zeros([1024, 256], { device: 'cuda' }); // 1 MiB
    const m = msam.memory();
    expect(m.byDevice['cuda:0'] ?? 0).toBe((before.byDevice['cuda:0'] ?? 0) + 1024 * 1024);
    expect(m.bytes).toBe(before.bytes + 1024 * 1024);
    const stats = m.cuda?.find((d) => d.device === 0);
    expect(stats).toBeDefined();
    expect(stats!.allocated).toBeGreaterThanOrEqual(1024 * 1024);
    expect(stats!.reserved).toBeGreaterThanOrEqual(stats!.allocated);
    expect(stats!.peakAllocated).toBeGreaterThanOrEqual(stats!.allocated);
    t.dispose();
    expect(msam.memory().byDevice['cuda:0'] ?? 0).toBe(before.byDevice['cuda:0'] ?? 0);
  });

  it('callAsync runs on cuda tensors', async () => {
    const a = msam.ones([64, 64], { device: 'cuda' });
    const r = (await msam.ops.callAsync('aten::mm', '', a, a)) as Tensor;
    expect(r.device).toBe('cuda:0');
    const s = r.sum();
    expect(s.item()).toBe(64 * 64 * 64);
    for (const t of [a, r, s]) t.dispose();
  });
});
