// Stop requests: the signals a run is stopped with (Ctrl-C; SIGTERM from Slurm, Kubernetes or
// `docker stop`; SIGUSR1, Slurm's warning before the time limit) and an AbortSignal. The first
// request lets the current step finish and the trainer write a checkpoint; a second of the same
// kind exits at once.
import { WATCH_PARENT_ENV } from '../distributed/env';

/** The signals a training run turns into "stop after this step with a checkpoint". */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGUSR1'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * The CLI's exit status after a stop on SIGTERM or SIGUSR1 with its checkpoint written: 75
 * (EX_TEMPFAIL, "try again later"), distinct from 143, which is a process killed by SIGTERM
 * before it could write anything. Ctrl-C (SIGINT) keeps the shell's 130.
 */
export const PREEMPTED_EXIT_CODE = 75;
export const INTERRUPTED_EXIT_CODE = 130;

const NUMBERS: Record<StopSignal, number> = { SIGINT: 2, SIGTERM: 15, SIGUSR1: 10 };

/** The exit status for a run stopped by `signal` (null: an AbortSignal or another rank). */
export const exitCodeFor = (signal: StopSignal | null): number => (signal === 'SIGINT' ? INTERRUPTED_EXIT_CODE : PREEMPTED_EXIT_CODE);

/**
 * Whether this process's parent is a wrapper that can die without passing a signal on, so that
 * its disappearance must count as SIGTERM: npm's `npx` / `npm exec` / `npm run` (npm 11 does pass
 * SIGTERM on, tested; killed with SIGKILL it cannot, and msam would train on as an orphan), or
 * msam's launcher killed with SIGKILL (its workers run in their own process group). A plain
 * `msam train &` whose shell exits is not watched: it is meant to go on.
 */
const parentIsWrapper = (): boolean => process.env['npm_lifecycle_script'] !== undefined || process.env[WATCH_PARENT_ENV] === '1';
const PARENT_POLL_MS = 500;

/**
 * Listens for STOP_SIGNALS while a run trains. `onRequest(name)` is called once, on the first;
 * a second signal exits the process at once with 128 + its number. Under a wrapper
 * (parentIsWrapper), the parent's exit is a SIGTERM.
 */
export function listenForStop(onRequest: (signal: StopSignal) => void, onSecond: () => void): () => void {
  let first: StopSignal | null = null;
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = () => {
      if (first !== null) {
        onSecond();
        process.stderr.write(`msam: second ${signal}: exiting without waiting for the checkpoint\n`);
        process.exit(128 + NUMBERS[signal]);
      }
      first = signal;
      onRequest(signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  const parent = process.ppid;
  const watch = parentIsWrapper()
    ? setInterval(() => {
        if (process.ppid === parent) return;
        clearInterval(watch);
        process.stderr.write(`msam: the parent process (${process.env[WATCH_PARENT_ENV] === '1' ? "msam's launcher" : "npm's npx / npm exec wrapper"}) exited without passing a signal on: stopping as on SIGTERM\n`);
        if (first === null) process.emit('SIGTERM', 'SIGTERM');
      }, PARENT_POLL_MS)
    : undefined;
  watch?.unref();
  return () => {
    if (watch !== undefined) clearInterval(watch);
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
