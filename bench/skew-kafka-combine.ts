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
 * `--rate R` (count job only): latency at a fixed input rate. The input is
 * produced paced at R records per second, event time following (record i
 * at i / R s, so a 1 s window is a second of wall time), and the bound on
 * disorder is `--bound-ms` (1000) instead of the whole input's span: without
 * pre-aggregation the repartition topic mixes the input tasks' records, each
 * task's visible at its commits (every 500 ms), so a key group's records are
 * out of order by about a commit interval, more under load; a bound too
 * small drops records there as late, and the bench fails on the counts. A
 * result's latency is from when the newest record it counts was due (the
 * bench's start plus i / R: a record produced late because the bench fell
 * behind is still charged from when it was due) to when the bench's
 * read_committed consumer got the result (issue 14's definition). Kept:
 * the results of every window after the first fifth (warm-up) whose end
 * plus the bound lies within the input (the last ones close only with the
 * far-future records, once every input record was taken). Both arms commit
 * every 500 ms, so each stage adds up to that: the output reaches a reader
 * at a commit.
 *
 * One JSON line:
 * {"bench":"skew-kafka-combine","events":…,"partitions":…,"instances":…,"zipf":…,"on":{"eventsPerSec":…,"eventsPerCpuSec":…,"cpuSkew":…[,"p50Ms":…,"p99Ms":…]},"off":{…},"throughputRatio":…,"resultsEqual":true}
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
  /** Paced runs (`--rate`): a row's window start and the index of the newest record it counts. */
  readonly newest?: (row: string) => { readonly start: number; readonly index: number };
}

/**
 * The keyed count: `{ key, ts }`, Zipf keys; event time rising over ten 1 s windows, or, paced at
 * `rate` records per second, record i at i / rate s.
 */
function countJob(events: number, partitions: number, zipf: number, rate: number): Job {
  const keys = zipfKeys(events, zipf);
  const tsOf = (i: number) =>
    rate > 0 ? Math.floor((i * 1000) / rate) : Math.floor((i * WINDOWS * WINDOW) / events);
  const hot = new Map<string, number>();
  for (const k of keys) hot.set(k, (hot.get(k) ?? 0) + 1);
  // The expected output, computed here without the engine: the count per key and window, and the
  // index of its newest record.
  const expected = new Map<string, number>();
  const newest = new Map<string, number>();
  keys.forEach((key, i) => {
    const id = `${key}@${Math.floor(tsOf(i) / WINDOW) * WINDOW}`;
    expected.set(id, (expected.get(id) ?? 0) + 1);
    newest.set(id, i);
  });
  const records = keys.map((key, i) => ({
    partition: i % partitions,
    value: Buffer.from(JSON.stringify({ key, ts: tsOf(i) })),
  }));
  const far = 100 * (tsOf(events - 1) + WINDOW);
  // Far-future records that close every window: into every input partition, one for each key-group
  // partition (repartitioned, a key-group partition's watermark comes from the records it receives).
  const flush: Records = [];
  for (let partition = 0; partition < partitions; partition++)
    for (const key of flushKeys(partitions, (k) => `${FLUSH}-${k}`))
      flush.push({ partition, value: Buffer.from(JSON.stringify({ key, ts: far })) });
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
    newest: (row) => {
      const id = row.slice(0, row.lastIndexOf('='));
      return { start: Number(id.slice(id.lastIndexOf('@') + 1)), index: newest.get(id)! };
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

/**
 * Produces `records` paced at `rate` per second from `t0` (performance.now()): each send takes the
 * records due by then (at most 5,000), so falling behind is caught up at once rather than shifted.
 */
async function producePaced(
  brokers: string[],
  topic: string,
  records: readonly { partition: number; value: Buffer }[],
  rate: number,
  t0: number,
) {
  const producer = new Producer({ clientId: 'bench-skew-combine-paced', bootstrapBrokers: brokers });
  try {
    let i = 0;
    while (i < records.length) {
      const due = Math.min(
        records.length,
        Math.floor(((performance.now() - t0) * rate) / 1000) + 1,
        i + 5000,
      );
      if (due <= i) {
        await new Promise((r) => setTimeout(r, Math.max(1, t0 + (i * 1000) / rate - performance.now())));
        continue;
      }
      await producer.send({
        messages: records.slice(i, due).map((r) => ({ topic, ...r })),
        acks: ProduceAcks.LEADER,
      });
      i = due;
    }
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

/**
 * Reads the output (read_committed) until it holds as many rows as `job` expects; its rows, sorted,
 * and when each arrived (performance.now()).
 */
async function outputs(
  brokers: string[],
  topic: string,
  job: Job,
  timeoutMs: number,
): Promise<{ rows: string[]; arrived: Map<string, number> }> {
  const consumer = new Consumer({
    clientId: 'bench-skew-combine-out',
    groupId: `bench-skew-combine-out-${randomUUID().slice(0, 8)}`,
    bootstrapBrokers: brokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  const rows: string[] = [];
  const arrived = new Map<string, number>();
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `the output holds ${rows.length} of ${job.expected.length} rows after ${timeoutMs} ms; ${missing(job.expected, rows)}`,
            ),
          ),
        timeoutMs,
      );
      stream.on('data', (m) => {
        const row = job.row(JSON.parse(m.value!.toString()));
        if (row !== undefined) {
          rows.push(row);
          arrived.set(row, performance.now());
        }
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
  return { rows: rows.sort(), arrived };
}

/** Which expected rows the output lacks, counted by the part after the row's last `@` (its window). */
function missing(expected: readonly string[], rows: readonly string[]): string {
  const got = new Set(rows);
  const count = new Map<string, number>();
  for (const row of rows)
    count.set(row.slice(0, row.lastIndexOf('=')), Number(row.slice(row.lastIndexOf('=') + 1)));
  const by = new Map<string, { absent: number; lower: number; higher: number }>();
  for (const row of expected)
    if (!got.has(row)) {
      const id = row.slice(0, row.lastIndexOf('='));
      const at = id.slice(id.lastIndexOf('@') + 1);
      const n = count.get(id);
      const c = by.get(at) ?? { absent: 0, lower: 0, higher: 0 };
      if (n === undefined) c.absent++;
      else if (n < Number(row.slice(row.lastIndexOf('=') + 1))) c.lower++;
      else c.higher++;
      by.set(at, c);
    }
  return `absent/lower/higher per window start: ${[...by].map(([w, c]) => `${w}: ${c.absent}/${c.lower}/${c.higher}`).join(', ') || 'none'}`;
}

interface Round {
  secs: number;
  cpu: number[];
  rows: string[];
  /** Paced runs: the kept results' latencies (ms), sorted; else empty. */
  latencies: number[];
}

/** How a round runs: paced at `rate` records per second (0: all at once), and the bound on disorder. */
interface Pace {
  readonly rate: number;
  readonly boundMs: number;
}

async function round(
  brokers: string[],
  job: Job & { readonly name: string; readonly partitions: number; readonly events: number },
  instances: number,
  combine: boolean,
  pace: Pace,
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
      [
        id,
        topics.input,
        topics.output,
        brokers.join(','),
        String(combine),
        `i${i}`,
        job.name,
        String(pace.rate > 0 ? pace.boundMs : -1),
      ],
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
    // Paced, the output is read from the start, to see when each result arrives.
    const read =
      pace.rate > 0
        ? outputs(brokers, topics.output, job, (job.records.length * 1000) / pace.rate + 300_000)
        : undefined;
    read?.catch(() => {}); // awaited below
    if (pace.rate > 0) await producePaced(brokers, topics.input, job.records, pace.rate, t0);
    else await produce(brokers, topics.input, job.records);
    // The records that close the windows go once every input record was taken: repartitioned, one
    // read early would move its key-group partitions' watermarks past the records still to come.
    while ((await committed(admin, id, topics.input, job.partitions).catch(() => 0)) < job.records.length) {
      if (Date.now() > deadline + 600_000) throw new Error(`${id}: the input was not all read in 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await produce(brokers, topics.input, job.flush);
    const { rows, arrived } = await (read ?? outputs(brokers, topics.output, job, 600_000));
    const secs = (performance.now() - t0) / 1000;
    for (const c of children) c.kill('SIGTERM');
    const done = await Promise.all(reports);
    return { secs, cpu: done.map((d) => d.cpuSecs), rows, latencies: latencies(job, pace, arrived, t0) };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    const made = (await admin.listTopics()).filter((t) => t.startsWith(id));
    await admin.deleteTopics({ topics: made }).catch(() => {});
    await admin.close();
  }
}

/**
 * A paced round's result latencies (ms, sorted): from when the newest record a result counts was
 * due to when it arrived, for the windows after the first fifth whose end plus the bound lies
 * within the input (closed by input records, not by the far-future ones sent at the end).
 */
function latencies(job: Job, pace: Pace, arrived: ReadonlyMap<string, number>, t0: number): number[] {
  if (pace.rate === 0 || job.newest === undefined) return [];
  const last = Math.floor(((job.records.length - 1) * 1000) / pace.rate);
  const from = Math.floor(last / 5);
  const out: number[] = [];
  for (const [row, at] of arrived) {
    const { start, index } = job.newest(row);
    if (start < from || start + WINDOW + pace.boundMs >= last) continue;
    out.push(at - (t0 + (index * 1000) / pace.rate));
  }
  return out.sort((a, b) => a - b);
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...INSTANCE_OPTIONS,
      job: { type: 'string', default: 'count' },
      rate: { type: 'string', default: '0' },
      'bound-ms': { type: 'string', default: '1000' },
      // One arm only (diagnosis): on or off; the summary then reports that arm.
      arms: { type: 'string', default: 'both' },
    },
  });
  const arms = values.arms;
  if (arms !== 'both' && arms !== 'on' && arms !== 'off')
    throw new Error(`--arms ${arms}: use both, on or off`);
  const pace: Pace = { rate: Number(values.rate), boundMs: Number(values['bound-ms']) };
  if (!(pace.rate >= 0)) throw new Error(`--rate ${values.rate}: give records per second, e.g. --rate 20000`);
  if (!(pace.boundMs >= 0)) throw new Error(`--bound-ms ${values['bound-ms']}: give milliseconds, e.g. 1000`);
  const events = Number(values.events);
  const partitions = Number(values.partitions);
  const instances = Number(values.instances);
  const zipf = Number(values.zipf);
  const rounds = Number(values.rounds);
  const brokers = values.brokers.split(',');
  const name = values.job;
  if (name !== 'count' && name !== 'q5') throw new Error(`--job ${name}: use count or q5`);
  if (name === 'q5' && pace.rate > 0) throw new Error('--rate: the count job only (drop --job q5)');
  const job = {
    ...(name === 'q5'
      ? await q5Job(events, partitions, zipf)
      : countJob(events, partitions, zipf, pace.rate)),
    name,
    partitions,
    events,
  };
  const hottest = job.hottest;
  process.stderr.write(
    `skew-kafka-combine: ${events.toLocaleString()} events, Zipf ${zipf} (hottest key ${(hottest * 100).toFixed(1)} %), round-robin over ${partitions} partitions${pace.rate > 0 ? ` paced at ${pace.rate.toLocaleString()}/s (bound ${pace.boundMs} ms)` : ''}, ${instances} instances, ${rounds} rounds each\n`,
  );
  const runs: Record<'on' | 'off', Round[]> = { on: [], off: [] };
  for (let r = 1; r <= rounds; r++)
    for (const combine of (r % 2 === 1 ? [true, false] : [false, true]).filter(
      (c) => arms === 'both' || arms === (c ? 'on' : 'off'),
    )) {
      const run = await round(brokers, job, instances, combine, pace);
      if (run.rows.length !== job.expected.length || run.rows.some((r, i) => r !== job.expected[i]))
        throw new Error(
          `pre-aggregation ${combine ? 'on' : 'off'}: the output differs from the expected one`,
        );
      runs[combine ? 'on' : 'off'].push(run);
      process.stderr.write(
        `  round ${r}, pre-aggregation ${combine ? 'on ' : 'off'}: ${Math.round(events / run.secs).toLocaleString()} events/s, CPU ${run.cpu.map((c) => c.toFixed(1)).join(' + ')} s (max/mean ${cpuSkew(run.cpu).toFixed(2)})${run.latencies.length > 0 ? `, p50 ${quantile(run.latencies, 0.5).toFixed(0)} ms, p99 ${quantile(run.latencies, 0.99).toFixed(0)} ms over ${run.latencies.length} results` : ''}\n`,
      );
    }
  const summary = (xs: Round[]) => ({
    eventsPerSec: Math.round(events / median(xs.map((x) => x.secs))),
    eventsPerCpuSec: Math.round(events / median(xs.map((x) => x.cpu.reduce((a, b) => a + b, 0)))),
    cpuSkew: r3(median(xs.map((x) => cpuSkew(x.cpu)))),
    ...(pace.rate > 0
      ? {
          p50Ms: Math.round(median(xs.map((x) => quantile(x.latencies, 0.5)))),
          p99Ms: Math.round(median(xs.map((x) => quantile(x.latencies, 0.99)))),
        }
      : {}),
  });
  const on = runs.on.length > 0 ? summary(runs.on) : undefined;
  const off = runs.off.length > 0 ? summary(runs.off) : undefined;
  console.log(
    JSON.stringify({
      bench: 'skew-kafka-combine',
      job: name,
      events,
      partitions,
      instances,
      zipf,
      ...(pace.rate > 0 ? { rate: pace.rate, boundMs: pace.boundMs } : {}),
      rounds,
      on,
      off,
      ...(on && off ? { throughputRatio: r3(on.eventsPerSec / off.eventsPerSec) } : {}),
      resultsEqual: true,
    }),
  );
}

if (process.argv[2] === '--child') {
  const [id, input, output, brokers, combine, name, job, bound] = process.argv.slice(3);
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
          // The whole input's event-time span, as the figures in BENCHMARKS.md were measured: before
          // d1d4495 repartitioned records (off) of input partitions read at different speeds mixed in a
          // key-group partition and were judged late there; none may be late in either arm.
          // Paced (`--rate`), the given bound: input partitions are read as their records come.
          maxOutOfOrderness: Number(bound) >= 0 ? Number(bound) : WINDOWS * WINDOW,
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
