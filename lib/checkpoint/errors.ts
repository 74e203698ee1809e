// The one error class of lib/checkpoint: every message names the operation and the file.

/** A checkpoint file (or its metadata sidecar) that cannot be written or read. `file` is that file. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** `${op}: ${file}: ${detail}`, the shape of every checkpoint error message. */
export function fail(op: string, file: string, detail: string, cause?: unknown): CheckpointError {
  return new CheckpointError(file, `${op}: ${file}: ${detail}`, cause === undefined ? undefined : { cause });
}

/** A filesystem error's own text (errno code and syscall), for wrapping. */
export function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
