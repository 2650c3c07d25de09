/**
 * In-memory sources and sinks: a source over an array, and a sink that
 * collects what reaches it. For tests, examples and small jobs.
 */
import type { Sink, Source } from '../../core/connector.ts';

/**
 * A bounded source over an array, in batches.
 *
 * @example
 * ```ts
 * p.source('numbers', arraySource([1, 2, 3]));
 * ```
 */
export function arraySource<T>(values: readonly T[], times?: readonly number[]): Source<T> {
  return {
    kind: 'array',
    // Given times, it gives event time of its own (a window needs no timestamp option).
    ...(times === undefined ? {} : { eventTimes: true }),
    open(ctx) {
      let next = typeof ctx.restored === 'number' ? ctx.restored : 0;
      return {
        position: () => next,
        poll(max) {
          if (next >= values.length) return null;
          const end = Math.min(values.length, next + max);
          const batch = {
            values: values.slice(next, end),
            ...(times === undefined ? {} : { times: times.slice(next, end) }),
          };
          next = end;
          return batch;
        },
      };
    },
  };
}

/** A sink that keeps every record (and its event time) in memory. */
export interface CollectSink<T> extends Sink<T> {
  /** The records received so far, in arrival order. */
  readonly values: T[];
  /** Their event times. */
  readonly times: number[];
}

/**
 * Makes a collecting sink.
 *
 * @example
 * ```ts
 * const out = collectSink<number>();
 * p.source('n', arraySource([1, 2])).map((x) => x * 2).sink(out);
 * await p.run(); // out.values is [2, 4]
 * ```
 */
export function collectSink<T>(): CollectSink<T> {
  const values: T[] = [];
  const times: number[] = [];
  return {
    kind: 'collect',
    guarantee: 'best-effort',
    values,
    times,
    open: () => ({
      write(batch, batchTimes) {
        for (let i = 0; i < batch.length; i++) {
          values.push(batch[i]!);
          times.push(batchTimes[i]!);
        }
      },
    }),
  };
}
