/**
 * The forwarding task of a Kafka application whose source repartitions
 * (`app.source({ keyBy })`): it reads an input partition and sends each
 * record, keyed, to the repartition topic inside the task's transactions,
 * with the input offsets; the key-group tasks read them (app-source.ts).
 *
 * Event time crosses as it does between stages (carried.ts, Flink's Kafka
 * shuffle): each record goes with its event time (the pipeline source's
 * `timestamp`) in a header (its Kafka timestamp stays the input's: a broker
 * refuses timestamps an hour or more ahead of its clock) and, when it was
 * late in its input partition, its floor; with each commit the task writes its partition's
 * watermark (the highest event time so far less `maxOutOfOrderness` and 1,
 * as the embedded source judges a split) into every key-group partition, or
 * that it went idle (`idleTimeout`). A key-group task takes the lowest over
 * the input partitions, so a record on time where it was read is on time
 * where it is counted, however the forwarding tasks' records mix: judged
 * on the mixed stream instead, a 1 s bound lost counts on three instances
 * at 20,000 records/s (BENCHMARKS.md, `skew-kafka-combine --rate`).
 */

import { kafkaPartition } from '../../connectors/kafka/app-options.ts';
import { floorHeader, markerMessage, timeHeader } from '../../connectors/kafka/carried.ts';
import { errorText } from '../../connectors/kafka/errors.ts';
import { REJECT_HEADER_KEY, SOURCE_HEADER_KEY } from '../../connectors/kafka/forwarded.ts';
import { aloneBytes, fitsAlone, fitToLimit } from '../../connectors/kafka/topics.ts';
import type { Key } from '../../core/key-groups.ts';
import { type AppSourceConfig, type Decoded, decodeRecord } from './app-source.ts';
import { type PartitionTask, type TxMessage, TxWriter } from './task.ts';

/** What the forwarder needs of its application. */
export interface ForwarderLinks {
  readonly repartitionTopic: string;
  /** The key-group partitions (the repartition topic's). */
  readonly partitions: number;
  /** The largest record a topic takes. */
  readonly limitOf: (topic: string) => number;
  /** How often (ms) it commits what it forwarded. */
  readonly intervalMs: number;
  /** Called after records were taken: the application may resume a paused fetch. */
  readonly resume: () => void;
  /** How the pipeline's source takes event time; undefined: the records' Kafka timestamps, no bound. */
  readonly eventTime: ForwardedEventTime | undefined;
  /** This task's index over all input partitions, and their number: its markers' `from` and `of`. */
  readonly from: number;
  readonly of: number;
}

/** The pipeline source's event-time options (`SourceOptions`), as the forwarder applies them. */
export interface ForwardedEventTime {
  readonly timestamp: ((value: unknown) => number) | undefined;
  readonly maxOutOfOrderness: number;
  readonly idleTimeout: number;
}

/**
 * One input partition's event time as the embedded source judges a split
 * (runtime/timestamps.ts): the highest time so far, the watermark it
 * allows, each record's floor, and idleness after `idleTimeout` without
 * records.
 */
class PartitionTime {
  readonly #bound: number;
  readonly #idleTimeout: number;
  #max = Number.NEGATIVE_INFINITY;
  #lastData = Date.now();
  #markedAt = Number.NEGATIVE_INFINITY;
  #markedIdle = false;

  constructor(o: ForwardedEventTime | undefined) {
    this.#bound = o?.maxOutOfOrderness ?? 0;
    this.#idleTimeout = o?.idleTimeout ?? 0;
  }

  /** A record at `t`: its floor when it is at or below the watermark so far, else undefined. */
  record(t: number): number | undefined {
    this.#lastData = Date.now();
    if (t > this.#max) {
      this.#max = t;
      return undefined;
    }
    const wm = this.#watermark();
    return t <= wm ? wm : undefined;
  }

  #watermark(): number {
    return this.#max - this.#bound - 1;
  }

  #idle(): boolean {
    return this.#idleTimeout > 0 && Date.now() - this.#lastData >= this.#idleTimeout;
  }

  /** Whether the watermark moved or idleness changed since the last marker. */
  changed(): boolean {
    const wm = this.#watermark();
    return (wm > this.#markedAt && Number.isFinite(wm)) || this.#idle() !== this.#markedIdle;
  }

  /** The markers for every key-group partition, now; noted as written. */
  markers(topic: string, partitions: number, from: number, of: number): TxMessage[] {
    const wm = this.#watermark();
    if (wm > this.#markedAt) this.#markedAt = wm;
    this.#markedIdle = this.#idle();
    const out: TxMessage[] = [];
    for (let p = 0; p < partitions; p++)
      out.push(markerMessage(topic, p, from, of, this.#markedAt, this.#markedIdle));
    return out;
  }
}

/**
 * A forwarding task: decodes its partition's records, keys them and sends
 * them to the repartition topic (bytes and timestamp unchanged, the input
 * position in a header), committing its offset with them every interval.
 * Records that cannot be keyed go along marked as rejected, to the key
 * group of their input partition, whose job dead-letters them; so do
 * records too large for the repartition topic, cut to fit (issue 19,
 * point 9: refused, they failed every transaction of the task for ever).
 */
export async function forward(
  task: PartitionTask,
  config: AppSourceConfig,
  app: ForwarderLinks,
): Promise<void> {
  const out = new TxWriter(task);
  const limit = app.limitOf(app.repartitionTopic);
  const time = new PartitionTime(app.eventTime);
  const extract = app.eventTime?.timestamp;
  let lastCommit = Date.now();
  let dirty = false;
  try {
    while (!task.closed) {
      if (task.backlog() === 0 && !task.pausing) await task.waitForRecords(50);
      if (task.closed) break;
      if (task.backlog() > 0 && !task.pausing) {
        const slice = task.takeMany(1000);
        if (config.format.prepare !== undefined) await config.format.prepare(slice.map((m) => m.value));
        const messages: TxMessage[] = [];
        for (const m of slice) {
          let rejected: Decoded | undefined;
          let key: Key | undefined;
          const d = decodeRecord(config, m);
          if (!d.ok) rejected = d;
          else {
            try {
              key = config.keyBy!(d.value);
            } catch (e) {
              rejected = {
                ok: false,
                code: 'key-failed',
                reason: `keyBy threw: ${errorText(e)}`,
                eddyCode: 'EDDY_USER_FUNCTION_FAILED',
              };
            }
          }
          const headers = new Map<Buffer, Buffer>();
          for (const [k, v] of m.headers ?? []) if (k !== undefined && v !== undefined) headers.set(k, v);
          // A Map: with a plain object for headers the client's send never settles (2.12).
          headers.set(SOURCE_HEADER_KEY, Buffer.from(`${m.offset} ${m.topic}:${m.partition}`));
          const reject = (r: { code: string; eddyCode: string; reason: string }) =>
            headers.set(
              REJECT_HEADER_KEY,
              Buffer.from(JSON.stringify([r.code, r.eddyCode, r.reason, String(m.timestamp)])),
            );
          // Event time: the source's timestamp of the value (a failing one is dead-lettered there, as
          // embedded), else the record's own; a record late in this partition carries its floor.
          if (rejected === undefined && d.ok) {
            let t = Number(m.timestamp);
            if (extract !== undefined)
              try {
                t = extract(d.value);
                if (typeof t !== 'number' || !Number.isFinite(t))
                  throw new TypeError(`timestamp is ${String(t)}, not a finite number`);
              } catch (e) {
                rejected = {
                  ok: false,
                  code: 'timestamp-failed',
                  reason: `timestamp extractor failed: ${errorText(e)}`,
                  eddyCode: 'EDDY_USER_FUNCTION_FAILED',
                };
              }
            if (rejected === undefined) {
              const [k, v] = timeHeader(t);
              headers.set(k, v);
              const floor = floorHeader(time.record(t));
              if (floor !== undefined) headers.set(floor[0], floor[1]);
            }
          }
          if (rejected !== undefined && !rejected.ok) reject(rejected);
          let message: TxMessage = {
            topic: app.repartitionTopic,
            ...(key === undefined ? (m.key ? { key: m.key } : {}) : { key: Buffer.from(String(key)) }),
            partition: key === undefined ? m.partition % app.partitions : kafkaPartition(key, app.partitions),
            value: m.value ?? Buffer.alloc(0),
            timestamp: m.timestamp,
            headers,
          };
          if (!fitsAlone(message, limit)) {
            // Read, so it fitted its input topic, but compressed there, or with headers: it goes on cut
            // to fit, marked rejected, and its key group's task dead-letters it (and says what was cut).
            const size = aloneBytes(message);
            reject({
              code: 'too-large',
              eddyCode: 'EDDY_IO_FAILED',
              reason: `the record takes ${size} bytes with eddy's headers, more than the repartition topic ${app.repartitionTopic} allows (max.message.bytes ${limit}); raise that topic's max.message.bytes to forward such records`,
            });
            message = fitToLimit(message, limit);
          }
          messages.push(message);
        }
        void out.send(messages).catch(() => {});
        dirty = true;
        task.compact();
        app.resume();
      }
      // Stopping with a savepoint: what was taken so far is committed, the rest is read again later.
      const last = task.pausing;
      const due = last || Date.now() - lastCommit >= app.intervalMs;
      if (due && time.changed()) {
        // The watermark follows the records it covers into every key-group partition (carried.ts).
        void out.send(time.markers(app.repartitionTopic, app.partitions, app.from, app.of)).catch(() => {});
        dirty = true;
      }
      if (dirty && due) {
        // Commits start intervalMs apart, as the key-group tasks' checkpoints do (runtime/controller.ts).
        const started = Date.now();
        task.markBarrier();
        await task.commit();
        dirty = false;
        lastCommit = started;
      }
      if (last) break;
    }
  } catch (e) {
    task.fail(`forwarding failed: ${errorText(e)}`, e);
  } finally {
    task.loopDone();
  }
}
