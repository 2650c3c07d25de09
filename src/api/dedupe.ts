/**
 * The idempotent-consumer pattern as a step: drop records whose id was seen
 * within a time-to-live, for at-least-once sources (a broker that redelivers,
 * a producer that retries, an outbox relayed twice). Built from the DSL's
 * own parts — `keyBy` the id, one value of keyed state per id, an
 * event-time timer that forgets it — so the dedup store is checkpointed,
 * restored and rescaled like any keyed state.
 */

import type { Key } from '../core/key-groups.ts';
import { configError } from '../errors/index.ts';
import { valueState } from '../state/handles.ts';
import type { ProcessedStream, Stream } from './stream.ts';
import { checkDuration } from './windows.ts';

export interface DedupeOptions<T, K extends Key> {
  /** The message id: records with the same id within `ttlMs` are copies. */
  readonly id: (value: T) => K;
  /**
   * How long (ms of event time) an id is remembered after the copy that
   * was let through: a later copy with an event time at least `ttlMs` after
   * it passes as new, and the id's state is dropped once the watermark is
   * `ttlMs` past it. Size it to the longest redelivery delay.
   */
  readonly ttlMs: number;
  /** The step's id (default `dedupe-N`). */
  readonly name?: string;
}

/**
 * Lets the first record of each id through and drops copies whose event
 * time is less than `ttlMs` after it (Flink's deduplication with state TTL;
 * the idempotent consumer of microservice patterns). The decision is by
 * event time, in the order records of one id arrive, so results are the
 * same at any parallelism and after a restore from a checkpoint (the seen
 * ids are keyed state). Memory: one number per id seen in the last `ttlMs`
 * of event time. A copy that arrives after the watermark has passed the
 * first's time + `ttlMs` (later than the source's out-of-orderness allows)
 * finds its id forgotten and passes.
 *
 * @example
 * ```ts
 * const payments = p.source('payments', kafkaSource<Payment>({ topics: ['payments'], groupId: 'ledger' }));
 * dedupe(payments, { id: (m) => m.messageId, ttlMs: 24 * 3600_000 })
 *   .sink(postgresSink({ connectionString, table: 'ledger', mode: 'insert' }));
 * ```
 */
export function dedupe<T, K extends Key>(
  stream: Stream<T>,
  options: DedupeOptions<T, K>,
): ProcessedStream<T> {
  if (typeof options?.id !== 'function')
    throw configError('dedupe needs an id function', options?.id, 'pass id: (m) => m.messageId');
  const ttl = checkDuration('dedupe ttlMs', options?.ttlMs, { example: '3_600_000 for 1 h' });
  const name = options.name;
  return stream
    .keyBy(options.id, name === undefined ? undefined : `${name}.key`)
    .withState({ first: valueState<number>() })
    .process<T>(
      {
        processElement(value, ctx) {
          const first = ctx.state.first.get();
          const t = ctx.timestamp;
          if (first !== undefined && t - first < ttl) return;
          ctx.state.first.set(t);
          ctx.timers.registerEventTime(t + ttl);
          ctx.emit(value);
        },
        onTimer(time, _domain, ctx) {
          const first = ctx.state.first.get();
          // A later copy that passed re-armed the id: only its own timer forgets it.
          if (first !== undefined && first + ttl <= time) ctx.state.first.clear();
        },
      },
      name === undefined ? {} : { name },
    );
}
