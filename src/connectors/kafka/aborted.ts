/**
 * read_committed done right. In read_committed a broker returns records up to
 * the last stable offset, aborted transactions' records included, plus the
 * list of aborted transactions (producer id, first offset) in the range; the
 * consumer must drop their records itself. @platformatic/kafka 2.12 keeps one
 * aborted range per producer and fetch response (the last), and none whose
 * abort marker is not in the same response, so when one producer aborts
 * several transactions in a row — what a Kafka application does on every
 * roll-back — records of the earlier ones reach the application.
 *
 * `committedReads` wraps a consumer's (public) `fetch`, which its message
 * streams call, with the filter of Kafka's Java consumer
 * (`CompletedFetch.nextFetchedRecord`): walk the batches in offset order; a
 * producer becomes "aborted" when the walk reaches its aborted transaction's
 * first offset, and stops being so at its abort marker; a transactional batch
 * of an aborted producer is dropped. Dropped batches keep their offsets and lose
 * their records, so a stream's position still moves past them (removing them
 * would make a response that ends inside an aborted transaction be fetched
 * again forever). Written here because the client has no hook for it; remove
 * when the client filters correctly.
 */
import type { Consumer } from '@platformatic/kafka';

/** Batch attribute bits and the control record type (Kafka's record batch format v2). */
const TRANSACTIONAL = 1 << 4;
const CONTROL = 1 << 5;
const ABORT_MARKER = 0;

export interface FetchedBatch {
  attributes: number;
  firstOffset: bigint;
  lastOffsetDelta: number;
  producerId: bigint;
  records: { key?: Buffer | null }[];
}

export interface FetchedPartition {
  abortedTransactions?: { producerId: bigint; firstOffset: bigint }[] | null;
  records?: FetchedBatch[] | null;
}

/** Empties, in place, the record batches of aborted transactions in one fetched partition. */
export function dropAborted(partition: FetchedPartition): number {
  const batches = partition.records;
  const aborted = [...(partition.abortedTransactions ?? [])].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
  );
  if (!batches || aborted.length === 0) return 0;
  const producers = new Set<bigint>();
  let next = 0;
  let dropped = 0;
  for (const batch of batches) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (next < aborted.length && aborted[next]!.firstOffset <= last)
      producers.add(aborted[next++]!.producerId);
    if ((batch.attributes & CONTROL) !== 0) {
      const key = batch.records[0]?.key;
      if (key && key.length >= 4 && key.readInt16BE(2) === ABORT_MARKER) producers.delete(batch.producerId);
      continue;
    }
    if ((batch.attributes & TRANSACTIONAL) !== 0 && producers.has(batch.producerId)) {
      dropped += batch.records.length;
      batch.records = [];
    }
  }
  return dropped;
}

const wrapped = new WeakSet<object>();

/** Makes `consumer` (read_committed) drop every aborted transaction's records. Returns it. */
export function committedReads<C extends Pick<Consumer, 'fetch'>>(consumer: C): C {
  if (wrapped.has(consumer)) return consumer;
  wrapped.add(consumer);
  const fetch = consumer.fetch.bind(consumer) as (o: unknown, cb: (e: unknown, r: unknown) => void) => void;
  type Response = { responses?: { partitions?: FetchedPartition[] }[] };
  const filter = (response: unknown) => {
    for (const topic of (response as Response | undefined)?.responses ?? [])
      for (const partition of topic.partitions ?? []) dropAborted(partition);
  };
  (consumer as { fetch: unknown }).fetch = (
    options: unknown,
    callback?: (e: unknown, r: unknown) => void,
  ) => {
    if (callback !== undefined) {
      fetch(options, (error, response) => {
        if (error === null || error === undefined) filter(response);
        callback(error, response);
      });
      return;
    }
    return new Promise((resolve, reject) => {
      fetch(options, (error, response) => {
        if (error !== null && error !== undefined) reject(error);
        else {
          filter(response);
          resolve(response);
        }
      });
    });
  };
  return consumer;
}
