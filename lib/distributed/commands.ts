// The CLI's multi-process parts: `msam launch` (any command, N times, with torchrun's environment)
// and the launcher flags of `msam train` (--nproc, --nnodes, --node-rank, --master-addr, --master-port).
import type { Command } from 'commander';
import { initProcessGroup, type ProcessGroup } from './group';
import { worldFromEnv } from './env';
import { launch, type LaunchOptions } from './launch';

/** The launcher's flags, for `msam train` and `msam launch`. */
export const LAUNCH_FLAGS: { flag: string; help: string }[] = [
  { flag: '--nproc <n>', help: 'worker processes on this machine (data parallel over c10d; default 1)' },
  { flag: '--nnodes <n>', help: 'machines taking part (default 1); run the same command on each' },
  { flag: '--node-rank <i>', help: "this machine's index among them (default 0; 0 hosts rank 0)" },
  { flag: '--master-addr <host>', help: "rank 0's machine (default 127.0.0.1; needed with --nnodes > 1)" },
  { flag: '--master-port <port>', help: "rank 0's rendezvous port (default: a free port on one machine, 29500 on several)" },
];

const intFlag = (v: unknown, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n)) throw new RangeError(`${flag} must be an integer, got ${JSON.stringify(v)}`);
  return n;
};

/** Launch options from parsed flags, or null when they ask for one process on one machine. */
export function launchOptionsFrom(opts: Record<string, unknown>): Omit<LaunchOptions, 'command' | 'args'> | null {
  const nproc = intFlag(opts['nproc'], '--nproc') ?? 1;
  const nnodes = intFlag(opts['nnodes'], '--nnodes') ?? 1;
  if (nproc === 1 && nnodes === 1) return null;
  const nodeRank = intFlag(opts['nodeRank'], '--node-rank');
  const masterPort = intFlag(opts['masterPort'], '--master-port');
  const masterAddr = opts['masterAddr'] as string | undefined;
  return { nproc, nnodes, ...(nodeRank !== undefined ? { nodeRank } : {}), ...(masterAddr !== undefined ? { masterAddr } : {}), ...(masterPort !== undefined ? { masterPort } : {}) };
}

/** argv without the launcher's flags (and their values), for the workers to parse again. */
export function withoutLaunchFlags(argv: string[]): string[] {
  const names = LAUNCH_FLAGS.map((f) => f.flag.split(' ')[0] as string);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (names.includes(a)) {
      i++; // its value
      continue;
    }
    if (names.some((n) => a.startsWith(`${n}=`))) continue;
    out.push(a);
  }
  return out;
}

/**
 * `msam train` with launcher flags and no WORLD_SIZE: starts the workers (this CLI again, without
 * those flags) and resolves to the exit code; null when this process is to train itself.
 */
export async function launchTrainWorkers(opts: Record<string, unknown>): Promise<number | null> {
  const launchOpts = launchOptionsFrom(opts);
  if (launchOpts === null || process.env['WORLD_SIZE'] !== undefined) return null;
  const script = process.argv[1] as string;
  const args = [...process.execArgv, script, ...withoutLaunchFlags(process.argv.slice(2))];
  const r = await launch({ ...launchOpts, command: process.execPath, args });
  return r.exitCode;
}

/** The process group of a worker started by a launcher (WORLD_SIZE > 1), else null. */
export async function groupFromEnv(): Promise<ProcessGroup | null> {
  const world = worldFromEnv();
  if (world === null || world.worldSize === 1) return null;
  return initProcessGroup();
}

export function addLaunchCommand(program: Command): void {
  const cmd = program
    .command('launch')
    .description(
      'run a command as N worker processes with torchrun\'s environment (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK): ' +
        'msam launch --nproc 2 -- node train.js. A worker that fails stops the others.',
    )
    .argument('<command>', 'the program each worker runs')
    .argument('[args...]', 'its arguments')
    .passThroughOptions();
  for (const f of LAUNCH_FLAGS) cmd.option(f.flag, f.help);
  cmd.action(async (command: string, args: string[], opts: Record<string, unknown>) => {
    const launchOpts = launchOptionsFrom(opts) ?? { nproc: 1 };
    const r = await launch({ ...launchOpts, command, args });
    process.exitCode = r.exitCode;
  });
}
