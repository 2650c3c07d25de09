/**
 * The broker is stopped and started again while a pipeline reads from it: the pipeline goes on with
 * what it had fetched, waits, reconnects, and loses nothing.
 *
 * Other suites share the broker on 9092, so this one starts its own on 19192 (controller 19193) with
 * the project's scripts (kafka/up.sh, kafka/down.sh; ~6 s to start, ~2 s to stop on this machine)
 * and a fresh data directory, and removes it seconds. It runs wherever the Kafka suite runs: the
 * jars are those `npm run kafka:up` cached for the first broker (CI starts that one first).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { kafkaApp, kafkaPartition, kafkaSource } from '../../src/deploy/kafka/index.ts';
import { collectSink, type DeadLetter, EddyError, Pipeline, type Sink, valueState } from '../../src/index.ts';
import { kafkaReady } from './helpers.ts';

const run = promisify(execFile);
// Issue 19: a broker that answers (coordinators loaded), not one that only listens.
const kafka = await kafkaReady();
const PORT = 19192;
const BROKERS = [`127.0.0.1:${PORT}`];
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const HOME = process.env['KAFKA_HOME_DIR'] ?? join(REPO, '.kafka');
const DATA = join(HOME, `broker-${PORT}`);
const OUTAGE_MS = 20_000;

function jarsCached(): boolean {
  const lib = join(HOME, 'lib');
  return existsSync(lib) && readdirSync(lib).some((v) => existsSync(join(lib, v, '.complete')));
}

// Outside CI a checkout whose broker is external (KAFKA_BROKERS) may have no jars: skip, loudly.
let skip: string | false = kafka.skip;
if (skip === false && process.env['CI'] !== 'true' && !jarsCached()) {
  skip = `no Kafka jars in ${join(HOME, 'lib')} to start a second broker: run "npm run kafka:up" once`;
  process.stderr.write(`\n!!! SKIPPING broker-restart suite — ${skip}\n\n`);
}

/** Runs kafka/up.sh or kafka/down.sh for the test broker; its own port, never the shared one. */
async function broker(script: 'up.sh' | 'down.sh'): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, KAFKA_PORT: String(PORT), KAFKA_START_TIMEOUT: '60' };
  delete env['KAFKA_BROKERS'];
  delete env['KAFKA_CONTROLLER_PORT'];
  const started = Date.now();
  try {
    await run('bash', [join(REPO, 'kafka', script)], { env, cwd: REPO, timeout: 75_000 });
  } catch (e) {
    const out = e as { stdout?: string; stderr?: string };
    assert.fail(`kafka/${script} on port ${PORT} failed:\n${out.stdout ?? ''}${out.stderr ?? String(e)}`);
  }
  return Date.now() - started;
}

async function until(what: () => boolean, ms: number, message: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) assert.fail(message());
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Event {
  readonly key: string;
  readonly seq: number;
}

/** A slow sink keeps a run going for a few seconds, so the broker stops in the middle of it. */
const slow: Sink<unknown> = {
  kind: 'slow',
  guarantee: 'best-effort',
  open: () => ({ write: () => new Promise<void>((r) => setTimeout(r, 40)) }),
};

async function produce(messages: MessageToProduce[]): Promise<void> {
  const producer = new Producer({
    clientId: 'eddy-test',
    bootstrapBrokers: BROKERS,
    idempotent: true,
    acks: ProduceAcks.ALL,
  });
  try {
    await producer.send({ messages });
  } finally {
    await producer.close();
  }
}

describe('broker restart (a second real broker)', { skip }, () => {
  before(
    async () => {
      assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
      await broker('down.sh'); // a leftover from an interrupted run
      rmSync(DATA, { recursive: true, force: true });
      await broker('up.sh');
    },
    { timeout: 90_000 },
  );
  after(
    async () => {
      await broker('down.sh');
      rmSync(DATA, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  it('waits while the broker is down, reconnects, and loses nothing', { timeout: 120_000 }, async () => {
    const input = `eddy-restart-${randomUUID()}`;
    const dlqTopic = `eddy-restart-dlq-${randomUUID()}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: BROKERS });
    try {
      await admin.createTopics({ topics: [input], partitions: 2, replicas: 1 });
      await admin.createTopics({ topics: [dlqTopic], partitions: 1, replicas: 1 });
    } finally {
      await admin.close();
    }
    const event = (seq: number): Event => ({ key: `k${seq % 5}`, seq });
    const message = (e: Event): MessageToProduce => ({
      topic: input,
      key: Buffer.from(e.key),
      value: Buffer.from(JSON.stringify(e)),
    });
    const first = Array.from({ length: 3000 }, (_, i) => event(i));
    const second = Array.from({ length: 1000 }, (_, i) => event(3000 + i));
    await produce([
      ...first.map(message),
      { topic: input, key: Buffer.from('poison-1'), value: Buffer.from('{oops') },
    ]);

    const counts = collectSink<{ key: string; seq: number; count: number }>();
    const dead = collectSink<DeadLetter>();
    const p = new Pipeline({ name: 'restart' });
    const counted = p
      .source(
        'events',
        kafkaSource<Event>({
          topics: [input],
          groupId: `eddy-test-${randomUUID()}`,
          brokers: BROKERS,
          deadLetterTopic: dlqTopic,
          reconnectTimeoutMs: 60_000,
        }),
        { batchSize: 20 },
      )
      .keyBy((e) => e.key)
      .withState({ n: valueState<number>() })
      .process<{ key: string; seq: number; count: number }>({
        processElement(e, ctx) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit({ key: e.key, seq: e.seq, count: n });
        },
      });
    counted.sink(counts);
    counted.sink(slow);
    p.deadLetters().sink(dead);
    const running = await p.start();
    let failed: unknown;
    running.done.catch((e: unknown) => {
      failed = e;
    });
    try {
      await until(
        () => counts.values.length >= 500,
        30_000,
        () => `only ${counts.values.length} events before the restart`,
      );
      const atStop = counts.values.length;
      const stopMs = await broker('down.sh');
      const whileDown = counts.values.length;
      // Longer than the client rides out by itself (a fetch is tried 4 times, each after a metadata
      // request tried 4 times, 1 s apart): before eddy replaced failed streams, this failed the pipeline.
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      const startMs = await broker('up.sh');
      const atStart = counts.values.length;
      await produce([
        ...second.map(message),
        { topic: input, key: Buffer.from('poison-2'), value: Buffer.from('[') },
      ]);
      await until(
        // The second poison record comes last in its partition: wait for it too, not only the counts.
        () =>
          (counts.values.length >= first.length + second.length && dead.values.length >= 2) ||
          failed !== undefined,
        45_000,
        () =>
          `processed ${counts.values.length}/${first.length + second.length} and ${dead.values.length}/2 dead letters after the restart`,
      );
      assert.equal(failed, undefined, `the pipeline failed: ${String(failed)}`);
      assert.ok(atStop < first.length, 'the broker stopped in the middle of the run');
      process.stderr.write(
        `broker-restart: ${atStop} events processed when the broker was stopped (${stopMs} ms), ${whileDown}–${atStart} while it was down, restart took ${startMs} ms, ${counts.values.length} at the end\n`,
      );
    } finally {
      running.stop();
      await running.done.catch(() => {});
    }

    // No loss: every event of both waves, and the per-key counts of a batch count over the input.
    // No duplicates either, though the source only promises at-least-once: within one process it
    // drops records fetched again after the reconnect (it knows the offsets it handed out); after a
    // process restart, records whose offsets were not committed yet would be read again.
    const all = [...first, ...second];
    assert.deepEqual(
      counts.values.map((c) => c.seq).sort((a, b) => a - b),
      all.map((e) => e.seq),
    );
    const oracle = new Map<string, number>();
    for (const e of all) oracle.set(e.key, (oracle.get(e.key) ?? 0) + 1);
    const final = new Map<string, number>();
    for (const c of counts.values) final.set(c.key, Math.max(final.get(c.key) ?? 0, c.count));
    assert.deepEqual(new Map([...final].sort()), new Map([...oracle].sort()));
    // Both poison records were dead-lettered (the dead-letter topic itself is checked in poison.test.ts).
    assert.equal(dead.values.length, 2);
  });
  it('kafkaApp (exactly-once): rides out the outage, and its committed output is the batch count', {
    timeout: 360_000,
  }, async () => {
    const id = randomUUID().slice(0, 8);
    const input = `eddy-restart-app-in-${id}`;
    const output = `eddy-restart-app-out-${id}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: BROKERS });
    try {
      await admin.createTopics({ topics: [input, output], partitions: 2, replicas: 1 });
    } finally {
      await admin.close();
    }
    const event = (seq: number): Event => ({ key: `k${seq % 7}`, seq });
    const message = (e: Event): MessageToProduce => ({
      topic: input,
      key: Buffer.from(e.key),
      partition: kafkaPartition(e.key, 2),
      value: Buffer.from(JSON.stringify(e)),
    });
    const first = Array.from({ length: 2000 }, (_, i) => event(i));
    const second = Array.from({ length: 1000 }, (_, i) => event(2000 + i));
    await produce(first.map(message));

    const app = kafkaApp({
      applicationId: `eddy-restart-app-${id}`,
      brokers: BROKERS,
      commitIntervalMs: 200,
      reconnectTimeoutMs: 90_000,
    });
    const seen = collectSink<unknown>();
    const stop = new AbortController();
    let commits = 0;
    const restarts: string[] = [];
    const running = app.run(
      () => {
        const p = new Pipeline({ name: 'restart-app' });
        const counted = p
          .source('events', app.source<Event>({ topics: [input] }), { batchSize: 20 })
          .keyBy((e) => e.key)
          .withState({ n: valueState<number>() })
          .process<{ key: string; seq: number; count: number }>({
            processElement(e, ctx) {
              const n = (ctx.state.n.get() ?? 0) + 1;
              ctx.state.n.set(n);
              ctx.emit({ key: e.key, seq: e.seq, count: n });
            },
          });
        counted.sink(app.sink({ topic: output, key: (c) => c.key }));
        counted.sink(seen);
        counted.sink(slow);
        return p;
      },
      {
        signal: stop.signal,
        onCheckpoint: (info) => {
          if (info.error === undefined) commits++;
          else if (process.env['DEBUG_APP'])
            process.stderr.write(
              `${new Date().toISOString()} commit failed: ${String(info.error).slice(0, 200)}\n`,
            );
        },
        onRestart: (why) => {
          restarts.push(why);
          if (process.env['DEBUG_APP']) process.stderr.write(`${new Date().toISOString()} restart: ${why}\n`);
        },
        onAssigned: (ps, g) => {
          if (process.env['DEBUG_APP'])
            process.stderr.write(`${new Date().toISOString()} owns ${ps} in ${g}\n`);
        },
      },
    );
    let failed: unknown;
    const done = running.catch((e: unknown) => {
      failed = e;
    });
    const committedOutput = async () => {
      const out: { key: string; seq: number; count: number }[] = [];
      await readToEnd({
        bootstrapBrokers: BROKERS,
        topic: output,
        clientId: 'eddy-test-read',
        onMessage: (m) => out.push(JSON.parse(m.value!.toString())),
      });
      return out;
    };
    try {
      await until(
        () => (seen.values.length >= 300 && commits >= 2) || failed !== undefined,
        40_000,
        () => `only ${seen.values.length} events and ${commits} commits before the restart`,
      );
      assert.equal(failed, undefined, `the application failed: ${String(failed)}`);
      const atStop = seen.values.length;
      await broker('down.sh');
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await broker('up.sh');
      const upAt = Date.now();
      await produce(second.map(message));
      const total = first.length + second.length;
      let out: { key: string; seq: number; count: number }[] = [];
      // A bound, not a speed test: on a loaded machine the group can take a session timeout and a restart backoff to settle.
      const deadline = Date.now() + 240_000;
      while (failed === undefined && Date.now() < deadline) {
        out = await committedOutput();
        if (out.length >= total) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.equal(failed, undefined, `the application failed: ${String(failed)}`);
      assert.ok(atStop < first.length, 'the broker stopped in the middle of the run');
      process.stderr.write(
        `broker-restart (kafkaApp): ${atStop} events seen when the broker stopped, ${restarts.length} task restarts (${(restarts[0] ?? '').slice(0, 160)}), ${out.length} committed outputs, all ${Date.now() - upAt} ms after the broker was back\n`,
      );
      // Exactly-once: per key, counts 1, 2, 3, … in input order, each input event once.
      const byKey = new Map<string, { seq: number; count: number }[]>();
      for (const o of out) {
        if (!byKey.has(o.key)) byKey.set(o.key, []);
        byKey.get(o.key)!.push(o);
      }
      const all = [...first, ...second];
      assert.deepEqual(
        out.map((o) => o.seq).sort((a, b) => a - b),
        all.map((e) => e.seq),
        'every input event in the committed output exactly once',
      );
      for (const [key, list] of byKey) {
        const want = all.filter((e) => e.key === key).map((e, i) => ({ seq: e.seq, count: i + 1 }));
        assert.deepEqual(
          list.map(({ seq, count }) => ({ seq, count })),
          want,
          `key ${key}: the batch count`,
        );
      }
    } finally {
      stop.abort();
      await done;
    }
    assert.equal(failed, undefined, `the application failed: ${String(failed)}`);
  });
  // Runs after the tests above, on the same broker, and leaves it stopped (after() stops it anyway).
  it('fails with a clear error when the broker stays away longer than reconnectTimeoutMs', {
    timeout: 180_000,
  }, async () => {
    const input = `eddy-gone-${randomUUID()}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: BROKERS });
    try {
      await admin.createTopics({ topics: [input], partitions: 1, replicas: 1 });
    } finally {
      await admin.close();
    }
    await produce([{ topic: input, value: Buffer.from('{"key":"k","seq":0}') }]);
    const seen = collectSink<Event>();
    const p = new Pipeline({ name: 'gone' });
    p.source(
      'events',
      kafkaSource<Event>({
        topics: [input],
        groupId: `eddy-test-${randomUUID()}`,
        brokers: BROKERS,
        reconnectTimeoutMs: 2000,
      }),
    ).sink(seen);
    const running = await p.start();
    let failed: unknown;
    const done = running.done.catch((e: unknown) => {
      failed = e;
    });
    try {
      await until(
        () => seen.values.length === 1 || failed !== undefined,
        20_000,
        () => 'the first event did not arrive',
      );
      await broker('down.sh');
      const stopped = Date.now();
      // The client's own retries come first (~30 s on a quiet machine: 29.4–29.9 s in three runs), then
      // eddy's 2 s. A bound, not a speed test: a CI run under load took over 45 s, the old bound.
      await until(
        () => failed !== undefined,
        150_000,
        () => 'the pipeline did not fail with the broker gone',
      );
      process.stderr.write(
        `broker-restart: failed ${Date.now() - stopped} ms after the broker stopped: ${String((failed as Error).message).slice(0, 90)}\n`,
      );
    } finally {
      running.stop();
      await done;
    }
    assert.ok(failed instanceof EddyError, String(failed));
    assert.equal(failed.code, 'EDDY_IO_FAILED');
    assert.match(failed.message, /for 2000 ms \(brokers 127\.0\.0\.1:19192\).*raise reconnectTimeoutMs/);
  });
});
