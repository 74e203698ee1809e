// Where a worker finds its place in the group: the variables torchrun sets (and `msam launch`).
//   MASTER_ADDR, MASTER_PORT: rank 0's TCPStore; RANK, WORLD_SIZE: this process and the count;
//   LOCAL_RANK (optional): the rank on this machine, which picks the CUDA device.

export interface WorldEnv {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  localRank: number;
}

const intVar = (env: NodeJS.ProcessEnv, name: string, min: number): number => {
  const raw = env[name];
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(v) || v < min) {
    throw new RangeError(`dist: environment variable ${name} must be an integer ≥ ${min}, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
  }
  return v;
};

/** The world the environment describes, or null when WORLD_SIZE is unset (a plain single process). */
export function worldFromEnv(env: NodeJS.ProcessEnv = process.env): WorldEnv | null {
  if (env['WORLD_SIZE'] === undefined) return null;
  const worldSize = intVar(env, 'WORLD_SIZE', 1);
  const rank = intVar(env, 'RANK', 0);
  if (rank >= worldSize) throw new RangeError(`dist: RANK (${rank}) must be below WORLD_SIZE (${worldSize})`);
  const masterPort = env['MASTER_PORT'] === undefined ? 29500 : intVar(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new RangeError(`dist: environment variable MASTER_PORT must be a port (1..65535), got ${masterPort}`);
  const localRank = env['LOCAL_RANK'] === undefined ? rank : intVar(env, 'LOCAL_RANK', 0);
  return { masterAddr: env['MASTER_ADDR'] || '127.0.0.1', masterPort, rank, worldSize, localRank };
}

/** Set by msam's launcher in its workers' environment: a worker whose launcher is gone stops (lib/train/stop.ts). */
export const WATCH_PARENT_ENV = 'MSAM_WATCH_PARENT';
