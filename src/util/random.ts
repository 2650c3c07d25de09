/**
 * A small seeded PRNG (sfc32). Written here rather than imported because the
 * generator calls it per record and must snapshot and restore its exact state
 * (four 32-bit words) for checkpoints; sfc32 passes PractRand and is fast in JS.
 */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed | 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** The state, to restore the exact sequence later. */
  get state(): [number, number, number, number] {
    return [this.#a, this.#b, this.#c, this.#d];
  }

  set state(s: readonly [number, number, number, number]) {
    [this.#a, this.#b, this.#c, this.#d] = s;
  }
}
