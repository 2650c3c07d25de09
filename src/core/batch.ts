/**
 * The unit of work: records travel between steps as batches, never one by one.
 * A batch is a struct of parallel arrays so that a `map` allocates one new
 * array of values and shares the timestamps, and a keyed step reads keys that
 * the exchange already computed.
 */
import type { Key } from './key-groups.ts';

export interface Batch<T = unknown> {
  /** The records. */
  readonly values: readonly T[];
  /** Each record's event time in epoch milliseconds. */
  readonly times: readonly number[];
  /** Each record's key; set by a keyBy exchange, absent on unkeyed streams. */
  readonly keys?: readonly Key[] | undefined;
  /** Each record's key group; set together with `keys`. */
  readonly groups?: ArrayLike<number> | undefined;
  /**
   * Each record's watermark floor: the watermark its own source split had
   * reached before the record was read (`max seen - bound - 1` over the
   * split's earlier records), where the record is at or below it — a record
   * that broke its source's out-of-orderness bound. -Infinity for the others,
   * and the whole array absent when no record of the batch broke the bound
   * (the common case, so the hot path carries nothing).
   *
   * Steps judge lateness against the higher of their own watermark and the
   * record's floor. Their own watermark is the minimum over every input
   * channel, so it depends on how far other splits, subtasks and threads have
   * got when the record arrives; the floor depends only on the record's split.
   * Since a step's watermark never exceeds the floor of a record coming from a
   * single source, the floor decides: whether a record is late is the same at
   * any parallelism, with threads or without, for any batch size (issue 19).
   * Stateless steps carry floors along; steps that make new records do not.
   */
  readonly floors?: readonly number[] | undefined;
}

/** The watermark record `i` of `batch` is judged against: the step's, or the record's floor if higher. */
export function effectiveWatermark(
  floors: readonly number[] | undefined,
  i: number,
  watermark: number,
): number {
  if (floors === undefined) return watermark;
  const f = floors[i]!;
  return Math.max(f, watermark);
}

/** The default most records in one batch. */
export const DEFAULT_BATCH_SIZE = 1024;
/** The default longest a partly filled batch waits before it is flushed, in ms. */
export const DEFAULT_LINGER_MS = 5;
