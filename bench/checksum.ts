/**
 * The benches' result sink: it only adds what it gets into a checksum, so no
 * result is optimised away and runs can be compared (with and without a
 * mitigation, at parallelism 1 and more, in any order of results).
 */
import type { Sink } from '../src/core/connector.ts';

export interface Checksum {
  n: number;
  sum: number;
  hash?: number;
}

/**
 * Adds every result into `acc`: the count, `amount` of each, and with
 * `identity` an order-independent hash (a sum of per-result hashes of
 * `identity`, kept in 32 bits).
 */
export function checksumSink<T>(
  acc: Checksum,
  amount: (v: T) => number,
  identity?: (v: T) => number,
): Sink<T> {
  return {
    kind: 'checksum',
    guarantee: 'best-effort',
    open: () => ({
      write(values) {
        for (const v of values) {
          acc.n++;
          acc.sum += amount(v);
          if (identity !== undefined) acc.hash = ((acc.hash ?? 0) + mix(identity(v))) | 0;
        }
      },
    }),
  };
}

/** A 32-bit mix of a number (integers and fractions alike). */
export function mix(x: number): number {
  let h = Math.imul(x | 0, 0x9e3779b1) ^ ((x / 4294967296) | 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h;
}
