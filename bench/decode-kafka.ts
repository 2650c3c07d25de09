/**
 * `npm run bench -- decode-kafka` (issue 15's decoding goal, for Kafka): a
 * `kafkaSource` JSON pipeline against the bare @platformatic/kafka consumer
 * with `JSON.parse`, over the same topic on the same broker.
 *
 * - **pipeline**: `kafkaSource` (JSON values decoded safely: UTF-8 checked,
 *   size and depth bounded, `__proto__`/`constructor`/`prototype` refused;
 *   each record's timestamp as event time) → a counting sink.
 * - **bare**: a `Consumer` with the same client options (read_committed, no
 *   autocommit, at most 1 MiB per partition a fetch: fetch.ts), each value
 *   given to `JSON.parse(value.toString())`, counted:
 *   no safety checks, no batches, no event time.
 * - **fetch**: the same consumer counting records without decoding them: the
 *   client's own cost, which bounds both.
 * - **bareFast**: as bare, but the records taken a fetch response at a time
 *   as eddy takes them (src/connectors/kafka/fast-reads.ts), not as the
 *   client's messages: the like-for-like floor for the pipeline since eddy
 *   reads that way (2026-12-07); `ratioFast` = pipeline ÷ bareFast.
 *
 * The topic is filled once with `--records` Nexmark-like bids (about 150
 * bytes each, the lines of `bench decode`) on `--partitions` partitions; each
 * round reads all of it from the start with a fresh consumer group, each side
 * in its own child process, three alternating rounds, medians. The clock
 * runs from opening the consumer (or starting the pipeline) until the last
 * record is counted. One JSON line:
 * {"bench":"decode-kafka","records":N,"bytes":B,"pipelinePerSec":…,"barePerSec":…,"fetchPerSec":…,"bareFastPerSec":…,"ratio":…,"ratioFast":…}
 * `ratio` = pipeline ÷ bare (issue 15's target ≥ 0.8).
 * Flags: --records N (default 1,000,000), --partitions P (default 1),
 * --brokers host:port (default $KAFKA_BROKERS or 127.0.0.1:9092).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
} from '@platformatic/kafka';
import { committedReads } from '../src/connectors/kafka/aborted.ts';
import { fastReads } from '../src/connectors/kafka/fast-reads.ts';
import { FETCH_LIMITS } from '../src/connectors/kafka/fetch.ts';
import { kafkaSource } from '../src/connectors/kafka/index.ts';
import { Pipeline } from '../src/index.ts';
import { bid } from './bids.ts';
import { KEPT_TOPIC_CONFIGS } from './kept-topics.ts';

type Side = 'pipeline' | 'bare' | 'fetch' | 'bareFast';

export async function fill(
  brokers: string[],
  topic: string,
  records: number,
  partitions: number,
): Promise<number> {
  const admin = new Admin({ clientId: 'bench-decode-kafka', bootstrapBrokers: brokers });
  try {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1, configs: KEPT_TOPIC_CONFIGS });
  } finally {
    await admin.close();
  }
  const producer = new Producer({ clientId: 'bench-decode-kafka', bootstrapBrokers: brokers });
  let bytes = 0;
  try {
    const BATCH = 5000;
    for (let i = 0; i < records; i += BATCH) {
      const messages = [];
      for (let j = i; j < Math.min(records, i + BATCH); j++) {
        const value = Buffer.from(bid(j));
        bytes += value.length;
        messages.push({ topic, partition: j % partitions, value, timestamp: BigInt(1_700_000_000_000 + j) });
      }
      await producer.send({ messages, acks: ProduceAcks.LEADER });
    }
  } finally {
    await producer.close();
  }
  return bytes;
}

async function runSide(
  side: Side,
  brokers: string[],
  topic: string,
  records: number,
): Promise<{ secs: number; count: number }> {
  const groupId = `bench-decode-${randomUUID()}`;
  const t0 = performance.now();
  let count = 0;
  if (side === 'pipeline') {
    let reached: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const p = new Pipeline({ name: 'bench-decode-kafka' });
    p.source('bids', kafkaSource<{ price: number }>({ topics: [topic], groupId, brokers })).sink(
      {
        kind: 'count',
        guarantee: 'best-effort',
        open: () => ({
          write(values) {
            count += values.length;
            if (count >= records) reached();
          },
        }),
      },
      'count',
    );
    const running = await p.start({ parallelism: 1 });
    await all;
    const secs = (performance.now() - t0) / 1000;
    running.stop();
    await running.done.catch(() => {});
    return { secs, count };
  }
  const consumer = committedReads(
    new Consumer({
      clientId: `bench-${side}`,
      bootstrapBrokers: brokers,
      groupId,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      // The fetch sizes kafkaSource asks for (fetch.ts), so that every side reads the same way.
      ...FETCH_LIMITS,
    }),
  );
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
  });
  const parse = side !== 'fetch';
  await new Promise<void>((resolve, reject) => {
    if (side === 'bareFast') {
      const attached = fastReads(consumer).attach(stream, (fetched) => {
        for (const m of fetched) {
          const v = JSON.parse(m.value!.toString('utf8')) as { price: number };
          if (v.price >= 0) count++;
        }
        if (count >= records) resolve();
      });
      if (!attached) reject(new Error('fast reads could not attach to the stream'));
    }
    stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
      if (parse) {
        const v = JSON.parse(m.value.toString('utf8')) as { price: number };
        if (v.price >= 0) count++;
      } else count++;
      if (count >= records) resolve();
    });
    stream.on('error', reject);
  });
  const secs = (performance.now() - t0) / 1000;
  await stream.close().catch(() => {});
  await consumer.close(true).catch(() => {});
  return { secs, count };
}

function child(
  side: Side,
  brokers: string[],
  topic: string,
  records: number,
): { secs: number; count: number } {
  const out = execFileSync(
    process.execPath,
    [new URL(import.meta.url).pathname, '--child', side, brokers.join(','), topic, String(records)],
    // Bounded: a side that never counts every record (its topic lost them) fails the bench, not hangs it.
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000, killSignal: 'SIGKILL' },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as { secs: number; count: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: 'string', default: '1000000' },
      partitions: { type: 'string', default: '1' },
      brokers: { type: 'string', default: process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092' },
    },
  });
  const records = Number(values.records);
  const partitions = Number(values.partitions);
  if (!Number.isInteger(records) || records < 1 || !Number.isInteger(partitions) || partitions < 1)
    throw new Error('--records and --partitions take whole numbers ≥ 1');
  const brokers = values.brokers.split(',');
  const topic = `bench-decode-${randomUUID().slice(0, 8)}`;
  process.stderr.write(`decode-kafka: filling ${topic} with ${records.toLocaleString('en-US')} records\n`);
  const bytes = await fill(brokers, topic, records, partitions);
  try {
    const secs: Record<Side, number[]> = { pipeline: [], bare: [], fetch: [], bareFast: [] };
    for (let round = 1; round <= 3; round++) {
      for (const side of ['fetch', 'bare', 'bareFast', 'pipeline'] as const) {
        const r = child(side, brokers, topic, records);
        if (r.count !== records) throw new Error(`${side} counted ${r.count} of ${records} records`);
        secs[side].push(r.secs);
      }
      const m = (s: Side) => (records / secs[s].at(-1)! / 1e6).toFixed(2);
      process.stderr.write(
        `  round ${round}: fetch ${m('fetch')} M/s, bare ${m('bare')} M/s, bareFast ${m('bareFast')} M/s, pipeline ${m('pipeline')} M/s\n`,
      );
    }
    const rate = (side: Side) => records / median(secs[side]);
    console.log(
      JSON.stringify({
        bench: 'decode-kafka',
        records,
        partitions,
        bytes,
        pipelinePerSec: Math.round(rate('pipeline')),
        barePerSec: Math.round(rate('bare')),
        fetchPerSec: Math.round(rate('fetch')),
        bareFastPerSec: Math.round(rate('bareFast')),
        ratio: Number((rate('pipeline') / rate('bare')).toFixed(3)),
        ratioFast: Number((rate('pipeline') / rate('bareFast')).toFixed(3)),
      }),
    );
  } finally {
    const admin = new Admin({ clientId: 'bench-decode-kafka', bootstrapBrokers: brokers });
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.close();
  }
}

if (process.argv[2] === '--child') {
  const [side, brokers, topic, records] = process.argv.slice(3);
  console.log(JSON.stringify(await runSide(side as Side, brokers!.split(','), topic!, Number(records))));
}
