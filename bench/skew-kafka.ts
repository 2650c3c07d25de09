/**
 * `npm run bench -- skew-kafka` (issue 18): load-aware assignment across the
 * instances of a Kafka application, on (`loadBalance`, probing every 3 s) vs
 * off (partitions assigned by count), over Zipf-skewed keys.
 *
 * The input topic is filled once with `--events` `{ key }` records whose keys
 * follow Zipf `--zipf` over 10,000 keys, each in the partition of its key
 * (`kafkaPartition`), so partitions carry very different loads. Each round
 * starts `--instances` child processes of one application (a fresh id), the
 * exactly-once keyed count of `test/kafka`'s counting pipeline (state in the
 * changelog, one output per record), which read the whole topic from its
 * start; the clock runs from their start until the group's committed offsets
 * reach the end of the input. The children are then stopped (a savepoint)
 * and report their CPU time. On and off alternate, `--rounds` of each;
 * medians. Every run gets the same input, brokers and machine.
 *
 * One JSON line:
 * {"bench":"skew-kafka","events":…,"partitions":…,"instances":…,"zipf":…,"on":{"eventsPerSec":…,"eventsPerCpuSec":…,"cpuSkew":…,"moved":…},"off":{…},"throughputRatio":…}
 * `cpuSkew`: the busiest instance's CPU time over the mean of the instances'.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaApp, kafkaPartition } from '../src/deploy/kafka/index.ts';
import { Pipeline } from '../src/index.ts';
import { valueState } from '../src/state/handles.ts';
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

async function fill(brokers: string[], topic: string, events: number, partitions: number, zipf: number) {
  const admin = new Admin({ clientId: 'bench-skew-kafka', bootstrapBrokers: brokers });
  await admin.createTopics({ topics: [topic], partitions, replicas: 1, configs: KEPT_TOPIC_CONFIGS });
  await admin.close();
  const producer = new Producer({ clientId: 'bench-skew-kafka', bootstrapBrokers: brokers });
  const keys = zipfKeys(events, zipf);
  const perPartition = new Array<number>(partitions).fill(0);
  for (let i = 0; i < events; i += 5000) {
    const messages = keys.slice(i, i + 5000).map((key) => {
      const partition = kafkaPartition(key, partitions);
      perPartition[partition]!++;
      return { topic, key: Buffer.from(key), partition, value: Buffer.from(JSON.stringify({ key })) };
    });
    await producer.send({ messages, acks: ProduceAcks.LEADER });
  }
  await producer.close();
  return perPartition;
}

interface Round {
  secs: number;
  cpu: number[];
  moved: number;
}

async function round(
  brokers: string[],
  input: string,
  partitions: number,
  end: number,
  instances: number,
  balance: boolean,
): Promise<Round> {
  const id = `bench-skew-kafka-${randomUUID().slice(0, 8)}`;
  const output = `${id}-out`;
  const admin = new Admin({ clientId: 'bench-skew-kafka', bootstrapBrokers: brokers });
  await admin.createTopics({ topics: [output], partitions, replicas: 1, configs: KEPT_TOPIC_CONFIGS });
  const started = [...Array(instances).keys()].map((i) =>
    startInstance<{ cpuSecs: number; moved: number }>(
      new URL(import.meta.url).pathname,
      [id, input, output, brokers.join(','), String(balance), `i${i}`],
      i,
    ),
  );
  const children = started.map((x) => x.child);
  const reports = started.map((x) => x.report);
  const t0 = performance.now();
  try {
    const deadline = Date.now() + 600_000;
    while ((await committed(admin, id, input, partitions).catch(() => 0)) < end) {
      if (Date.now() > deadline) throw new Error(`${id}: not done in 10 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const secs = (performance.now() - t0) / 1000;
    for (const c of children) c.kill('SIGTERM');
    const done = await Promise.all(reports);
    return { secs, cpu: done.map((d) => d.cpuSecs), moved: done.reduce((n, d) => n + d.moved, 0) };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await admin.deleteTopics({ topics: [output, `${id}-changelog`] }).catch(() => {});
    await admin.close();
  }
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: INSTANCE_OPTIONS,
  });
  const events = Number(values.events);
  const partitions = Number(values.partitions);
  const instances = Number(values.instances);
  const zipf = Number(values.zipf);
  const rounds = Number(values.rounds);
  const brokers = values.brokers.split(',');
  const input = `bench-skew-kafka-in-${randomUUID().slice(0, 8)}`;
  const shares = await fill(brokers, input, events, partitions, zipf);
  process.stderr.write(
    `skew-kafka: ${events.toLocaleString()} events, Zipf ${zipf}, ${partitions} partitions (records each: ${shares.join(', ')}), ${instances} instances, ${rounds} rounds each\n`,
  );
  const runs: Record<'on' | 'off', Round[]> = { on: [], off: [] };
  try {
    for (let r = 1; r <= rounds; r++)
      for (const balance of r % 2 === 1 ? [true, false] : [false, true]) {
        const run = await round(brokers, input, partitions, events, instances, balance);
        runs[balance ? 'on' : 'off'].push(run);
        process.stderr.write(
          `  round ${r}, load balance ${balance ? 'on ' : 'off'}: ${Math.round(events / run.secs).toLocaleString()} events/s, CPU ${run.cpu.map((c) => c.toFixed(1)).join(' + ')} s (max/mean ${cpuSkew(run.cpu).toFixed(2)}), ${run.moved} partitions moved\n`,
        );
      }
  } finally {
    const admin = new Admin({ clientId: 'bench-skew-kafka', bootstrapBrokers: brokers });
    await admin.deleteTopics({ topics: [input] }).catch(() => {});
    await admin.close();
  }
  const summary = (xs: Round[]) => ({
    eventsPerSec: Math.round(events / median(xs.map((x) => x.secs))),
    eventsPerCpuSec: Math.round(events / median(xs.map((x) => x.cpu.reduce((a, b) => a + b, 0)))),
    cpuSkew: r3(median(xs.map((x) => cpuSkew(x.cpu)))),
    moved: median(xs.map((x) => x.moved)),
  });
  const on = summary(runs.on);
  const off = summary(runs.off);
  console.log(
    JSON.stringify({
      bench: 'skew-kafka',
      events,
      partitions,
      instances,
      zipf,
      rounds,
      on,
      off,
      throughputRatio: r3(on.eventsPerSec / off.eventsPerSec),
    }),
  );
}

if (process.argv[2] === '--child') {
  const [id, input, output, brokers, balance, name] = process.argv.slice(3);
  const app = kafkaApp({
    applicationId: id!,
    brokers: brokers!.split(','),
    commitIntervalMs: 500,
    instanceId: name!,
    loadBalance: balance === 'true' ? { probeIntervalMs: 3000 } : false,
  });
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort());
  const cpu0 = process.cpuUsage();
  await app.run(
    () => {
      const p = new Pipeline({ name: 'skew-kafka' });
      p.source('in', app.source<{ key: string }>({ topics: [input!] }))
        .keyBy((e) => e.key)
        .withState({ n: valueState<number>() })
        .process<{ key: string; count: number }>({
          processElement(e, ctx) {
            const n = (ctx.state.n.get() ?? 0) + 1;
            ctx.state.n.set(n);
            ctx.emit({ key: e.key, count: n });
          },
        })
        .sink(app.sink({ topic: output!, key: (c) => c.key }));
      return p;
    },
    { signal: stop.signal },
  );
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ cpuSecs: (cpu.user + cpu.system) / 1e6, moved: app.metrics().moved }));
  process.exit(0);
}
