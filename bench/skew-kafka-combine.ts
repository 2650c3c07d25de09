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
 * One JSON line:
 * {"bench":"skew-kafka-combine","events":…,"partitions":…,"instances":…,"zipf":…,"on":{"eventsPerSec":…,"eventsPerCpuSec":…,"cpuSkew":…},"off":{…},"throughputRatio":…,"resultsEqual":true}
 * `cpuSkew`: the busiest instance's CPU time over the mean of the instances'.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Admin, Consumer, FetchIsolationLevels, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaPartition, kafkaSink, kafkaSource } from '../src/connectors/kafka/index.ts';
import { kafkaPipeline } from '../src/deploy/kafka/index.ts';
import { Pipeline, tumbling } from '../src/index.ts';
import { KEPT_TOPIC_CONFIGS } from './kept-topics.ts';
import { zipfKeys } from './zipf-keys.ts';

const WINDOW = 1000;
const WINDOWS = 10;
const FLUSH = 'flush';

/** The input, made once: each record's partition and value; the expected counts; the hottest key's share. */
function prepare(events: number, partitions: number, zipf: number) {
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
  const flush: { partition: number; value: Buffer }[] = [];
  for (let partition = 0; partition < partitions; partition++)
    for (const key of flushKeys(partitions))
      flush.push({ partition, value: Buffer.from(JSON.stringify({ key, ts: 100 * WINDOWS * WINDOW })) });
  return { records, flush, expected, hottest: Math.max(...hot.values()) / events };
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

/** The sum of the group's committed offsets on `topic`. */
async function committed(admin: Admin, group: string, topic: string, partitions: number): Promise<number> {
  const groups = await admin.listConsumerGroupOffsets({
    groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: [...Array(partitions).keys()] }] }],
  });
  let sum = 0;
  for (const t of groups[0]?.topics ?? [])
    for (const p of t.partitions) if (p.committedOffset > 0n) sum += Number(p.committedOffset);
  return sum;
}

/** One key per key-group partition, for the records that close the windows. */
function flushKeys(partitions: number): string[] {
  return [...Array(partitions).keys()].map((p) => {
    let k = 0;
    while (kafkaPartition(`${FLUSH}-${k}`, partitions) !== p) k++;
    return `${FLUSH}-${k}`;
  });
}

/** Event i's time: rising over the windows. */
function tsOf(i: number, events: number): number {
  return Math.floor((i * WINDOWS * WINDOW) / events);
}

function equal(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** Reads the output (read_committed) until its counts add up to `events`; the counts per (key, window). */
async function outputs(brokers: string[], topic: string, events: number, timeoutMs: number) {
  const consumer = new Consumer({
    clientId: 'bench-skew-combine-out',
    groupId: `bench-skew-combine-out-${randomUUID().slice(0, 8)}`,
    bootstrapBrokers: brokers,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  const counts = new Map<string, number>();
  let sum = 0;
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the output holds ${sum} of ${events} counted events after ${timeoutMs} ms`)),
        timeoutMs,
      );
      stream.on('data', (m) => {
        const r = JSON.parse(m.value!.toString()) as { key: string; start: number; n: number };
        if (r.key.startsWith(FLUSH)) return;
        const id = `${r.key}@${r.start}`;
        if (counts.has(id)) reject(new Error(`window ${id} written twice`));
        counts.set(id, r.n);
        sum += r.n;
        if (sum >= events) {
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
  return { counts, sum };
}

interface Round {
  secs: number;
  cpu: number[];
  counts: Map<string, number>;
}

async function round(
  brokers: string[],
  input: {
    records: readonly { partition: number; value: Buffer }[];
    flush: readonly { partition: number; value: Buffer }[];
    partitions: number;
    events: number;
  },
  instances: number,
  combine: boolean,
): Promise<Round> {
  const id = `bench-combine-${randomUUID().slice(0, 8)}`;
  const topics = { input: `${id}-in`, output: `${id}-out` };
  const admin = new Admin({ clientId: 'bench-skew-combine', bootstrapBrokers: brokers });
  await admin.createTopics({
    topics: [topics.input, topics.output],
    partitions: input.partitions,
    replicas: 1,
    configs: KEPT_TOPIC_CONFIGS,
  });
  const children: ChildProcess[] = [];
  const reports: Promise<{ cpuSecs: number }>[] = [];
  // Each instance's partitions per application, as it reports them.
  const owned: Map<string, number>[] = [];
  for (let i = 0; i < instances; i++) {
    const child = spawn(
      process.execPath,
      [
        new URL(import.meta.url).pathname,
        '--child',
        id,
        topics.input,
        topics.output,
        brokers.join(','),
        String(combine),
        `i${i}`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    const mine = new Map<string, number>();
    owned.push(mine);
    let out = '';
    let parsed = 0;
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      for (; parsed < lines.length - 1; parsed++) {
        const m = JSON.parse(lines[parsed]!) as { assigned?: string; partitions?: number };
        if (m.assigned !== undefined) mine.set(m.assigned, m.partitions!);
      }
    });
    const report = new Promise<{ cpuSecs: number }>((resolve, reject) =>
      child.on('exit', (code) =>
        code === 0
          ? resolve(JSON.parse(out.trim().split('\n').at(-1)!))
          : reject(new Error(`instance ${i} exited ${code}`)),
      ),
    );
    report.catch(() => {});
    reports.push(report);
  }
  try {
    // The input is produced once every instance runs partitions of every stage: otherwise the first
    // to start reads most of it before the group has spread the partitions.
    const apps = combine ? [id, `${id}-agg`] : [id];
    const deadline = Date.now() + 180_000;
    while (!owned.every((m) => apps.every((a) => (m.get(a) ?? 0) > 0))) {
      if (Date.now() > deadline)
        throw new Error(`${id}: the instances did not all get partitions in 3 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const t0 = performance.now();
    await produce(brokers, topics.input, input.records);
    // The records that close the windows go once every input record was taken: repartitioned, one
    // read early would move its key-group partitions' watermarks past the records still to come.
    while ((await committed(admin, id, topics.input, input.partitions).catch(() => 0)) < input.events) {
      if (Date.now() > deadline + 600_000) throw new Error(`${id}: the input was not all read in 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await produce(brokers, topics.input, input.flush);
    const { counts } = await outputs(brokers, topics.output, input.events, 600_000);
    const secs = (performance.now() - t0) / 1000;
    for (const c of children) c.kill('SIGTERM');
    const done = await Promise.all(reports);
    return { secs, cpu: done.map((d) => d.cpuSecs), counts };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    const made = (await admin.listTopics()).filter((t) => t.startsWith(id));
    await admin.deleteTopics({ topics: made }).catch(() => {});
    await admin.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r3 = (x: number) => Number(x.toFixed(3));

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '600000' },
      partitions: { type: 'string', default: '6' },
      instances: { type: 'string', default: '3' },
      zipf: { type: 'string', default: '1.5' },
      rounds: { type: 'string', default: '2' },
      brokers: { type: 'string', default: process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092' },
    },
  });
  const events = Number(values.events);
  const partitions = Number(values.partitions);
  const instances = Number(values.instances);
  const zipf = Number(values.zipf);
  const rounds = Number(values.rounds);
  const brokers = values.brokers.split(',');
  const { records, flush, expected, hottest } = prepare(events, partitions, zipf);
  process.stderr.write(
    `skew-kafka-combine: ${events.toLocaleString()} events, Zipf ${zipf} (hottest key ${(hottest * 100).toFixed(0)} %), round-robin over ${partitions} partitions, ${instances} instances, ${rounds} rounds each\n`,
  );
  const runs: Record<'on' | 'off', Round[]> = { on: [], off: [] };
  for (let r = 1; r <= rounds; r++)
    for (const combine of r % 2 === 1 ? [true, false] : [false, true]) {
      const run = await round(brokers, { records, flush, partitions, events }, instances, combine);
      if (!equal(run.counts, expected))
        throw new Error(`pre-aggregation ${combine ? 'on' : 'off'}: the counts differ from the input's`);
      runs[combine ? 'on' : 'off'].push(run);
      const mean = run.cpu.reduce((a, b) => a + b, 0) / run.cpu.length;
      process.stderr.write(
        `  round ${r}, pre-aggregation ${combine ? 'on ' : 'off'}: ${Math.round(events / run.secs).toLocaleString()} events/s, CPU ${run.cpu.map((c) => c.toFixed(1)).join(' + ')} s (max/mean ${(Math.max(...run.cpu) / mean).toFixed(2)})\n`,
      );
    }
  const summary = (xs: Round[]) => ({
    eventsPerSec: Math.round(events / median(xs.map((x) => x.secs))),
    eventsPerCpuSec: Math.round(events / median(xs.map((x) => x.cpu.reduce((a, b) => a + b, 0)))),
    cpuSkew: r3(
      median(xs.map((x) => Math.max(...x.cpu) / (x.cpu.reduce((a, b) => a + b, 0) / x.cpu.length))),
    ),
  });
  const on = summary(runs.on);
  const off = summary(runs.off);
  console.log(
    JSON.stringify({
      bench: 'skew-kafka-combine',
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
  const [id, input, output, brokers, combine, name] = process.argv.slice(3);
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
