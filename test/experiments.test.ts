// The experiment commands (compare, sweep-m, switch, bench) on tiny runs over a synthetic
// MNIST-format data set (in the fashion-mnist preset's place): each writes results.json, table.md, chart.svg and chart.png; through the
// CLI, every command has --help and prints the directory it wrote.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { parseChoices, parseList, runBench, runCompare, runSweepM, runSwitch, type ExperimentReport } from '../lib/experiments';
import { experimentLayers } from '../lib/experiments/options';
import { METHODS, resolveTrainConfig } from '../lib/train';
import { writeSyntheticMnist } from './helpers/synthetic-mnist';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-experiments-'));
const dataDir = path.join(tmp, 'data');
// 214 examples: 21 held out for validation, 193 train in 6 steps of 32.
beforeAll(() => writeSyntheticMnist(dataDir, 214, 100));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** One epoch of 6 steps of 32 with a 4-channel CNN: well under a second a run. */
const tinyFlags = ['--data-dir', dataDir, '--set', 'model.options.width=4', '--epochs', '1', '--batch-size', '32', '--device', 'cpu'];
const tiny = () => experimentLayers({ dataDir, set: ['model.options.width=4'], epochs: '1', batchSize: '32', device: 'cpu' });
const quiet = { log: () => {} };

function expectFiles(r: ExperimentReport, runs: number): Record<string, unknown> {
  for (const f of ['results.json', 'table.md', 'chart.svg', 'chart.png']) expect(fs.existsSync(path.join(r.dir, f)), f).toBe(true);
  expect(fs.readFileSync(path.join(r.dir, 'chart.svg'), 'utf8')).toMatch(/^<svg /);
  expect([...fs.readFileSync(path.join(r.dir, 'chart.png')).subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  expect(fs.readFileSync(path.join(r.dir, 'table.md'), 'utf8').trim()).toBe(r.table);
  expect(r.runs).toHaveLength(runs);
  for (const run of r.runs) expect(fs.existsSync(path.join(run.outDir, 'results.json'))).toBe(true);
  return JSON.parse(fs.readFileSync(path.join(r.dir, 'results.json'), 'utf8')) as Record<string, unknown>;
}

describe('experiment runners', () => {
  it('the layers: preset < --quick < flags', () => {
    const quick = resolveTrainConfig(...experimentLayers({ quick: true }));
    expect(quick.epochs).toBe(1);
    expect(resolveTrainConfig(...experimentLayers({ quick: true, epochs: '2' })).epochs).toBe(2);
    expect(resolveTrainConfig(...experimentLayers({}, { epochs: 1 })).epochs).toBe(1); // bench's default
    expect(resolveTrainConfig(...experimentLayers({ epochs: '4' }, { epochs: 1 })).epochs).toBe(4);
  });

  it('compare: methods × seeds, mean ± std per method', async () => {
    const r = await runCompare({ methods: ['vanilla', 'sam', 'msam'], seeds: [0, 1], layers: tiny(), outDir: path.join(tmp, 'compare'), ...quiet });
    const results = expectFiles(r, 6);
    expect(r.runs.map((x) => [x.label, x.seed, x.method])).toEqual([
      ['vanilla', 0, 'vanilla'],
      ['vanilla', 1, 'vanilla'],
      ['sam', 0, 'sam'],
      ['sam', 1, 'sam'],
      ['msam', 0, 'msam'],
      ['msam', 1, 'msam'],
    ]);
    expect(r.table).toMatch(/\| Model +\| Data +\| +Vanilla \| +SAM \| +mSAM \(m = 4\) \|/);
    expect(r.table).toMatch(/\| smallCnn \(width 4\) \| Fashion-MNIST +\| +\d+\.\d\d ± \d+\.\d\d \|/);
    const summary = results['summary'] as { method: string; n: number; mean: number }[];
    expect(summary.map((s) => [s.method, s.n])).toEqual([
      ['vanilla', 2],
      ['sam', 2],
      ['msam', 2],
    ]);
    const msam = r.runs.filter((x) => x.method === 'msam');
    expect(summary[2]?.mean).toBeCloseTo((msam[0]!.testAccuracy + msam[1]!.testAccuracy) / 2, 12);
  });

  it('--jobs 2 trains side by side in processes of their own, to the same results; a continued experiment reads its finished runs back', async () => {
    const layers = [...tiny(), { source: 'test', values: { threads: 1 } }];
    const one = await runCompare({ methods: ['vanilla', 'msam'], seeds: [0, 1], layers, outDir: path.join(tmp, 'jobs1'), ...quiet });
    const lines: string[] = [];
    const two = await runCompare({ methods: ['vanilla', 'msam'], seeds: [0, 1], layers, jobs: 2, outDir: path.join(tmp, 'jobs2'), log: (l) => lines.push(l) });
    expect(lines.filter((l) => /: training → /.test(l))).toHaveLength(4);
    // Bit-exact: the same runs whichever process trained them.
    expect(two.runs.map((r) => [r.label, r.seed, r.testAccuracy, r.steps])).toEqual(one.runs.map((r) => [r.label, r.seed, r.testAccuracy, r.steps]));
    expect(fs.readFileSync(path.join(two.dir, 'table.md'), 'utf8')).toBe(fs.readFileSync(path.join(one.dir, 'table.md'), 'utf8'));
    lines.length = 0;
    const again = await runCompare({ methods: ['vanilla', 'msam'], seeds: [0, 1], layers, jobs: 2, outDir: path.join(tmp, 'jobs2'), log: (l) => lines.push(l) });
    expect(lines.filter((l) => /finished before, read from/.test(l))).toHaveLength(4);
    expect(again.runs.map((r) => r.testAccuracy)).toEqual(two.runs.map((r) => r.testAccuracy));
    // Other settings in the same directory: those runs are not this grid's, and the trainer says which field differs.
    await expect(runCompare({ methods: ['vanilla'], seeds: [0], layers: [...layers, { source: 'test', values: { labelSmoothing: 0.2 } }], outDir: path.join(tmp, 'jobs2'), ...quiet })).rejects.toThrow(/labelSmoothing/);
  });

  it('sweep-m: one mSAM run per m', async () => {
    const r = await runSweepM({ ms: [1, 4], seeds: [0], layers: tiny(), outDir: path.join(tmp, 'sweep'), ...quiet });
    expectFiles(r, 2);
    expect(r.runs.map((x) => [x.label, x.m])).toEqual([
      ['m = 1', 1],
      ['m = 4', 4],
    ]);
    expect(r.table).toMatch(/\| +1 \| +32 \| +\d+\.\d\d ± 0\.00 \|/);
  });

  it('switch: hybrid runs at both positions, the ends trained once', async () => {
    const r = await runSwitch({ fractions: [0, 0.5, 1], positions: ['first', 'last'], seeds: [0], layers: tiny(), outDir: path.join(tmp, 'switch'), ...quiet });
    expectFiles(r, 4);
    expect(r.runs.map((x) => [x.label, x.method])).toEqual([
      ['vanilla', 'vanilla'],
      ['first 50%', 'msam'],
      ['sharp throughout', 'msam'],
      ['last 50%', 'msam'],
    ]);
    // The trainer's hybrid option: half of the 6 steps sharp, at the start or the end.
    const sharpSteps = (dir: string) =>
      fs
        .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { sharpSteps?: number })
        .reduce((a, l) => a + (l.sharpSteps ?? 0), 0);
    expect(r.runs.map((x) => sharpSteps(x.outDir))).toEqual([0, 3, 6, 3]);
    expect(r.table).toMatch(/\| switch X \| mSAM \(m = 4\) first X% \| mSAM \(m = 4\) last X% \|/);
  });

  it('bench: seconds per epoch from the steps, relative to vanilla', async () => {
    const r = await runBench({ methods: ['vanilla', 'msam'], seeds: [0], layers: tiny(), outDir: path.join(tmp, 'bench'), ...quiet });
    const results = expectFiles(r, 2);
    for (const run of r.runs) expect(run.extra).toMatchObject({ stepsPerEpoch: 6, msPerStep: expect.any(Number), secondsPerEpoch: expect.any(Number) });
    expect(r.table).toMatch(/\| Vanilla +\| +\d+\.\d\d ± 0\.00 \| +\d+\.\d ± 0\.0 \| +1\.00 \|/);
    expect((results['summary'] as unknown[]).length).toBe(2);
  });
});

describe('the experiment commands', () => {
  const root = path.resolve(__dirname, '..');
  const run = async (args: string[]) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register', path.join(root, 'lib', 'cli.ts'), ...args], {
      cwd: root,
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { code, stdout, stderr };
  };

  it('--help for every command', async () => {
    // What --help prints, in this process (helpInformation); one real --help through the CLI below.
    const { program } = await import('../lib/cli');
    const help = (name: string) => (program.commands.find((c) => c.name() === name) as Command).helpInformation();
    expect(program.commands.map((c) => c.name())).toEqual(['info', 'train', 'presets', 'compare', 'sweep-m', 'switch', 'bench', 'sharpness', 'repl', 'doctor', 'launch']);
    for (const c of program.commands) expect(help(c.name())).toMatch(new RegExp(`^Usage: msam ${c.name()} \\[options\\]( <command> \\[args\\.\\.\\.\\])?\\n\\n\\S`));
    expect(help('compare')).toMatch(/--methods <list>[\s\S]*--seeds <list>[\s\S]*--preset <name>[\s\S]*--quick[\s\S]*--out-dir <dir>[\s\S]*--epochs <n>/);
    expect(help('compare')).not.toMatch(/--method </);
    expect(help('sweep-m')).toMatch(/--ms <list>[\s\S]*--seeds/);
    expect(help('sweep-m')).not.toMatch(/--m </);
    expect(help('switch')).toMatch(/--fractions <list>[\s\S]*--position <first\|last>/);
    expect(help('bench')).toMatch(/--methods <list>[\s\S]*--epochs <n>/);
    const real = await run(['switch', '--help']);
    expect(real.code).toBe(0);
    expect(real.stdout.trim()).toBe(help('switch').trim());
  });

  it('compare through the CLI: progress per run on stderr, the table and the directory on stdout; bad lists are errors naming the flag', async () => {
    const outDir = path.join(tmp, 'cli-compare');
    const ok = await run(['compare', '--methods', 'vanilla,msam', '--seeds', '3', ...tinyFlags, '--out-dir', outDir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/\[compare 1\/2\] vanilla, seed 3: training → [\s\S]*\[compare 2\/2\] msam, seed 3: test accuracy \d+\.\d\d%/);
    expect(ok.stdout).toMatch(/\| Model +\| Data +\| +Vanilla \| +mSAM \(m = 4\) \|/);
    expect(ok.stdout).toContain(`wrote ${outDir}: results.json, table.md, chart.svg, chart.png, runs/ (2 runs)`);
    expect(fs.existsSync(path.join(outDir, 'runs', 'msam-seed3', 'results.json'))).toBe(true);
    expect(() => parseChoices('vanilla,adam', '--methods', METHODS)).toThrow(/--methods: expected a comma-separated list of vanilla, sam, msam, got "vanilla,adam"/);
    expect(() => parseList('0,x', '--seeds', 'int')).toThrow(/--seeds: expected a comma-separated list of integers, got "0,x"/);
  });
});
