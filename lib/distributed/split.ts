// How a global batch of B examples and m shards is divided among the ranks so that the shards are
// exactly those one process would make. One process splits B into m shards as tensor_split does:
// the first B mod m have ⌈B/m⌉ examples, the rest ⌊B/m⌋. Rank r takes a contiguous run of those
// shards (the shards themselves split among the ranks the same way); since sizes never grow along
// the run, tensor_split of the rank's examples into its number of shards gives the same shards.

/** [start, end) of piece `i` when `n` things are split into `parts` as tensor_split does. */
export function splitRange(n: number, parts: number, i: number): [number, number] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const start = i * base + Math.min(i, extra);
  return [start, start + base + (i < extra ? 1 : 0)];
}

export interface RankShare {
  /** The rank's examples: [start, end) of the global batch. */
  start: number;
  end: number;
  /** Its shards (the local m); the ranks' add up to the global m. */
  m: number;
}

/** Rank `rank`'s share of a global batch of `batchSize` examples in `m` shards over `worldSize` ranks. */
export function rankShare(batchSize: number, m: number, worldSize: number, rank: number): RankShare {
  if (m < worldSize) {
    throw new RangeError(`dist: m (${m} shards) must be at least the number of processes (${worldSize}): each rank runs whole shards`);
  }
  if (m > batchSize) throw new RangeError(`dist: m (${m}) exceeds the batch size ${batchSize}`);
  const [s0, s1] = splitRange(m, worldSize, rank);
  const start = splitRange(batchSize, m, s0)[0];
  const end = s1 === m ? batchSize : splitRange(batchSize, m, s1)[0];
  return { start, end, m: s1 - s0 };
}
