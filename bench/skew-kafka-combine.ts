/**
 * `npm run bench -- skew-kafka-combine` (issue 18): a hot key split across
 * the instances of a Kafka application. The same keyed window count runs
 * as `kafkaPipeline` (what `eddy run --kafka` runs) with `preAggregate:
 * true` (*on*: each input partition's task counts its records per key and
 * window, and only the partials go, by key, to a merge stage;
 * deploy/kafka/pre-aggregate.ts) and without (*off*, the default: every
 * record goes through `<app-id>-repartition` to its key's partition, where
 * one task counts all of a key's records).
 *
 * The input topic is filled once with `--events` `{ key, ts }` records whose
 * keys follow Zipf `--zipf` over 10,000 keys (bench/skew-kafka.ts's
 * generator), spread round-robin over the partitions (produced without a
 * key, as click or sensor streams often are), event time rising over ten 1 s
 * windows; once the application has taken all of them (its committed input
 * offsets), far-future records that close the windows (in every input
 * partition, one keyed into each key-group partition). No record is late in
 * either arm (`maxOutOfOrderness` spans the whole input: repartitioned,
 * records of input partitions read at different speeds mix). Each
 * round starts `--instances` child processes of one application (a fresh
 * id) that read the topic from its start; the clock runs from their start
 * until the output holds every window's count (their sum equals the events,
 * read read_committed). The children then stop (a savepoint) and report
 * their CPU time. On and off alternate, `--rounds` of each; medians; every
 * run's counts must equal the input's, or the bench fails.
 *
 * `--job q5`: Nexmark q5 (hot items: bids per auction over 10 s windows
 * sliding by 2 s, then the top auctions per window, a second keyed stage)
 * instead of the count, over `--events` Nexmark events whose bids' auctions
 * are redrawn from Zipf `--zipf` over the 10,000 newest (as `bench skew
 * --job q5`), at 10,000 events per second of event time, round-robin; the
 * output must equal an embedded run's over the same events. On, the bids
 * per auction are counted where read and merged in a stage of their own.
 *
 * One JSON line:
 * {"bench":"skew-kafka-combine","events":…,"partitions":…,"instances":…,"zipf":…,"on":{"eventsPerSec":…,"eventsPerCpuSec":…,"cpuSkew":…},"off":{…},"throughputRatio":…,"resultsEqual":true}
 * `cpuSkew`: the busiest instance's CPU time over the mean of the instances'.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Admin, Consumer, FetchIsolationLevels, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaPartition, kafkaSink, kafkaSource } from '../src/connectors/kafka/index.ts';
import { kafkaPipeline } from '../src/deploy/kafka/index.ts';
import { arraySource, collectSink, Pipeline, tumbling } from '../src/index.ts';
import {
  committed,
  cpuSkew,
  INSTANCE_OPTIONS,
  median,
  r3,
  startInstance,
  zipfKeys,
} from './kafka-instances.ts';
import { KEPT_TOPIC_CONFIGS } from './kept-topics.ts';
import {
  type Event,
  eventTime,
  FIRST_AUCTION_ID,
  generateEvent,
  lastBase0AuctionId,
  nexmarkConfig,
  nexmarkRandom,
} from './nexmark/generator.ts';
import { q5 } from './nexmark/queries.ts';
import { zipfCdf, zipfRank } from './skew-pipeline.ts';

const WINDOW = 1000;
const WINDOWS = 10;
const FLUSH = 'flush';

type Records = { partition: number; value: Buffer }[];

/** A job's input, made once, and its expected output (canonical rows, sorted). */
interface Job {
  readonly records: Records;
  /** Far-future records that close the windows, sent once the input was taken. */
  readonly flush: Records;
  readonly expected: string[];
  /** The hottest key's share of the records. */
  readonly hottest: number;
  /** How many stage applications run with pre-aggregation on and off. */
  readonly stages: { readonly on: number; readonly off: number };
  /** An output value as a canonical row, or undefined for the flush records' own windows. */
  readonly row: (value: unknown) => string | undefined;
}

/** The keyed count: `{ key, ts }`, Zipf keys, ten 1 s windows. */
function countJob(events: number, partitions: number, zipf: number): Job {
  const keys = zipfKeys(events, zipf);
  const hot = new Map<string, number>();
  for (const k of keys) hot.set(k, (hot.get(k) ?? 0) + 1);
  // The expected output, computed here without the engine: the count per key and window.
  const expected = new Map<string, number>();
  keys.forEach((key, i) => {
    const id = `${key}@${Math.floor(tsOf(i, events) / WINDOW) * WINDOW}`;
    expected.set(id, (expected.get(id) ?? 0) + 1);
  });
  const records = keys.map((key, i) => ({
    partition: i % partitions,
    value: Buffer.from(JSON.stringify({ key, ts: tsOf(i, events) })),
  }));
  // Far-future records that close every window: into every input partition, one for each key-group
  // partition (repartitioned, a key-group partition's watermark comes from the records it receives).
  const flush: Records = [];
  for (let partition = 0; partition < partitions; partition++)
    for (const key of flushKeys(partitions, (k) => `${FLUSH}-${k}`))
      flush.push({ partition, value: Buffer.from(JSON.stringify({ key, ts: 100 * WINDOWS * WINDOW })) });
  return {
    records,
    flush,
    expected: [...expected].map(([id, n]) => `${id}=${n}`).sort(),
    hottest: Math.max(...hot.values()) / events,
    stages: { on: 2, off: 1 },
    row: (v) => {
      const r = v as { key: string; start: number; n: number };
      return r.key.startsWith(FLUSH) ? undefined : `${r.key}@${r.start}=${r.n}`;
    },
  };
}

/** Nexmark q5 over bids whose auctions follow Zipf over the 10,000 newest; expected from an embedded run. */
async function q5Job(events: number, partitions: number, zipf: number): Promise<Job> {
  const config = nexmarkConfig({ count: events });
  const random = nexmarkRandom(config.seed);
  const cdf = zipfCdf(10_000, zipf);
  const all: Event[] = [];
  const hot = new Map<number, number>();
  for (let i = 0; i < events; i++) {
    const e = generateEvent(i, config, random);
    if (e.kind !== 'bid') all.push(e);
    else {
      const auction = FIRST_AUCTION_ID + Math.max(0, lastBase0AuctionId(i) - zipfRank(cdf, i));
      hot.set(auction, (hot.get(auction) ?? 0) + 1);
      all.push({ kind: 'bid', bid: { ...e.bid, auction } });
    }
  }
  const p = new Pipeline({ name: 'q5-expected' });
  const out = collectSink<unknown>();
  q5(p, p.source('events', arraySource(all), { timestamp: eventTime })).sink(out);
  await p.run();
  const far = eventTime(all.at(-1)!) + 10_000_000;
  const flush: Records = [];
  for (let partition = 0; partition < partitions; partition++)
    for (const auction of flushKeys(partitions, (k) => 1_000_000_000 + k))
      flush.push({
        partition,
        value: Buffer.from(
          JSON.stringify({
            kind: 'bid',
            bid: { auction, bidder: 0, price: 0, channel: 'flush', url: '', dateTime: far, extra: '' },
          }),
        ),
      });
  return {
    records: all.map((e, i) => ({ partition: i % partitions, value: Buffer.from(JSON.stringify(e)) })),
    flush,
    expected: out.values.map((v) => JSON.stringify(v)).sort(),
    hottest: Math.max(...hot.values()) / events,
    stages: { on: 3, off: 2 },
    row: (v) => JSON.stringify(v),
  };
}

async function produce(
  brokers: string[],
  topic: string,
  records: readonly { partition: number; value: Buffer }[],
) {
  const producer = new Producer({ clientId: 'bench-skew-combine', bootstrapBrokers: brokers });
  try {
    for (let i = 0; i < records.length; i += 5000)
      await producer.send({
        messages: records.slice(i, i + 5000).map((r) => ({ topic, ...r })),
        acks: ProduceAcks.LEADER,
      });
  } finally {
    await producer.close();
  }
}

/** One key per key-group partition (the `k`th of `make`), for the records that close the windows. */
function flushKeys<K extends string | number>(partitions: number, make: (k: number) => K): K[] {
  return [...Array(partitions).keys()].map((p) => {
    let k = 0;
    while (kafkaPartition(make(k), partitions) !== p) k++;
    return make(k);
  });
}

/** Event i's time: rising over the windows. */
function tsOf(i: number, events: number): number {
  return Math.floor((i * WINDOWS * WINDOW) / events);
}

/** Reads the output (read_committed) until it holds as many rows as `job` expects; its rows, sorted. */
async function outputs(brokers: string[], topic: string, job: Job, timeoutMs: number): Promise<string[]> {
  const consumer = new Consumer({
    clientId: 'bench-skew-combine-out',
    groupId: `bench-skew-combine-out-${randomUUID().slice(0, 8)}`,
    bootstrapBrokers: brokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  const rows: string[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`the output holds ${rows.length} of ${job.expected.length} rows after ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      stream.on('data', (m) => {
        const row = job.row(JSON.parse(m.value!.toString()));
        if (row !== undefined) rows.push(row);
        if (rows.length >= job.expected.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on('error', reject);
    });
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return rows.sort();
}

interface Round {
  secs: number;
  cpu: number[];
  rows: string[];
}

async function round(
  brokers: string[],
  job: Job & { readonly name: string; readonly partitions: number; readonly events: number },
  instances: number,
  combine: boolean,
): Promise<Round> {
  const id = `bench-combine-${randomUUID().slice(0, 8)}`;
  const topics = { input: `${id}-in`, output: `${id}-out` };
  const admin = new Admin({ clientId: 'bench-skew-combine', bootstrapBrokers: brokers });
  await admin.createTopics({
    topics: [topics.input, topics.output],
    partitions: job.partitions,
    replicas: 1,
    configs: KEPT_TOPIC_CONFIGS,
  });
  // Each instance's partitions per application, as it reports them.
  const owned = [...Array(instances).keys()].map(() => new Map<string, number>());
  const started = [...Array(instances).keys()].map((i) =>
    startInstance<{ cpuSecs: number }>(
      new URL(import.meta.url).pathname,
      [id, topics.input, topics.output, brokers.join(','), String(combine), `i${i}`, job.name],
      i,
      (m) => {
        if (typeof m['assigned'] === 'string') owned[i]!.set(m['assigned'], m['partitions'] as number);
      },
    ),
  );
  const children = started.map((x) => x.child);
  const reports = started.map((x) => x.report);
  try {
    // The input is produced once every instance runs partitions of every stage: otherwise the first
    // to start reads most of it before the group has spread the partitions.
    const stages = combine ? job.stages.on : job.stages.off;
    const deadline = Date.now() + 180_000;
    while (!owned.every((m) => [...m.values()].filter((n) => n > 0).length === stages)) {
      if (Date.now() > deadline)
        throw new Error(`${id}: the instances did not all get partitions in 3 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const t0 = performance.now();
    await produce(brokers, topics.input, job.records);
    // The records that close the windows go once every input record was taken: repartitioned, one
    // read early would move its key-group partitions' watermarks past the records still to come.
    while ((await committed(admin, id, topics.input, job.partitions).catch(() => 0)) < job.records.length) {
      if (Date.now() > deadline + 600_000) throw new Error(`${id}: the input was not all read in 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await produce(brokers, topics.input, job.flush);
    const rows = await outputs(brokers, topics.output, job, 600_000);
    const secs = (performance.now() - t0) / 1000;
    for (const c of children) c.kill('SIGTERM');
    const done = await Promise.all(reports);
    return { secs, cpu: done.map((d) => d.cpuSecs), rows };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    const made = (await admin.listTopics()).filter((t) => t.startsWith(id));
    await admin.deleteTopics({ topics: made }).catch(() => {});
    await admin.close();
  }
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...INSTANCE_OPTIONS, job: { type: 'string', default: 'count' } },
  });
  const events = Number(values.events);
  const partitions = Number(values.partitions);
  const instances = Number(values.instances);
  const zipf = Number(values.zipf);
  const rounds = Number(values.rounds);
  const brokers = values.brokers.split(',');
  const name = values.job;
  if (name !== 'count' && name !== 'q5') throw new Error(`--job ${name}: use count or q5`);
  const job = {
    ...(name === 'q5' ? await q5Job(events, partitions, zipf) : countJob(events, partitions, zipf)),
    name,
    partitions,
    events,
  };
  const hottest = job.hottest;
  process.stderr.write(
    `skew-kafka-combine: ${events.toLocaleString()} events, Zipf ${zipf} (hottest key ${(hottest * 100).toFixed(1)} %), round-robin over ${partitions} partitions, ${instances} instances, ${rounds} rounds each\n`,
  );
  const runs: Record<'on' | 'off', Round[]> = { on: [], off: [] };
  for (let r = 1; r <= rounds; r++)
    for (const combine of r % 2 === 1 ? [true, false] : [false, true]) {
      const run = await round(brokers, job, instances, combine);
      if (run.rows.length !== job.expected.length || run.rows.some((r, i) => r !== job.expected[i]))
        throw new Error(
          `pre-aggregation ${combine ? 'on' : 'off'}: the output differs from the expected one`,
        );
      runs[combine ? 'on' : 'off'].push(run);
      process.stderr.write(
        `  round ${r}, pre-aggregation ${combine ? 'on ' : 'off'}: ${Math.round(events / run.secs).toLocaleString()} events/s, CPU ${run.cpu.map((c) => c.toFixed(1)).join(' + ')} s (max/mean ${cpuSkew(run.cpu).toFixed(2)})\n`,
      );
    }
  const summary = (xs: Round[]) => ({
    eventsPerSec: Math.round(events / median(xs.map((x) => x.secs))),
    eventsPerCpuSec: Math.round(events / median(xs.map((x) => x.cpu.reduce((a, b) => a + b, 0)))),
    cpuSkew: r3(median(xs.map((x) => cpuSkew(x.cpu)))),
  });
  const on = summary(runs.on);
  const off = summary(runs.off);
  console.log(
    JSON.stringify({
      bench: 'skew-kafka-combine',
      job: name,
      events,
      partitions,
      instances,
      zipf,
      rounds,
      on,
      off,
      throughputRatio: r3(on.eventsPerSec / off.eventsPerSec),
      resultsEqual: true,
    }),
  );
}

if (process.argv[2] === '--child') {
  const [id, input, output, brokers, combine, name, job] = process.argv.slice(3);
  const list = brokers!.split(',');
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort());
  const cpu0 = process.cpuUsage();
  await kafkaPipeline({
    applicationId: id!,
    brokers: list,
    commitIntervalMs: 500,
    instanceId: name!,
  }).run(
    () => {
      const p = new Pipeline({ name: 'skew-combine', ...(combine === 'true' ? { preAggregate: true } : {}) });
      if (job === 'q5') {
        const events = p.source('in', kafkaSource<Event>({ topics: [input!], groupId: id!, brokers: list }), {
          timestamp: eventTime,
          // As below: repartitioned, input partitions read at different speeds mix (the input spans
          // about 100 s of event time at the default 1M events).
          maxOutOfOrderness: 1_000_000,
        });
        q5(p, events).sink(kafkaSink({ topic: output!, brokers: list }));
        return p;
      }
      p.source(
        'in',
        kafkaSource<{ key: string; ts: number }>({ topics: [input!], groupId: id!, brokers: list }),
        {
          timestamp: (e) => e.ts,
          // The whole input's event-time span: repartitioned (off), records of input partitions read at
          // different speeds mix in a key-group partition, and none may be late in either arm.
          maxOutOfOrderness: WINDOWS * WINDOW,
        },
      )
        .keyBy((e) => e.key, 'by-key')
        .window(tumbling(WINDOW))
        .count('agg')
        .map((w) => ({ key: w.key, start: w.window.start, n: w.value }))
        .sink(kafkaSink({ topic: output!, brokers: list, key: (r) => r.key }));
      return p;
    },
    {
      signal: stop.signal,
      onAssigned: (stage, partitions) =>
        console.log(JSON.stringify({ assigned: stage.applicationId, partitions: partitions.length })),
    },
  );
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ cpuSecs: (cpu.user + cpu.system) / 1e6 }));
  process.exit(0);
}
