// `msam compare`: methods × seeds on one model and data set → mean ± std test accuracy per method,
// as the paper's Tables 2 and 3 (table.md, results.json, chart.svg/png).
import * as path from 'node:path';
import { barChartSpec, writeChart } from '../report/chart';
import { formatMeanStd, summarize } from '../report/stats';
import { markdownTable } from '../report/table';
import { METHODS, type Method } from '../train/config';
import { budget, dataName, METHOD_NAMES, modelName } from './describe';
import { byLabel, common, experimentDir, runGrid, writeReport, type ExperimentOptions, type ExperimentReport } from './runner';

export interface CompareOptions extends ExperimentOptions {
  methods: Method[];
}

export async function runCompare(o: CompareOptions): Promise<ExperimentReport> {
  const dir = experimentDir('compare', o.outDir);
  for (const m of o.methods) if (!(METHODS as readonly string[]).includes(m)) throw new Error(`--methods: unknown method '${m}' (expected ${METHODS.join(', ')})`);
  // A hybrid schedule from the layers would not apply to vanilla: compare whole-run methods.
  const cells = o.methods.map((method) => ({ label: method, slug: method, values: { method, hybrid: null } }));
  const { runs, config } = await runGrid('compare', dir, cells, o);
  const summary = o.methods.map((method) => {
    const rs = byLabel(runs, method);
    return { method, m: rs[0]?.m ?? 1, ...summarize(rs.map((r) => r.testAccuracy)) };
  });
  const pct = (s: { mean: number; std: number }) => formatMeanStd(s, 2, 100);
  const main = markdownTable({
    headers: ['Model', 'Data', ...summary.map((s) => (s.method === 'msam' ? `mSAM (m = ${s.m})` : METHOD_NAMES[s.method]))],
    rows: [[modelName(config), dataName(config), ...summary.map(pct)]],
    align: ['left', 'left', ...summary.map(() => 'right' as const)],
  });
  const perSeed = markdownTable({
    headers: ['Method', ...o.seeds.map((s) => `seed ${s}`), 'mean ± std'],
    rows: summary.map((s) => [METHOD_NAMES[s.method], ...byLabel(runs, s.method).map((r) => (100 * r.testAccuracy).toFixed(2)), pct(s)]),
    align: ['left', ...o.seeds.map(() => 'right' as const), 'right'],
  });
  const table = [
    `Test accuracy (%), mean ± std over ${o.seeds.length} seed${o.seeds.length === 1 ? '' : 's'} (${o.seeds.join(', ')}); ${budget(config)}.`,
    '',
    main,
    '',
    perSeed,
  ].join('\n');
  const chart = await writeChart(
    dir,
    'chart',
    barChartSpec(
      summary.map((s) => ({ x: s.method === 'msam' ? `mSAM (m=${s.m})` : METHOD_NAMES[s.method], mean: 100 * s.mean, std: 100 * s.std })),
      { title: `${modelName(config)} on ${dataName(config)}: test accuracy (${o.seeds.length} seeds)`, xTitle: 'method', yTitle: 'test accuracy (%), mean ± std' },
    ),
  );
  const files = writeReport(dir, { experiment: 'compare', methods: o.methods, seeds: o.seeds, summary, runs, config: common(config) }, table);
  return { dir: path.resolve(dir), files: { ...files, chartSvg: chart.svg, chartPng: chart.png }, table, runs };
}
