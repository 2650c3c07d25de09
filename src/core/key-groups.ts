/**
 * Key groups: the unit in which keyed state is partitioned, snapshotted and
 * moved. Every key hashes to one of `maxParallelism` key groups, fixed for the
 * life of a pipeline's state; a worker owns a contiguous range of them, so a
 * change of parallelism re-splits ranges without rehashing a single key
 * (Flink's key-group design).
 */

/** A key of a keyed stream. Strings and numbers hash stably across processes and restarts. */
export type Key = string | number;

/** The default number of key groups, and so the largest parallelism a pipeline's state can be split to. */
export const DEFAULT_MAX_PARALLELISM = 128;

/**
 * The 32-bit hash of a key. Written out (murmur3's finaliser over UTF-16 code
 * units) rather than taken from a library because it runs once per record on the
 * hot path and must give the same value in every process and release: a change
 * here would scatter every saved state.
 */
export function hashKey(key: Key): number {
  if (typeof key === 'number') {
    if (Number.isInteger(key) && key >= -0x80000000 && key <= 0x7fffffff) return fmix(key | 0);
    return hashString(String(key));
  }
  return hashString(key);
}

function hashString(s: string): number {
  let h = 0x9747b28c ^ s.length;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix(h);
}

function fmix(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The key group a key belongs to, in `[0, maxParallelism)`. */
export function keyGroupOf(key: Key, maxParallelism: number): number {
  return hashKey(key) % maxParallelism;
}

/**
 * The key groups worker `index` of `parallelism` owns: a contiguous range, so
 * that rescaling moves whole ranges.
 *
 * @example
 * ```ts
 * keyGroupRange(128, 2, 1); // { start: 64, end: 128 }
 * ```
 */
export function keyGroupRange(
  maxParallelism: number,
  parallelism: number,
  index: number,
): { start: number; end: number } {
  const start = Math.ceil((index * maxParallelism) / parallelism);
  const end = Math.ceil(((index + 1) * maxParallelism) / parallelism);
  return { start, end };
}

/** Which of `parallelism` workers owns key group `keyGroup`. */
export function workerForKeyGroup(maxParallelism: number, parallelism: number, keyGroup: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}

/**
 * Which subtask owns each key group: `table[g]` for g in `[0, maxParallelism)`.
 * The default gives each subtask its contiguous range (`workerForKeyGroup`);
 * a rebalanced run (issue 18) moves single groups, so any table whose entries
 * are all in `[0, parallelism)` is valid: a group's state goes wherever the
 * table says when the run resumes from a checkpoint.
 */
export type Assignment = Int32Array;

/** The contiguous assignment of `maxParallelism` key groups to `parallelism` subtasks. */
export function contiguousAssignment(maxParallelism: number, parallelism: number): Assignment {
  const table = new Int32Array(maxParallelism);
  for (let g = 0; g < maxParallelism; g++) table[g] = workerForKeyGroup(maxParallelism, parallelism, g);
  return table;
}

/** Whether `table` assigns every one of `maxParallelism` key groups to one of `parallelism` subtasks. */
export function validAssignment(
  table: ArrayLike<number>,
  maxParallelism: number,
  parallelism: number,
): boolean {
  if (table.length !== maxParallelism) return false;
  for (let g = 0; g < maxParallelism; g++) {
    const k = table[g]!;
    if (!Number.isInteger(k) || k < 0 || k >= parallelism) return false;
  }
  return true;
}
