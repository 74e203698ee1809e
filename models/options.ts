// Option checks shared by the model builders: every error names the model and the option
// ("resnet18: option 'numClasses' must be an integer of at least 1, got 0").

/** Reads a builder's options object: rejects unknown keys at once, then checks each value read. */
export class ModelOptions<T extends object> {
  readonly #model: string;
  readonly #opts: Partial<T>;

  constructor(model: string, opts: unknown, known: readonly (keyof T & string)[]) {
    this.#model = model;
    if (opts === undefined) opts = {};
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
      throw new TypeError(`${model}: options must be an object, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`);
    }
    const unknown = Object.keys(opts).filter((k) => !(known as readonly string[]).includes(k));
    if (unknown.length) {
      throw new TypeError(`${model}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${known.join(', ')})`);
    }
    this.#opts = opts as Partial<T>;
  }

  fail(name: keyof T & string, why: string, Err: ErrorConstructor = RangeError): never {
    throw new Err(`${this.#model}: option '${name}' ${why}`);
  }

  #value(name: keyof T & string): unknown {
    return this.#opts[name];
  }

  /** An integer of at least `min`; `fallback` when absent (undefined). Required when there is no fallback. */
  int(name: keyof T & string, fallback?: number, min = 1): number {
    const v = this.#value(name) ?? fallback;
    if (v === undefined) this.fail(name, 'is required', TypeError);
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(name, `must be an integer, got ${show(v)}`, TypeError);
    if (v < min) this.fail(name, `must be an integer of at least ${min}, got ${v}`);
    return v;
  }

  /** A number in [lo, hi] (a dropout probability, an epsilon). */
  number(name: keyof T & string, fallback: number, lo: number, hi: number): number {
    const v = this.#value(name) ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(name, `must be a finite number, got ${show(v)}`, TypeError);
    if (v < lo || v > hi) this.fail(name, `must be in [${lo}, ${hi}], got ${v}`);
    return v;
  }

  /** A boolean; `fallback` when absent. */
  flag(name: keyof T & string, fallback: boolean): boolean {
    const v = this.#value(name) ?? fallback;
    if (typeof v !== 'boolean') this.fail(name, `must be a boolean, got ${show(v)}`, TypeError);
    return v;
  }

  /** One of the allowed strings. */
  choice<const C extends string>(name: keyof T & string, allowed: readonly C[], fallback?: C): C {
    const v = this.#value(name) ?? fallback;
    if (v === undefined) this.fail(name, `is required (one of ${allowed.map((a) => `'${a}'`).join(', ')})`, TypeError);
    if (!(allowed as readonly unknown[]).includes(v)) {
      this.fail(name, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(v)}`);
    }
    return v as C;
  }

  /** A list of integers of at least `min` (may be empty). */
  ints(name: keyof T & string, fallback: number[], min = 1): number[] {
    const v = this.#value(name) ?? fallback;
    if (!Array.isArray(v)) this.fail(name, `must be an array of integers, got ${show(v)}`, TypeError);
    v.forEach((x: unknown, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < min) this.fail(name, `must hold integers of at least ${min}, got ${show(x)} at index ${i}`);
    });
    return [...(v as number[])];
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : String(v);
}
