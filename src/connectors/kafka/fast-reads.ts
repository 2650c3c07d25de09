/**
 * Fetched records handed over a fetch response at a time, without the
 * client's per-record message objects (issue 15, Kafka decoding).
 *
 * @platformatic/kafka 2.12's message stream turns every fetched record into
 * a message: a copy of the record, a bound `commit`, a headers `Map` and a
 * list of header entries, a metadata object, a diagnostics context, and a
 * `push` through the Readable's buffer and a `data` event. Measured on this
 * machine (1M records of 150 bytes, one partition, one core): the stream
 * hands out 0.37–0.64 M records/s at 1.35–1.39 s of CPU, the same fetches
 * read from their responses 0.82–0.84 M/s at 0.97–1.03 s. No option of the
 * client skips that work, so eddy takes the records itself.
 *
 * `fastReads(consumer)` wraps the consumer's (public) `fetch`, which its
 * streams call (after `committedReads`, so aborted transactions are dropped
 * first). A stream `attach`ed with a handler then gets, per response, the
 * records of each partition it asked for, from the offset it asked for (what
 * the stream would have handed out: no control records, none before the
 * fetch offset, none of partitions lingering in a fetch session), as light
 * `FetchedMessage`s, in order; their batches are left empty, so the stream
 * still moves its positions past them and fetches on (as aborted.ts does).
 * A stream is known by the connection pool it fetches with; one not
 * attached, or any stream when the client's internals are not what this
 * expects (`attach` returns false), keeps the client's own path, so a
 * client update can make reading slower but not wrong.
 *
 * The stream schedules its next fetch whenever it pushed nothing, so its
 * readable buffer no longer throttles it: the handler must pause the stream
 * when its own buffer is full (both readers do).
 */
import type { Consumer } from '@platformatic/kafka';
import type { FetchedMessage } from './fetched.ts';

export type { FetchedMessage } from './fetched.ts';

const CONTROL = 1 << 5;
const NO_HEADERS: ReadonlyMap<Buffer, Buffer> = new Map();
/** The symbol the client keeps a client's or stream's connection pool under (its description). */
const POOL_SYMBOL = 'plt.kafka.base.connections';

interface RawRecord {
  offsetDelta: number;
  timestampDelta: bigint | number;
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: [Buffer | null, Buffer | null][];
}
interface RawBatch {
  attributes: number;
  firstOffset: bigint;
  firstTimestamp: bigint;
  partitionLeaderEpoch: number;
  records: RawRecord[];
}
interface RawResponse {
  responses?: {
    topicId?: string;
    topic?: string;
    partitions?: { partitionIndex: number; records?: RawBatch[] | null }[];
  }[];
}
interface FetchOptions {
  connectionPool?: object;
  topics?: { topicId?: string; topic?: string; partitions?: { partition: number; fetchOffset: bigint }[] }[];
}
type Handler = (records: FetchedMessage[]) => void;
type Callback = (e: unknown, r: unknown) => void;

export interface FastReads {
  /**
   * Hands `stream`'s fetched records to `handler` from now on, instead of
   * its `data` events; false (nothing changed) when the stream's pool cannot
   * be found, and the caller keeps reading `data` events.
   */
  attach(stream: object, handler: Handler): boolean;
}

const made = new WeakMap<object, FastReads>();

function poolOf(stream: object): object | undefined {
  for (const s of Object.getOwnPropertySymbols(stream))
    if (s.description === POOL_SYMBOL) {
      const pool = (stream as Record<symbol, unknown>)[s];
      return typeof pool === 'object' && pool !== null ? pool : undefined;
    }
  return undefined;
}

/** Wraps `consumer.fetch` once (see the module's comment); returns how streams attach. */
export function fastReads(consumer: Pick<Consumer, 'fetch' | 'metadata' | 'topics'>): FastReads {
  const existing = made.get(consumer);
  if (existing !== undefined) return existing;
  // Keyed by pool, weakly: a closed stream's pool goes with it.
  const handlers = new WeakMap<object, Handler>();
  const names = new Map<string, string>();
  const fetch = consumer.fetch.bind(consumer) as (o: unknown, cb: Callback) => void;
  const take = (options: FetchOptions, response: RawResponse, handler: Handler) => {
    const asked = new Map<string, bigint>();
    for (const t of options.topics ?? [])
      for (const p of t.partitions ?? []) asked.set(`${t.topicId ?? t.topic}:${p.partition}`, p.fetchOffset);
    const out: FetchedMessage[] = [];
    for (const t of response.responses ?? []) {
      const id = t.topicId ?? t.topic;
      const topic = t.topic ?? (t.topicId === undefined ? undefined : names.get(t.topicId));
      if (id === undefined || topic === undefined) continue; // the stream's own path hands these out
      for (const p of t.partitions ?? []) {
        const from = asked.get(`${id}:${p.partitionIndex}`);
        if (from === undefined || !p.records) continue; // not asked for: the stream skips it too
        for (const batch of p.records) {
          if ((batch.attributes & CONTROL) !== 0) continue;
          const records = batch.records;
          for (let i = 0; i < records.length; i++) {
            const r = records[i]!;
            const offset = batch.firstOffset + BigInt(r.offsetDelta);
            if (offset < from) continue;
            const h = r.headers;
            let headers = NO_HEADERS;
            if (h !== undefined && h.length > 0) {
              const m = new Map<Buffer, Buffer>();
              for (const [k, v] of h) if (k !== null && v !== null) m.set(k, v);
              headers = m;
            }
            out.push({
              topic,
              partition: p.partitionIndex,
              offset,
              timestamp: batch.firstTimestamp + BigInt(r.timestampDelta),
              leaderEpoch: batch.partitionLeaderEpoch,
              key: r.key ?? undefined,
              value: r.value ?? undefined,
              headers,
            });
          }
          batch.records = [];
        }
      }
    }
    if (out.length > 0) handler(out);
  };
  (consumer as { fetch: unknown }).fetch = (options: FetchOptions, callback?: Callback) => {
    const handler = options?.connectionPool === undefined ? undefined : handlers.get(options.connectionPool);
    if (handler === undefined || callback === undefined)
      return (fetch as (o: unknown, cb?: Callback) => unknown)(options, callback);
    // Topic ids to names from the client's metadata (cached: the stream asked for it just before).
    consumer.metadata({ topics: consumer.topics.current }, (error, metadata) => {
      if ((error === null || error === undefined) && metadata !== undefined)
        for (const [name, t] of metadata.topics) if (t.id !== undefined) names.set(t.id, name);
      fetch(options, (e, response) => {
        if (e === null || e === undefined) take(options, response as RawResponse, handler);
        callback(e, response);
      });
    });
  };
  const reads: FastReads = {
    attach(stream, handler) {
      const pool = poolOf(stream);
      if (pool === undefined) return false;
      handlers.set(pool, handler);
      return true;
    },
  };
  made.set(consumer, reads);
  return reads;
}
