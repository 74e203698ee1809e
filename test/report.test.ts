// The report helpers of the experiment commands: statistics, Markdown tables, and charts rendered
// to SVG (Vega) and PNG (resvg).
import { describe, expect, it } from 'vitest';
import { barChartSpec, formatMeanStd, interval95, lineChartSpec, markdownTable, mean, renderSvg, std, summarize, svgToPng } from '../lib/report';

describe('statistics', () => {
  it('mean and sample standard deviation (n − 1)', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(std([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(std([0.5])).toBe(0);
    expect(() => mean([])).toThrow(RangeError);
    expect(summarize([0.9, 0.92, 0.94])).toEqual({ n: 3, mean: expect.closeTo(0.92, 12), std: expect.closeTo(0.02, 12), min: 0.9, max: 0.94 });
  });

  it('mean ± std, scaled to percent', () => {
    expect(formatMeanStd({ mean: 0.8912, std: 0.0034 }, 2, 100)).toBe('89.12 ± 0.34');
    expect(formatMeanStd({ mean: 1.23456, std: 0 }, 1)).toBe('1.2 ± 0.0');
  });
});

describe('Markdown tables', () => {
  it('pads columns, aligns and escapes pipes', () => {
    const t = markdownTable({
      headers: ['Method', 'acc'],
      rows: [
        ['SAM', '89.12 ± 0.34'],
        ['a|b', '1'],
      ],
      align: ['left', 'right'],
    });
    expect(t).toBe(['| Method |          acc |', '| ------ | -----------: |', '| SAM    | 89.12 ± 0.34 |', '| a\\|b   |            1 |'].join('\n'));
    expect(() => markdownTable({ headers: ['a', 'b'], rows: [['1']] })).toThrow(/1 cells, the header 2/);
  });
});

describe('charts', () => {
  const points = [
    { x: 'Vanilla', mean: 88.1, std: 0.3 },
    { x: 'SAM', mean: 88.9, std: 0.2 },
    { x: 'mSAM', mean: 89.4, std: 0.25 },
  ];

  it('a bar chart with error bars renders to SVG and PNG', async () => {
    const svg = await renderSvg(barChartSpec(points, { title: 'accuracy', xTitle: 'method', yTitle: 'test accuracy (%)' }));
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.trimEnd()).toMatch(/<\/svg>$/);
    for (const label of ['Vanilla', 'SAM', 'mSAM', 'accuracy', 'test accuracy (%)', '89.40']) expect(svg).toContain(label);
    const png = svgToPng(svg);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: width and height at bytes 16 and 20, at twice the SVG's size.
    const width = Number(/width="(\d+)"/.exec(svg)?.[1]);
    expect(png.readUInt32BE(16)).toBe(2 * width);
    expect(png.readUInt32BE(20)).toBeGreaterThan(200);
    expect(png.length).toBeGreaterThan(5000);
  });

  it('a line chart over m on a log₂ axis, and one with two series', async () => {
    const line = await renderSvg(
      lineChartSpec([1, 2, 4, 8].map((m, i) => ({ x: m, mean: 88 + i / 2, std: 0.1 })), { title: 'm', xTitle: 'm', yTitle: 'accuracy', xLog2: true }),
    );
    expect(line).toMatch(/^<svg /);
    expect(line).toContain('<path'); // the line
    const two = await renderSvg(
      lineChartSpec(
        [0, 50, 100].flatMap((x) => ['first', 'last'].map((series) => ({ x, mean: 88 + x / 100, std: 0.2, series }))),
        { title: 'switch', xTitle: 'switch percent', yTitle: 'accuracy' },
      ),
    );
    expect(two).toContain('first');
    expect(two).toContain('last'); // the legend
  });
});

describe('charts that a reader can trust', () => {
  it("the 95% interval of the mean (Student's t), clipped to the metric's range", () => {
    // mean 2, std 1, n 3: t(0.975, 2) = 4.303, half-width 4.303 / √3.
    const ci = interval95([1, 2, 3]);
    expect(ci.mean).toBe(2);
    expect(ci.hi - 2).toBeCloseTo(4.303 / Math.sqrt(3), 12);
    expect(interval95([99, 100, 100], [0, 100]).hi).toBe(100);
    expect(interval95([5])).toEqual({ mean: 5, lo: 5, hi: 5 });
  });

  it('every seed is a dot, intervals stay inside [0, 100], and a fitted axis says where it starts', async () => {
    const points = [
      { x: 'SAM', mean: 37.45, std: 38.75, values: [10, 10, 92.35] },
      { x: 'mSAM', mean: 89.5, std: 0.3, values: [89.2, 89.5, 89.8] },
    ];
    const spec = barChartSpec(points, { title: 't', xTitle: 'method', yTitle: 'test accuracy (%)', range: [0, 100] }) as unknown as { layer: { data?: { values: unknown[] } }[]; data: { values: { lo: number; hi: number }[] } };
    expect(spec.data.values.map((r) => [r.lo, r.hi])).toEqual([
      [0, 100], // 37.45 ± 4.303 · 47.5 / √3 passes both ends: clipped
      [interval95([89.2, 89.5, 89.8]).lo, interval95([89.2, 89.5, 89.8]).hi],
    ]);
    expect(spec.layer.find((l) => l.data !== undefined)?.data?.values).toHaveLength(6);
    const svg = await renderSvg(barChartSpec(points.slice(1), { title: 't', xTitle: 'method', yTitle: 'test accuracy (%)', range: [0, 100] }));
    expect(svg).toMatch(/bars: 95% CI of the mean; dots: seeds; y axis from 8\d\.\d, not 0/);
  });

  it('fills its canvas: the plot, its axes and titles, and no empty band around them', async () => {
    const size = (svg: string) => (svg.match(/^<svg[^>]* width="(\d+)" height="(\d+)"/) ?? []).slice(1).map(Number);
    const points = ['Vanilla', 'SAM', 'mSAM (m=4)'].map((x, i) => ({ x, mean: 91 - i / 4, std: 0.2, values: [90.8 - i / 4, 91 - i / 4, 91.2 - i / 4] }));
    const o = { title: 'smallCnn (width 16) on Fashion-MNIST: test accuracy (3 seeds)', xTitle: 'method', yTitle: 'test accuracy (%)', range: [0, 100] as [number, number] };
    // Plots of 480 × 260: the canvas adds the axes, titles and labels, not hundreds of pixels.
    const [bw, bh] = size(await renderSvg(barChartSpec(points, o)));
    expect(bh).toBeLessThan(260 + 140);
    expect(bw).toBeLessThan(480 + 120);
    const [lw, lh] = size(await renderSvg(lineChartSpec(points.map((p, i) => ({ ...p, x: 2 ** i })), { ...o, xTitle: 'm', xLog2: true })));
    expect(lh).toBeLessThan(260 + 140);
    expect(lw).toBeLessThan(480 + 160);
  });
});
