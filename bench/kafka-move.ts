/**
 * The stall of a partition the load balancer moves between running
 * instances, with and without warm-up before the move (issue 13; Kafka
 * Streams' KIP-441 applied to load moves). Two arms in one run on the local
 * broker, each a fresh application:
 *
 * 1. Three instances a, b, c in this process (`standbyReplicas: 1`: each
 *    keeps a copy of the partitions of the instance before it by name;
 *    `loadBalance` probing every 2 s) share 6 partitions, two each. Keyed
 *    state of `--keys` keys with a `--pad`-byte string each is built over
 *    `--rounds` rounds (every round updates every key and is committed).
 * 2. The load shifts: one instance's two partitions get 30 records for every
 *    4 of the next instance's and 1 of the third's. The load rule moves a
 *    hot partition to the third, the lightest, which keeps no copy of it.
 * 3. Reported: that partition's restore on its new owner (ms from fencing
 *    the previous owner to the state read back, the task's stall; changelog
 *    records read; whether from a copy) and how long the move took from the
 *    shift.
 *
 * Arms: *cold* (`warmupTimeoutMs: 0`: the move is made at once and the new
 * owner reads the partition's changelog from the start) and *warm* (the
 * default: the leader holds the move while the receiver warms a copy up,
 * then it reads only the tail). Output: progress on stderr, one JSON line
 * on stdout.
 *
 *   npm run bench -- kafka-move [--keys 120000] [--rounds 4] [--pad 64]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import {
  internalTopics,
  type KafkaApp,
  kafkaApp,
  kafkaPartition,
  type RestoreMetrics,
} from '../src/deploy/kafka/index.ts';
import { paddedCounts } from './kafka-state-app.ts';
import { KEPT_TOPIC_CONFIGS } from './kept-topics.ts';

const PARTITIONS = 6;
const NAMES = ['a', 'b', 'c'] as const;

interface Arm {
  readonly restore: { readonly ms: number; readonly records: number; readonly standby: boolean };
  /** From the load shift to the moved partition's restore done (ms). */
  readonly moveMs: number;
  /** The partition that moved. */
  readonly partition: number;
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      keys: { type: 'string', default: '120000' },
      rounds: { type: 'string', default: '4' },
      pad: { type: 'string', default: '64' },
    },
  });
  const keys = Number(values.keys);
  const rounds = Number(values.rounds);
  const pad = 'x'.repeat(Number(values.pad));
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  const log = (s: string) => process.stderr.write(`kafka-move: ${s}\n`);
  const cold = await arm(false);
  const warm = await arm(true);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'kafka-move',
      keys,
      rounds,
      padBytes: pad.length,
      partitions: PARTITIONS,
      instances: NAMES.length,
      cold,
      warm,
      restoreRatio: Number((cold.restore.ms / Math.max(1, warm.restore.ms)).toFixed(1)),
    })}\n`,
  );

  async function arm(warmup: boolean): Promise<Arm> {
    const id = `eddy-bench-move-${randomUUID().slice(0, 8)}`;
    const input = `${id}-in`;
    const output = `${id}-out`;
    const admin = new Admin({ clientId: 'eddy-bench', bootstrapBrokers: brokers });
    const producer = new Producer({
      clientId: 'eddy-bench',
      bootstrapBrokers: brokers,
      acks: ProduceAcks.ALL,
    });
    const apps = new Map<string, { app: KafkaApp; stop: AbortController; done: Promise<void> }>();
    let handled = 0;
    let feeding: Promise<void> | undefined;
    let producing = true;
    const label = warmup ? 'warm' : 'cold';
    const start = (name: string) => {
      const app = kafkaApp({
        applicationId: id,
        brokers,
        commitIntervalMs: 500,
        instanceId: name,
        standbyReplicas: 1,
        standbyIntervalMs: 200,
        loadBalance: { probeIntervalMs: 2000 },
        ...(warmup ? {} : { warmupTimeoutMs: 0 }),
      });
      const stop = new AbortController();
      const done = app.run(
        () => paddedCounts(app, { name: 'move-bench', input, output, pad, rounds, onEvent: () => handled++ }),
        { signal: stop.signal },
      );
      apps.set(name, { app, stop, done });
    };
    const mine = (name: string) =>
      apps
        .get(name)!
        .app.metrics()
        .tasks.filter((t) => t.startsWith(`${input}:`))
        .map((t) => Number(t.split(':').at(-1)));
    const until = async (what: string, ok: () => boolean, ms = 600_000) => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`${label}: timed out waiting until ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const message = (key: string): MessageToProduce => ({
      topic: input,
      key: Buffer.from(key),
      partition: kafkaPartition(key, PARTITIONS),
      value: Buffer.from(`{"key":"${key}"}`),
    });
    try {
      await admin.createTopics({
        topics: [input, output],
        partitions: PARTITIONS,
        replicas: 1,
        configs: KEPT_TOPIC_CONFIGS,
      });
      for (const name of NAMES) start(name);
      await until('two partitions on each instance', () => NAMES.every((n) => mine(n).length === 2));
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < keys; k += 5000) {
          const messages: MessageToProduce[] = [];
          for (let i = k; i < Math.min(keys, k + 5000); i++) messages.push(message(`k${i}`));
          await producer.send({ messages });
        }
        await until(`round ${r + 1} processed`, () => handled >= (r + 1) * keys);
        await new Promise((res) => setTimeout(res, 1200)); // a commit after each round
        log(`${label}: round ${r + 1}/${rounds}: ${handled} events`);
      }
      // Copies made while joining go once unplaced for 30 s: each instance then keeps its predecessor's.
      await until('each instance keeps two copies', () =>
        NAMES.every((n) => apps.get(n)!.app.metrics().standbys.length === 2),
      );
      if (!NAMES.every((n) => mine(n).length === 2))
        throw new Error(`${label}: the partitions moved meanwhile`);
      const hotName = NAMES[0];
      const next = NAMES[1];
      const light = NAMES[2];
      const hot = mine(hotName);
      const cool = new Set(mine(next));
      // A few keys per partition carry the load after the shift.
      const loadKeys = Array.from({ length: PARTITIONS }, (_, p) => {
        const out: string[] = [];
        for (let i = 0; out.length < 3; i++) if (kafkaPartition(`k${i}`, PARTITIONS) === p) out.push(`k${i}`);
        return out;
      });
      const mix = Array.from({ length: PARTITIONS }, (_, p) => (hot.includes(p) ? 30 : cool.has(p) ? 4 : 1));
      const shiftedAt = Date.now();
      feeding = (async () => {
        while (producing) {
          const messages: MessageToProduce[] = [];
          mix.forEach((n, p) => {
            for (let i = 0; i < n; i++) messages.push(message(loadKeys[p]![i % 3]!));
          });
          await producer.send({ messages });
          await new Promise((res) => setTimeout(res, 20));
        }
      })();
      log(`${label}: load shifted onto ${hotName}'s partitions ${hot.join(', ')}; ${light} is the lightest`);
      await until(`a hot partition moves to ${light}`, () => mine(light).some((p) => hot.includes(p)));
      const moved = mine(light).find((p) => hot.includes(p))!;
      let restore: RestoreMetrics | undefined;
      await until('its restore is reported', () => {
        restore = apps
          .get(light)!
          .app.metrics()
          .restores.findLast((r) => r.partition === moved);
        return restore !== undefined;
      });
      const r = restore!;
      log(
        `${label}: partition ${moved} moved to ${light} after ${r.at + r.ms - shiftedAt} ms; restore ${r.ms} ms, ${r.records} records, from a copy: ${r.standby}`,
      );
      return {
        restore: { ms: r.ms, records: r.records, standby: r.standby },
        moveMs: r.at + r.ms - shiftedAt,
        partition: moved,
      };
    } finally {
      producing = false;
      await feeding?.catch(() => {});
      for (const a of apps.values()) a.stop.abort();
      await Promise.allSettled([...apps.values()].map((a) => a.done));
      await producer.close();
      await admin
        .deleteTopics({ topics: [input, output, ...Object.values(internalTopics(id))] })
        .catch(() => {});
      await admin.close();
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
