// A small seeded PRNG in JavaScript for data order and augmentation (xoshiro128**, seeded through
// splitmix32). It never touches libtorch's generators, so building a batch on the main thread
// while a training step runs on a worker thread changes no random stream, and every stream is a
// pure function of (seed, keys): epoch e's order and batch k's augmentation can be recomputed at
// any step, which is what makes a run resumable mid-epoch.

/** splitmix32: one 32-bit output per call; used to expand a seed into a state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** murmur3's finalizer: mixes one 32-bit word into a hash. */
function mix(h: number, word: number): number {
  let k = Math.imul(word | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  return h;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Words of a key: a string's UTF-16 code units, or a number's low and high 32 bits. */
function words(key: number | string): number[] {
  if (typeof key === 'string') return [key.length, ...Array.from(key, (c) => c.charCodeAt(0))];
  if (!Number.isSafeInteger(key)) throw new RangeError(`Rng: keys must be safe integers or strings, got ${key}`);
  const lo = key >>> 0;
  const hi = Math.floor(key / 2 ** 32) | 0;
  return [lo, hi];
}

export class Rng {
  readonly #s = new Uint32Array(4);

  /** A generator seeded by an integer (any safe integer) and optional keys: Rng.of(seed, 'shuffle', epoch). */
  constructor(seed: number, ...keys: (number | string)[]) {
    let h = 0x6d73616d; // 'msam'
    for (const key of [seed, ...keys]) for (const w of words(key)) h = mix(h, w);
    const st = { s: fmix(h) };
    for (let i = 0; i < 4; i++) this.#s[i] = splitmix32(st);
    if ((this.#s[0]! | this.#s[1]! | this.#s[2]! | this.#s[3]!) === 0) this.#s[0] = 1; // never the all-zero state
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    let s0 = s[0]!, s1 = s[1]!, s2 = s[2]!, s3 = s[3]!;
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3 >>> 0, 11);
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    return result;
  }

  /** A uniform number in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextU32() / 2 ** 32;
  }

  /** A uniform integer in [0, n), unbiased (rejection sampling); n ≤ 2^32. */
  int(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= 2 ** 32)) throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffles in place (Fisher–Yates) and returns the array. */
  shuffle<A extends { length: number; [i: number]: number }>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** The four state words (to save); `Rng.fromState` restores them. */
  get state(): [number, number, number, number] {
    return [this.#s[0]!, this.#s[1]!, this.#s[2]!, this.#s[3]!];
  }

  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w >= 2 ** 32) || state.every((w) => w === 0)) {
      throw new RangeError(`Rng.fromState: expected four 32-bit unsigned words, not all zero, got [${state.join(', ')}]`);
    }
    const r = new Rng(0);
    r.#s.set(state);
    return r;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A random permutation of 0..n-1 from `rng`. */
export function permutation(n: number, rng: Rng): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return rng.shuffle(a);
}
