// The one error class of models.fromPretrained / savePretrained: a code a program can test, the
// path it is about, and a message that names the fault (and every key concerned).

export type PretrainedErrorCode =
  /** A folder without config.json (and no `arch` to say what it holds). */
  | 'NO_CONFIG'
  /** config.json unreadable, or a field it needs absent or of the wrong kind. */
  | 'BAD_CONFIG'
  /** An architecture msam does not build (or a variant of one: another position embedding, activation...). */
  | 'UNKNOWN_ARCH'
  /** No safetensors weights where the layout says (or only a pickle, which msam does not read). */
  | 'NO_WEIGHTS'
  /** A weights file or shard that is truncated, corrupt, or disagrees with its index. */
  | 'BAD_WEIGHTS'
  /** A tensor whose shape disagrees with the configuration. */
  | 'SHAPE_MISMATCH'
  /** Missing, unexpected or re-initialized keys under `strict`. */
  | 'KEY_MISMATCH'
  /** An option of fromPretrained / savePretrained out of range. */
  | 'BAD_OPTION';

export class PretrainedError extends Error {
  override readonly name = 'PretrainedError';
  constructor(
    readonly code: PretrainedErrorCode,
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${message}`, options);
  }
}
