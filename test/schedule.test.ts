// Learning-rate schedules: against torch.optim.lr_scheduler (test/fixtures/schedule.json, written
// by test/fixtures/gen_schedule.py with /usr/bin/python3 and committed), against hand-derived
// values, and their argument checks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import type { Schedule } from '../lib/schedule';

interface Case {
  schedule: 'oneCycle' | 'cosine' | 'linear' | 'step';
  options: Record<string, unknown>;
  lrs: number[];
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'schedule.json'), 'utf8')) as { torch: string; cases: Case[] };

const make = (c: Case): Schedule => (msam.schedule[c.schedule] as (o: unknown) => Schedule)(c.options);

const measured: string[] = [];
afterAll(() => {
  if (measured.length > 0) console.log(`schedules vs torch ${fixture.torch} (max relative diff):\n  ${measured.join('\n  ')}`);
});

describe('schedules match torch.optim.lr_scheduler', () => {
  for (const c of fixture.cases) {
    it(`${c.schedule} ${JSON.stringify(c.options)}`, () => {
      const f = make(c);
      // OneCycleLR's value at step totalSteps extrapolates past the cycle (below its final lr,
      // even negative); no training step uses it, and msam holds the final value instead.
      const n = c.schedule === 'oneCycle' ? c.lrs.length - 1 : c.lrs.length;
      let worst = 0;
      for (let s = 0; s < n; s++) {
        const want = c.lrs[s] as number;
        const got = f(s);
        worst = Math.max(worst, Math.abs(got - want) / Math.max(Math.abs(want), 1e-12));
      }
      measured.push(`${c.schedule} ${JSON.stringify(c.options)}: ${worst.toExponential(1)}`);
      expect(worst).toBeLessThan(1e-12);
    });
  }
});

describe('hand-derived values', () => {
  it('oneCycle: 5% warm-up from maxLr/25 to maxLr, then down to maxLr/25/1e4 at the last step, held after', () => {
    const f = msam.schedule.oneCycle({ maxLr: 0.1, totalSteps: 100 });
    expect(f(0)).toBeCloseTo(0.1 / 25, 15);
    expect(f(2)).toBeCloseTo((0.1 / 25 + 0.1) / 2, 15); // the cosine's midpoint: warm-up ends at step 4
    expect(f(4)).toBe(0.1);
    expect(f(99)).toBeCloseTo(0.1 / 25 / 1e4, 18);
    expect(f(100)).toBe(f(99));
    expect(f(10_000)).toBe(f(99));
    for (let s = 4; s < 99; s++) expect(f(s + 1)).toBeLessThan(f(s));
  });

  it('oneCycle: a warm-up of exactly one step (where torch divides by zero) starts at maxLr', () => {
    const f = msam.schedule.oneCycle({ maxLr: 0.2, totalSteps: 20, anneal: 'linear' });
    expect(f(0)).toBe(0.2);
    expect(f(19)).toBeCloseTo(0.2 / 25 / 1e4, 15);
    expect(Number.isFinite(f(1))).toBe(true);
  });

  it('cosine: linear warm-up (step + 1)/warmupSteps, then half a cosine to minLr at totalSteps', () => {
    const f = msam.schedule.cosine({ baseLr: 0.1, totalSteps: 110, warmupSteps: 10, minLr: 0.02 });
    expect([f(0), f(4), f(9), f(10)]).toEqual([0.01, 0.05, 0.1, 0.1]);
    expect(f(60)).toBeCloseTo(0.06, 15);
    expect(f(110)).toBeCloseTo(0.02, 15);
    expect(f(500)).toBe(f(110));
    expect(msam.schedule.cosine({ baseLr: 1, totalSteps: 4 })(2)).toBeCloseTo(0.5, 15);
  });

  it('linear: warm-up, then a straight line to endLr at totalSteps', () => {
    const f = msam.schedule.linear({ baseLr: 0.4, totalSteps: 14, warmupSteps: 4 });
    expect([f(0), f(1), f(3)]).toEqual([0.1, 0.2, 0.4]);
    expect(f(9)).toBeCloseTo(0.2, 15);
    expect([f(14), f(20)]).toEqual([0, 0]);
  });

  it('step and constant', () => {
    const f = msam.schedule.step({ baseLr: 1, stepSize: 10, gamma: 0.5 });
    expect([f(0), f(9), f(10), f(25), f(30)]).toEqual([1, 1, 0.5, 0.25, 0.125]);
    expect(msam.schedule.step({ baseLr: 0.1, stepSize: 2 })(4)).toBeCloseTo(0.001, 18);
    const c = msam.schedule.constant({ lr: 0.3 });
    expect([c(0), c(1e6)]).toEqual([0.3, 0.3]);
  });

  it('drives an optimizer: set the lr before each step', () => {
    const p = msam.zeros([2], { dtype: 'float64', requiresGrad: true });
    const opt = new msam.optim.SGD([p], { lr: 1 });
    const lrAt = msam.schedule.oneCycle({ maxLr: 1, totalSteps: 10, warmupFraction: 0.3 });
    let expected = 0;
    for (let s = 0; s < 10; s++) {
      opt.setLr(lrAt(s));
      p.grad = msam.ones([2], { dtype: 'float64' });
      opt.step();
      expected -= lrAt(s);
    }
    expect(opt.paramGroups[0]?.lr).toBe(lrAt(9));
    expect(p.data()[0]).toBeCloseTo(expected, 14);
  });
});

describe('arguments are checked, errors name the field', () => {
  const cases: { name: string; run: () => unknown; type: typeof Error; message: RegExp }[] = [
    { name: 'oneCycle without maxLr', run: () => msam.schedule.oneCycle({ totalSteps: 10 } as never), type: TypeError, message: /^oneCycle: option 'maxLr' is required$/ },
    { name: 'oneCycle maxLr < 0', run: () => msam.schedule.oneCycle({ maxLr: -1, totalSteps: 10 }), type: RangeError, message: /^oneCycle: option 'maxLr' must be a finite number >= 0, got -1$/ },
    { name: 'oneCycle totalSteps 0', run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 0 }), type: RangeError, message: /^oneCycle: option 'totalSteps' must be a positive integer, got 0$/ },
    { name: 'oneCycle totalSteps 2.5', run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 2.5 }), type: RangeError, message: /option 'totalSteps' must be a positive integer, got 2\.5/ },
    { name: 'oneCycle warmupFraction 1.5', run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 10, warmupFraction: 1.5 }), type: RangeError, message: /^oneCycle: option 'warmupFraction' must be a number in \[0, 1\], got 1\.5$/ },
    { name: 'oneCycle divFactor 0', run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 10, divFactor: 0 }), type: RangeError, message: /option 'divFactor' must be a finite number > 0, got 0/ },
    { name: 'oneCycle finalDivFactor as a string', run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 10, finalDivFactor: '1e4' as never }), type: TypeError, message: /option 'finalDivFactor' must be a finite number > 0, got string/ },
    { name: "oneCycle anneal 'cosine'", run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 10, anneal: 'cosine' as never }), type: TypeError, message: /^oneCycle: option 'anneal' must be 'cos' or 'linear', got "cosine"$/ },
    { name: 'oneCycle pctStart (torch spelling)', run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 10, pctStart: 0.3 } as never), type: TypeError, message: /^oneCycle: unknown option 'pctStart' \(expected maxLr, totalSteps, warmupFraction, divFactor, finalDivFactor, anneal\)$/ },
    { name: 'cosine warmupSteps = totalSteps', run: () => msam.schedule.cosine({ baseLr: 1, totalSteps: 10, warmupSteps: 10 }), type: RangeError, message: /^cosine: option 'warmupSteps' must be an integer in \[0, totalSteps\), got 10$/ },
    { name: 'cosine minLr > baseLr', run: () => msam.schedule.cosine({ baseLr: 0.1, totalSteps: 10, minLr: 0.2 }), type: RangeError, message: /^cosine: option 'minLr' must be a number in \[0, baseLr\], got 0\.2$/ },
    { name: 'linear without totalSteps', run: () => msam.schedule.linear({ baseLr: 0.1 } as never), type: TypeError, message: /^linear: option 'totalSteps' is required$/ },
    { name: 'step stepSize 0', run: () => msam.schedule.step({ baseLr: 0.1, stepSize: 0 }), type: RangeError, message: /^step: option 'stepSize' must be a positive integer, got 0$/ },
    { name: 'step gamma < 0', run: () => msam.schedule.step({ baseLr: 0.1, stepSize: 3, gamma: -0.5 }), type: RangeError, message: /^step: option 'gamma' must be a finite number >= 0, got -0\.5$/ },
    { name: 'constant NaN', run: () => msam.schedule.constant({ lr: NaN }), type: RangeError, message: /^constant: option 'lr' must be a finite number >= 0, got NaN$/ },
    { name: 'constant of a number', run: () => msam.schedule.constant(0.1 as never), type: TypeError, message: /^constant: options must be an object$/ },
    { name: 'a negative step', run: () => msam.schedule.constant({ lr: 1 })(-1), type: RangeError, message: /^constant: step must be an integer >= 0, got -1$/ },
    { name: 'a fractional step', run: () => msam.schedule.cosine({ baseLr: 1, totalSteps: 4 })(1.5), type: RangeError, message: /^cosine: step must be an integer >= 0, got 1\.5$/ },
    { name: 'a NaN step', run: () => msam.schedule.oneCycle({ maxLr: 1, totalSteps: 4 })(NaN), type: RangeError, message: /^oneCycle: step must be an integer >= 0, got NaN$/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(c.run).toThrow(c.type);
      expect(c.run).toThrow(c.message);
    });
  }
});
