/**
 * A small log-linear histogram for non-negative integers (HDR-style: 32
 * linear sub-buckets per power of two, so about 3% relative error), fixed
 * size, O(1) to record.
 *
 * Written here instead of using hdr-histogram-js because that library decodes
 * its WebAssembly build on import, which cost ~330 ms per process on this
 * machine — for every CLI run and test file — while a per-step metric needs
 * only a percentile and a max.
 */
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
const MAGNITUDES = 40; // values up to ~2^44

export class Histogram {
  readonly #counts = new Float64Array(MAGNITUDES * SUB);
  #total = 0;
  #max = 0;

  record(value: number): void {
    const v = value < 0 ? 0 : Math.floor(value);
    if (v > this.#max) this.#max = v;
    this.#total++;
    this.#counts[indexOf(v)]!++;
  }

  get count(): number {
    return this.#total;
  }

  get max(): number {
    return this.#max;
  }

  /** The value at percentile `p` (0-100): the upper bound of the bucket that holds it, capped at the max. */
  percentile(p: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#total));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(upperBound(i), this.#max);
    }
    return this.#max;
  }
}

function indexOf(v: number): number {
  if (v < SUB) return v;
  const magnitude = Math.floor(Math.log2(v)) - SUB_BITS + 1;
  const sub = Math.floor(v / 2 ** magnitude) - SUB;
  return Math.min((magnitude + 1) * SUB + sub, MAGNITUDES * SUB - 1);
}

function upperBound(index: number): number {
  if (index < SUB) return index;
  const magnitude = Math.floor(index / SUB) - 1;
  const sub = (index % SUB) + SUB;
  return (sub + 1) * 2 ** magnitude - 1;
}
