/**
 * The unit of work: records travel between steps as batches, never one by one.
 * A batch is a struct of parallel arrays so that a `map` allocates one new
 * array of values and shares the timestamps, and a keyed step reads keys that
 * the exchange already computed.
 */
import type { Key } from '../state/key-groups.ts';

export interface Batch<T = unknown> {
  /** The records. */
  readonly values: readonly T[];
  /** Each record's event time in epoch milliseconds. */
  readonly times: readonly number[];
  /** Each record's key; set by a keyBy exchange, absent on unkeyed streams. */
  readonly keys?: readonly Key[] | undefined;
  /** Each record's key group; set together with `keys`. */
  readonly groups?: ArrayLike<number> | undefined;
}

/** The default most records in one batch. */
export const DEFAULT_BATCH_SIZE = 1024;
/** The default longest a partly filled batch waits before it is flushed, in ms. */
export const DEFAULT_LINGER_MS = 5;
