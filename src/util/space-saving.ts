/**
 * The heaviest keys of a stream, in bounded memory: the Space-Saving sketch
 * (Metwally, Agrawal and El Abbadi, ICDT 2005) over a sample of the records,
 * with exponential decay so it follows the recent load (issue 18: hot-key
 * detection per keyed step).
 *
 * - `capacity` counters. A key not held replaces the smallest counter and
 *   inherits its count (+1); that count's overestimate is kept as `error`.
 *   Any key whose true share of the (sampled) load exceeds 1/capacity is
 *   held, and `count - error ≤ true count ≤ count`.
 * - Sampling: each batch looks at about one record in `stride`, at random
 *   gaps (so a key pattern with a period cannot alias with the sample). A
 *   key's share of the sample estimates its share of the load; with 1/8 of a
 *   busy step's records the standard error is far below the shares that
 *   matter (≥ 1%).
 * - Decay: every `halfLife` sampled records all counts halve, so a key that
 *   was hot a minute ago fades out, as a sliding interval would, without
 *   keeping the interval's records.
 *
 * No library here: the npm sketches found (e.g. `bloom-filters`' TopK,
 * count-min with a heap) allocate per update or keep no error bound; this is
 * 100 lines with a fixed cost per sampled record (a Map lookup; on a miss one
 * scan of `capacity` counters).
 *
 * @example
 * ```ts
 * const s = new SpaceSaving({ capacity: 32, stride: 8 });
 * s.offer(batch.keys);
 * s.top(5);   // [{ key: 'k42', count: 1200, error: 0 }, ...], heaviest first
 * s.total;    // the sampled (decayed) records they are a share of
 * ```
 */

export interface HeavyKey<K> {
  readonly key: K;
  /** Sampled, decayed count; an upper bound of the true one. */
  readonly count: number;
  /** How much of `count` may belong to keys this counter held before. */
  readonly error: number;
}

export interface SpaceSavingOptions {
  /** Counters kept (default 32): keys above 1/capacity of the load are always found. */
  readonly capacity?: number;
  /** About one record in `stride` is looked at (default 8; 1 looks at all). */
  readonly stride?: number;
  /** Sampled records after which every count halves (default 50,000). */
  readonly halfLife?: number;
  /**
   * After `widenAfter` sampled records, look at about one record in
   * `maxStride` instead (default: never): a short run is sampled densely, a
   * long busy one cheaply. The half-life in sampled records shrinks by the
   * same factor, so it spans as many records as before.
   */
  readonly maxStride?: number;
  readonly widenAfter?: number;
  /** Seed of the sampling gaps (default 1): the same input in the same batches gives the same sketch. */
  readonly seed?: number;
}

export class SpaceSaving<K> {
  readonly #capacity: number;
  #stride: number;
  #halfLife: number;
  readonly #maxStride: number;
  #widenIn: number;
  // Counters in flat arrays (no allocation per update; the min scan reads one typed array).
  readonly #keys: (K | undefined)[];
  readonly #count: Float64Array;
  readonly #error: Float64Array;
  readonly #index = new Map<K, number>();
  #size = 0;
  #total = 0;
  #sinceDecay = 0;
  /** Where the next sampled record is, counted from the start of the next batch. */
  #next = 0;
  #rand: number;

  constructor(options: SpaceSavingOptions = {}) {
    this.#capacity = Math.max(1, options.capacity ?? 32);
    this.#stride = Math.max(1, options.stride ?? 8);
    this.#halfLife = Math.max(1, options.halfLife ?? 50_000);
    this.#maxStride = Math.max(this.#stride, options.maxStride ?? this.#stride);
    this.#widenIn = options.widenAfter ?? Number.POSITIVE_INFINITY;
    this.#rand = (options.seed ?? 1) >>> 0 || 1;
    this.#keys = new Array<K | undefined>(this.#capacity);
    this.#count = new Float64Array(this.#capacity);
    this.#error = new Float64Array(this.#capacity);
    this.#next = this.#gap() - 1;
  }

  /** The sampled (decayed) number of records the counts are a share of. */
  get total(): number {
    return this.#total;
  }

  /** Looks at a sample of `keys` (a batch's keys, in order). */
  offer(keys: ArrayLike<K>): void {
    let i = this.#next;
    const n = keys.length;
    for (; i < n; i += this.#gap()) this.#add(keys[i]!);
    this.#next = i - n;
  }

  /** The `k` heaviest keys held, heaviest first. */
  top(k: number): HeavyKey<K>[] {
    const out: HeavyKey<K>[] = [];
    for (let i = 0; i < this.#size; i++)
      out.push({ key: this.#keys[i]!, count: this.#count[i]!, error: this.#error[i]! });
    return out.sort((a, b) => b.count - a.count).slice(0, k);
  }

  #add(key: K): void {
    this.#total++;
    const held = this.#index.get(key);
    if (held !== undefined) this.#count[held]!++;
    else if (this.#size < this.#capacity) {
      const i = this.#size++;
      this.#keys[i] = key;
      this.#count[i] = 1;
      this.#error[i] = 0;
      this.#index.set(key, i);
    } else {
      const count = this.#count;
      let m = 0;
      for (let i = 1; i < count.length; i++) if (count[i]! < count[m]!) m = i;
      this.#index.delete(this.#keys[m]!);
      this.#keys[m] = key;
      this.#index.set(key, m);
      this.#error[m] = count[m]!;
      count[m]!++;
    }
    if (++this.#sinceDecay >= this.#halfLife) this.#decay();
    if (--this.#widenIn <= 0 && this.#stride < this.#maxStride) this.#widen();
  }

  #widen(): void {
    this.#halfLife = Math.max(1, Math.round((this.#halfLife * this.#stride) / this.#maxStride));
    this.#stride = this.#maxStride;
  }

  #decay(): void {
    this.#sinceDecay = 0;
    this.#total /= 2;
    for (let i = 0; i < this.#size; i++) {
      this.#count[i]! /= 2;
      this.#error[i]! /= 2;
    }
  }

  /** A gap from 1 to 2·stride − 1, mean `stride` (xorshift32). */
  #gap(): number {
    if (this.#stride === 1) return 1;
    let x = this.#rand;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#rand = x >>> 0;
    return 1 + (this.#rand % (2 * this.#stride - 1));
  }
}
