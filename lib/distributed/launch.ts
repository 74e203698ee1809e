// `msam launch` and `msam train --nproc N`: starts N worker processes on this machine with the
// environment torchrun gives (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE), waits for them, and stops the others when one fails. Several machines: the
// same command on each, with --nnodes, --node-rank and rank 0's machine as --master-addr.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { WATCH_PARENT_ENV } from './env';

export interface LaunchOptions {
  /** The command each worker runs, and its arguments. */
  command: string;
  args: string[];
  /** Workers on this machine. */
  nproc: number;
  /** Machines (default 1); the world size is nnodes · nproc. */
  nnodes?: number;
  /** This machine's index (default 0): its workers are ranks nodeRank · nproc … + nproc − 1. */
  nodeRank?: number;
  /** Rank 0's machine (default 127.0.0.1; needed with nnodes > 1). */
  masterAddr?: string;
  /** Rank 0's TCPStore port (default: a free port on one machine, 29500 on several). */
  masterPort?: number;
  /** Seconds the other workers get to stop by themselves after one failed, before SIGKILL (default 60). */
  stopTimeout?: number;
  /** Extra environment for the workers (over this process's). */
  env?: NodeJS.ProcessEnv;
  /** Where the launcher's own lines go (default stderr). */
  log?: (line: string) => void;
  /** Called once per worker after it started. */
  onSpawn?: (rank: number, child: ChildProcess) => void;
}

export interface LaunchResult {
  /** 0 when every worker exited 0; else the first failure's code (128 + n for signal n). */
  exitCode: number;
  /** The first worker that failed, if any. */
  failed: { rank: number; code: number | null; signal: NodeJS.Signals | null } | null;
}

/** A TCP port that is free on this machine now (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };

const positiveInt = (v: unknown, name: string, min: number): number => {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= min)) throw new RangeError(`launch: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
};

/** Runs the workers and resolves when all have exited. */
export async function launch(opts: LaunchOptions): Promise<LaunchResult> {
  const nproc = positiveInt(opts.nproc, '--nproc', 1);
  const nnodes = positiveInt(opts.nnodes ?? 1, '--nnodes', 1);
  const nodeRank = opts.nodeRank ?? 0;
  if (!(Number.isInteger(nodeRank) && nodeRank >= 0 && nodeRank < nnodes)) throw new RangeError(`launch: --node-rank must be an integer in [0, ${nnodes}), got ${nodeRank}`);
  if (nnodes > 1 && opts.masterAddr === undefined) throw new RangeError('launch: --master-addr (rank 0\'s machine) is needed with --nnodes > 1');
  const masterAddr = opts.masterAddr ?? '127.0.0.1';
  const masterPort = opts.masterPort ?? (nnodes > 1 ? 29500 : await freePort());
  positiveInt(masterPort, '--master-port', 1);
  const stopTimeout = opts.stopTimeout ?? 60;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const worldSize = nnodes * nproc;

  const children: { rank: number; child: ChildProcess; done: boolean }[] = [];
  let failed: LaunchResult['failed'] = null;
  let killTimer: NodeJS.Timeout | null = null;
  // SIGINT, SIGTERM and SIGUSR1 sent to the launcher go to every worker, which finish their step,
  // agree on where to stop and checkpoint. The workers run in their own process group (detached),
  // so that Ctrl-C on a terminal reaches them once, through here, and not twice (the second of
  // which would make them quit without a checkpoint).
  const forward = (signal: NodeJS.Signals) => () => {
    for (const c of children) if (!c.done) c.child.kill(signal);
  };
  const forwarded = (['SIGINT', 'SIGTERM', 'SIGUSR1'] as const).map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of forwarded) process.on(signal, handler);

  const exits = [];
  for (let local = 0; local < nproc; local++) {
    const rank = nodeRank * nproc + local;
    const env = {
      ...process.env,
      ...opts.env,
      MASTER_ADDR: masterAddr,
      MASTER_PORT: String(masterPort),
      RANK: String(rank),
      WORLD_SIZE: String(worldSize),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(nproc),
      // A worker whose launcher dies without forwarding a signal (SIGKILL) stops with a checkpoint.
      [WATCH_PARENT_ENV]: '1',
    };
    const child = spawn(opts.command, opts.args, { env, stdio: 'inherit', detached: true });
    const entry = { rank, child, done: false };
    children.push(entry);
    exits.push(
      new Promise<void>((resolve) => {
        const finish = (code: number | null, signal: NodeJS.Signals | null) => {
          if (entry.done) return;
          entry.done = true;
          if ((code !== 0 || signal !== null) && failed === null) {
            failed = { rank, code, signal };
            const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
            // 130 and 75: a worker stopped on a signal with its checkpoint (msam train's exit codes).
            if (code !== 130 && code !== 75) {
              log(`msam launch: rank ${rank} (pid ${child.pid ?? '?'}) ${how}; the other ranks stop (SIGKILL after ${stopTimeout} s)`);
              killTimer = setTimeout(() => {
                for (const c of children) if (!c.done) c.child.kill('SIGKILL');
              }, stopTimeout * 1000);
              killTimer.unref();
            }
          }
          resolve();
        };
        child.on('exit', finish);
        child.on('error', (e) => {
          log(`msam launch: rank ${rank} could not start ${opts.command}: ${e.message}`);
          finish(127, null);
        });
      }),
    );
    opts.onSpawn?.(rank, child);
  }
  try {
    await Promise.all(exits);
  } finally {
    if (killTimer !== null) clearTimeout(killTimer);
    for (const [signal, handler] of forwarded) process.off(signal, handler);
  }
  const f = failed as LaunchResult['failed'];
  if (f === null) return { exitCode: 0, failed: null };
  return { exitCode: f.signal !== null ? 128 + (SIGNALS[f.signal] ?? 1) : (f.code ?? 1), failed: f };
}
