// Preemption through the CLI: SIGTERM (Slurm, Kubernetes, `docker stop`) and SIGUSR1 (Slurm's
// warning before the time limit) sent mid-epoch to `msam train`, or to the launcher that runs its
// workers, finish the step, write a checkpoint, print the resume command and exit with 75; the
// resumed run ends bit for bit where one that was never stopped ends.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { deterministic, readLines, tensorsOf } from './helpers/run-files';
import { PREEMPTED_EXIT_CODE } from '../lib/train';
import { writeSyntheticMnist } from './helpers/synthetic-mnist';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-signals-'));
const dataDir = path.join(tmp, 'data');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
beforeAll(() => writeSyntheticMnist(dataDir, 360, 200));

const root = path.resolve(__dirname, '..');
const cliJs = path.join(root, 'dist', 'lib', 'cli.js'); // built by `npx tsc -p tsconfig.json`

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; with `signal`, sends it to the process once stderr matches `when`. */
function cli(args: string[], signal?: { name: NodeJS.Signals; when: RegExp }): Promise<Finished> {
  const child = spawn(process.execPath, [cliJs, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (signal !== undefined && !sent && signal.when.test(stderr)) {
      sent = true;
      child.kill(signal.name);
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/**
 * A spawned wrapper (npx, the launcher) and what runs under it: `signal` goes to the wrapper once
 * stderr matches `when`; resolves when every holder of the pipes is gone ('close'), with the code
 * of the wrapper or, when it was killed, of whatever wrote last (null).
 */
function watched(child: ChildProcess, signal: { name: NodeJS.Signals; when: RegExp }): Promise<Finished> {
  let [stdout, stderr, sent] = ['', '', false];
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!sent && signal.when.test(stderr)) {
      sent = true;
      child.kill(signal.name);
    }
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const lines = (file: string) => deterministic(readLines(file));
const stateOf = (dir: string) =>
  (msam.loadCheckpoint(path.join(dir, 'checkpoints', 'last.safetensors')).extra as { state: { epoch: number; stepInEpoch: number; globalStep: number } }).state;

const args = (outDir: string, epochs = 4) => [
  'train', '--data-dir', dataDir, '--set', 'model.options.width=4', '--epochs', String(epochs), '--batch-size', '32', '--device', 'cpu', '--threads', '1',
  '--out-dir', outDir, '--progress', 'plain', '--log-every', '1',
];

describe('preemption', () => {
  it('SIGTERM mid-epoch: a checkpoint, the resume command, exit 75; the resumed run is bit-exact', async () => {
    const straight = path.join(tmp, 'straight');
    const stopped = path.join(tmp, 'stopped');
    const [a, b] = await Promise.all([cli(args(straight)), cli(args(stopped), { name: 'SIGTERM', when: /epoch 2\/4 step 3\/10/ })]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(PREEMPTED_EXIT_CODE);
    expect(b.stderr).toMatch(/SIGTERM: stopping after this step and saving a checkpoint/);
    expect(b.stdout).toMatch(new RegExp(`stopped by SIGTERM after \\d+ steps; checkpoint .*last\\.safetensors\\ncontinue with: msam train --resume ${stopped}`));
    const state = stateOf(stopped);
    expect(state.globalStep).toBeGreaterThanOrEqual(13);
    expect(state.globalStep).toBeLessThan(40);
    expect(state.stepInEpoch).toBeGreaterThan(0); // mid-epoch
    expect(fs.readdirSync(path.join(stopped, 'checkpoints')).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const resumed = await cli(['train', '--resume', stopped, '--progress', 'none']);
    expect(resumed.code).toBe(0);
    expect(lines(path.join(stopped, 'metrics.jsonl'))).toEqual(lines(path.join(straight, 'metrics.jsonl')));
    expect(tensorsOf(path.join(stopped, 'checkpoints', 'last.safetensors'))).toEqual(tensorsOf(path.join(straight, 'checkpoints', 'last.safetensors')));
    expect(fs.readFileSync(path.join(stopped, 'metrics.csv'), 'utf8').split('\n').length).toBe(fs.readFileSync(path.join(straight, 'metrics.csv'), 'utf8').split('\n').length);
  });

  it("SIGTERM to npx's wrapper (npm exec → sh → msam): npm passes it on, msam checkpoints, and the run resumes bit-exactly", async () => {
    const straight = path.join(tmp, 'straight-npx');
    const stopped = path.join(tmp, 'stopped-npx');
    // Long enough (30 epochs of 10 steps) that the signal lands well before the end.
    const npx = spawn('npm', ['exec', '--yes', '--', 'msam', ...args(stopped, 30)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const run = watched(npx, { name: 'SIGTERM', when: /epoch 2\/30 step 3\/10/ });
    const [a, b] = await Promise.all([cli(args(straight, 30)), run]);
    expect(a.code).toBe(0);
    // npm itself dies of the signal (no code); msam, which it passed the signal to, stops cleanly.
    expect(b.stderr).toMatch(/SIGTERM: stopping after this step and saving a checkpoint/);
    expect(b.stdout).toMatch(new RegExp(`stopped by SIGTERM after \\d+ steps; checkpoint .*last\\.safetensors\\ncontinue with: msam train --resume ${stopped}`));
    expect(stateOf(stopped).stepInEpoch).toBeGreaterThan(0); // mid-epoch
    const resumed = await cli(['train', '--resume', stopped, '--progress', 'none']);
    expect(resumed.code).toBe(0);
    expect(lines(path.join(stopped, 'metrics.jsonl'))).toEqual(lines(path.join(straight, 'metrics.jsonl')));
    expect(tensorsOf(path.join(stopped, 'checkpoints', 'last.safetensors'))).toEqual(tensorsOf(path.join(straight, 'checkpoints', 'last.safetensors')));
  }, 120_000);

  it('SIGKILL to the launcher (nothing forwarded): its workers see it gone, stop at the same step with a checkpoint, and the run resumes', async () => {
    const dir = path.join(tmp, 'orphaned');
    const launcher = spawn(process.execPath, [cliJs, ...args(dir, 30), '--nproc', '2', '--m', '4'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    // The workers (their own process group) keep the pipes: 'close' waits for them. They poll for
    // their parent every 500 ms: 30 epochs leave them time to notice before the end.
    const r = await watched(launcher, { name: 'SIGKILL', when: /epoch 2\/30 step 2\/10/ });
    expect(r.stderr).toMatch(/the parent process \(msam's launcher\) exited without passing a signal on: stopping as on SIGTERM/);
    expect(r.stdout).toMatch(/stopped by SIGTERM after (\d+) steps/);
    const steps = Number(/after (\d+) steps/.exec(r.stdout)?.[1]);
    expect(stateOf(dir).globalStep).toBe(steps);
    expect(steps).toBeLessThan(300);
    const resumed = await cli(['train', '--resume', dir, '--progress', 'none', '--nproc', '2']);
    expect(resumed.code).toBe(0);
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as { steps: number; processes: number };
    expect([results.steps, results.processes]).toEqual([300, 2]);
  }, 120_000);

  it("SIGUSR1 (Slurm's warning before the time limit) stops the same way", async () => {
    const dir = path.join(tmp, 'usr1');
    const r = await cli(args(dir), { name: 'SIGUSR1', when: /epoch 1\/4 step 4\/10/ });
    expect(r.code).toBe(PREEMPTED_EXIT_CODE);
    expect(r.stdout).toMatch(/stopped by SIGUSR1 after \d+ steps/);
    expect(stateOf(dir).globalStep).toBeGreaterThanOrEqual(4);
  });

  it('SIGTERM to the launcher of 2 workers: forwarded, both ranks stop at the same step, exit 75, and the run resumes', async () => {
    const dir = path.join(tmp, 'launched');
    const r = await cli([...args(dir), '--nproc', '2', '--m', '4'], { name: 'SIGTERM', when: /epoch 2\/4 step 2\/10/ });
    expect(r.code).toBe(PREEMPTED_EXIT_CODE);
    expect(r.stdout).toMatch(/stopped by SIGTERM after (\d+) steps/);
    const steps = Number(/after (\d+) steps/.exec(r.stdout)?.[1]);
    expect(stateOf(dir).globalStep).toBe(steps);
    expect(r.stderr).not.toMatch(/exited with code|was killed/);
    const resumed = await cli(['train', '--resume', dir, '--progress', 'none', '--nproc', '2']);
    expect(resumed.code).toBe(0);
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as { steps: number; processes: number };
    expect([results.steps, results.processes]).toEqual([40, 2]);
  });
});
