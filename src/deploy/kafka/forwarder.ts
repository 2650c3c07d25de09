/**
 * The forwarding task of a Kafka application whose source repartitions
 * (`app.source({ keyBy })`): it reads an input partition and sends each
 * record, keyed, to the repartition topic inside the task's transactions,
 * with the input offsets; the key-group tasks read them (app-source.ts).
 */

import { kafkaPartition } from '../../connectors/kafka/app-options.ts';
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
      if (dirty && (last || Date.now() - lastCommit >= app.intervalMs)) {
        task.markBarrier();
        await task.commit();
        dirty = false;
        lastCommit = Date.now();
      }
      if (last) break;
    }
  } catch (e) {
    task.fail(`forwarding failed: ${errorText(e)}`, e);
  } finally {
    task.loopDone();
  }
}
