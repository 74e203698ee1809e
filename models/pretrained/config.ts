// Reading fields of a config.json with errors that name the field and the file.
import { PretrainedError } from './errors';

export class ConfigReader {
  constructor(
    readonly config: Record<string, unknown>,
    readonly where: string,
  ) {}

  #bad(key: string, why: string): never {
    throw new PretrainedError('BAD_CONFIG', this.where, `config.json: '${key}' ${why}`);
  }

  int(key: string, fallback?: number, min = 1): number {
    const v = this.config[key] ?? fallback;
    if (v === undefined) this.#bad(key, 'is required');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.#bad(key, `must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  number(key: string, fallback: number, lo: number, hi: number): number {
    const v = this.config[key] ?? fallback;
    if (typeof v !== 'number' || !(v >= lo && v <= hi)) this.#bad(key, `must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return v;
  }

  string(key: string, fallback?: string): string {
    const v = this.config[key] ?? fallback;
    if (typeof v !== 'string') this.#bad(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A field that must be one of `allowed`, or the architecture is one msam does not build. */
  only(key: string, fallback: string, allowed: string[]): string {
    const v = this.string(key, fallback);
    if (!allowed.includes(v)) {
      throw new PretrainedError('UNKNOWN_ARCH', this.where, `config.json: '${key}' is ${JSON.stringify(v)}; msam builds only ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    }
    return v;
  }
}
