/**
 * Issue 19, point 8: data loss after a graceful stop and restart of a
 * kafkaApp. A stop drained: it fired every open window as if final (a partial
 * count in the output), and after a restart the records of those windows went
 * to the late output. A stop must be a savepoint: commit state, offsets and
 * output without ending the input.
 *
 * Two processes count events per key in 10 s tumbling event-time windows
 * while the input is produced; every process is stopped (SIGTERM) and started
 * again several times mid-stream, once both together. The read_committed
 * output (Kafka's Java consumer) must equal a batch count of the input per key
 * and window, written independently of the engine: every window once, none
 * lost, none doubled, and the late topic empty (no record is late in input
 * order: each partition's disorder stays within the bound).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { kafkaPartition } from '../../src/deploy/kafka/index.ts';
import { DISORDER_MS, type Event, WINDOW_MS, type WindowCount } from './fixtures/window-app.ts';
import { kafkaReady, readCommittedJava, startChild, stopChild, until, untilProgress } from './helpers.ts';

const kafka = await kafkaReady();
const CHILD = new URL('./fixtures/window-app.ts', import.meta.url).pathname;
const PARTITIONS = 4;
const KEYS = 16;
const ROUNDS = 24;
const PER_ROUND = 150;
/** Event time advances this much per event; the jitter below stays within DISORDER_MS. */
const STEP_MS = 25;
const BASE = 1_700_000_000_000;
/** Which processes stop together, every fourth round. */
const STOPS = [[0], [1], [0, 1], [1], [0], [0, 1]];

/** The batch count, written without the engine: per key and window start, the number of events. */
function oracle(events: readonly Event[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    const id = `${e.key}@${e.ts - (e.ts % WINDOW_MS)}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('Kafka application: stop is a savepoint', { skip: kafka.skip }, () => {
  it('stopping and restarting every process mid-stream loses nothing and doubles nothing (windows = batch count, nothing late)', {
    timeout: 600_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const brokers = kafka.address.split(',');
    const id = randomUUID().slice(0, 8);
    const input = `eddy-sp-in-${id}`;
    const output = `eddy-sp-out-${id}`;
    const late = `eddy-sp-late-${id}`;
    const app = `eddy-sp-${id}`;
    const admin = new Admin({ clientId: 'eddy-sp-test', bootstrapBrokers: brokers });
    const producer = new Producer({
      clientId: 'eddy-sp-test',
      bootstrapBrokers: brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    const log: string[] = [];
    const children: ChildProcess[] = [];
    const start = (i: number) => {
      children[i] = startChild(CHILD, [kafka.address!, app, input, output, late, `p${i}`], log);
    };
    const context = () => `process log:\n${log.join('').slice(-4000)}`;
    /** Whether the process owns partitions now (its last `owns` line is not empty). */
    const owning = (c: ChildProcess | undefined) => {
      const lines = [...log.join('').matchAll(new RegExp(`window-app ${c?.pid}: owns \\[([\\d,]*)\\]`, 'g'))];
      return lines.length > 0 && lines.at(-1)![1] !== '';
    };
    const stops: string[] = [];
    /** SIGTERM (a savepoint), a clean exit, then the same process again, owning partitions. */
    const restart = async (which: number[]) => {
      const codes = await Promise.all(which.map((i) => stopChild(children[i]!)));
      assert.deepEqual(
        codes,
        which.map(() => 0),
        `a stopped process exited cleanly\n${context()}`,
      );
      for (const i of which) start(i);
      stops.push(which.map((i) => `p${i}`).join('+'));
    };
    try {
      await admin.createTopics({ topics: [input, output, late], partitions: PARTITIONS, replicas: 1 });
      const events: Event[] = [];
      const produceRound = async () => {
        const messages = [];
        for (let j = 0; j < PER_ROUND; j++) {
          const seq = events.length;
          const key = `k${(seq * 7) % KEYS}`;
          // Out of order by up to 1.5 s, within the 2 s bound: nothing is late in input order.
          const ts = BASE + seq * STEP_MS - ((seq * 7919) % 1500);
          const e: Event = { key, seq, ts };
          events.push(e);
          messages.push({
            topic: input,
            partition: kafkaPartition(key, PARTITIONS),
            key: Buffer.from(key),
            value: Buffer.from(JSON.stringify(e)),
          });
        }
        await producer.send({ messages });
      };
      start(0);
      start(1);
      await until('both processes own partitions', () => owning(children[0]) && owning(children[1]), {
        context,
      });
      for (let r = 0; r < ROUNDS; r++) {
        await produceRound();
        // Stops happen while input keeps coming: the rounds go on as soon as the process is started
        // again, and the next stop waits only until every process owns partitions once more.
        if (r % 4 === 2) {
          await until('every process owns partitions', () => children.every(owning), { context });
          await restart(STOPS[(r - 2) / 4]!);
        }
      }
      // One far-future event per partition closes every window above (its own never closes).
      const flush: { topic: string; partition: number; key: Buffer; value: Buffer }[] = [];
      for (let n = 0; flush.length < PARTITIONS; n++) {
        const key = `flush-${n}`;
        const partition = kafkaPartition(key, PARTITIONS);
        if (flush.some((f) => f.partition === partition)) continue;
        const e: Event = { key, seq: -1, ts: BASE + 10 * 3_600_000 };
        flush.push({ topic: input, partition, key: Buffer.from(key), value: Buffer.from(JSON.stringify(e)) });
      }
      await producer.send({ messages: flush });
      const want = oracle(events);
      // Committed output grows as windows close; wait while it does.
      await untilProgress(
        'every window is in the committed output',
        async () => {
          let n = 0;
          await readToEnd({
            bootstrapBrokers: brokers,
            topic: output,
            clientId: 'eddy-sp-check',
            onMessage: () => n++,
          });
          return n;
        },
        want.size,
        { context },
      );
      const codes = await Promise.all(children.map((c) => stopChild(c)));
      assert.deepEqual(codes, [0, 0], `every process stopped cleanly\n${context()}`);

      // The verdict, from Java's read_committed consumer.
      const got = new Map<string, number[]>();
      for (const m of await readCommittedJava(kafka.address, output, { atLeast: 1 })) {
        const w = JSON.parse(m.value) as WindowCount;
        const id = `${w.key}@${w.start}`;
        got.set(id, [...(got.get(id) ?? []), w.count]);
      }
      const doubled = [...got].filter(([, counts]) => counts.length > 1);
      const wrong = [...want].filter(([id, n]) => got.get(id)?.[0] !== n);
      const extra = [...got.keys()].filter((id) => !want.has(id));
      const lateRecords = await readCommittedJava(kafka.address, late);
      process.stderr.write(
        `savepoint: ${events.length} events, ${want.size} windows, stops ${stops.join(', ')}; ${doubled.length} doubled, ${wrong.length} wrong or missing, ${extra.length} extra, ${lateRecords.length} late\n`,
      );
      assert.deepEqual(doubled.slice(0, 5), [], `windows emitted more than once\n${context()}`);
      assert.deepEqual(
        wrong.slice(0, 5).map(([id, n]) => `${id}: got ${got.get(id)} want ${n}`),
        [],
        `windows whose count is not the batch count\n${context()}`,
      );
      assert.deepEqual(extra.slice(0, 5), [], 'windows that no input makes');
      assert.deepEqual(
        lateRecords.slice(0, 5).map((m) => m.value),
        [],
        'no record is late: each partition stays within the bound',
      );
      assert.ok(stops.length >= 5, 'processes were stopped and restarted several times');
      assert.ok(DISORDER_MS >= 1500, 'the input disorder stays within the bound');
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await producer.close();
      await admin.deleteTopics({ topics: [input, output, late, `${app}-changelog`] }).catch(() => {});
      await admin.close();
    }
  });
});
