/**
 * Issue 19, points 9 and 10, against the real broker: records too large for
 * a topic, and records in the wrong partition, made a partition task restart
 * ~30 times a second for ever, with no dead letter and `run()` never failing.
 *
 * - An output record larger than its topic's max.message.bytes: with
 *   `onProduceError: 'dead-letter'` it goes, cut to fit, to the dead-letter
 *   topic with the reason, and the application goes on without a restart;
 *   with `'fail'` the task fails, restarts through the restart strategy, and
 *   `run()` rejects once the strategy gives up, naming topic, size and limit.
 * - Input records as large as the input topic allows go through the
 *   repartition topic and into the dead-letter topic eddy creates (both sized
 *   from the input topic); one still too large (compressed in the input) is
 *   dead-lettered, cut, with what was cut named.
 * - A dead letter larger than the user's own dead-letter topic allows is cut
 *   to fit with its reason and source coordinates: in a kafkaApp and in
 *   kafkaSource (which failed for ever on it).
 * - A record in the wrong partition (no keyBy) is a dead letter naming the
 *   expected and the actual partition, not a crash loop.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin, type Message, ProduceAcks, Producer } from '@platformatic/kafka';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { describeTopics, fitsAlone } from '../../src/connectors/kafka/topics.ts';
import {
  DEAD_LETTER_HEADERS,
  type KafkaApp,
  type KafkaAppRunOptions,
  kafkaApp,
  kafkaPartition,
  kafkaSink,
  kafkaSource,
} from '../../src/deploy/kafka/index.ts';
import {
  arraySource,
  collectSink,
  type DeadLetter,
  EddyError,
  Pipeline,
  valueState,
} from '../../src/index.ts';
import { nullSink } from '../helpers/sinks.ts';
import { createTopics, kafkaReady, until, untilProgress } from './helpers.ts';

const kafka = await kafkaReady();

interface Event {
  readonly key: string;
  readonly seq: number;
  /** How many bytes of padding the output record gets. */
  readonly pad?: number;
  readonly blob?: string;
}

const header = (m: Message, name: string) =>
  [...(m.headers ?? [])].find(([k]) => k.toString() === name)?.[1].toString();

async function readAll(brokers: string[], topic: string): Promise<Message[]> {
  const out: Message[] = [];
  await readToEnd({
    bootstrapBrokers: brokers,
    topic,
    clientId: 'eddy-test-read',
    onMessage: (m) => out.push(m),
  });
  return out;
}

/** Runs an app in this process until stopped; `failed` is set if run() rejects. */
function runApp(app: KafkaApp, build: () => Pipeline, o: Omit<KafkaAppRunOptions, 'signal'> = {}) {
  const stop = new AbortController();
  const state: { failed: unknown; done: Promise<void>; stop: () => Promise<void>; restarts: string[] } = {
    failed: undefined,
    restarts: [],
    done: Promise.resolve(),
    stop: async () => {
      stop.abort();
      await state.done;
    },
  };
  state.done = app
    .run(build, {
      ...o,
      signal: stop.signal,
      onRestart: (why) => {
        state.restarts.push(why);
        if (process.env['DEBUG_APP']) process.stderr.write(`restart: ${why}\n`);
      },
    })
    .catch((e: unknown) => {
      state.failed = e;
    });
  return state;
}

describe('oversized records and records in the wrong partition (real broker)', { skip: kafka.skip }, () => {
  const brokers = (kafka.address ?? '').split(',');
  const id = () => randomUUID().slice(0, 8);
  const admin = () => new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
  const produce = async (
    messages: { topic: string; partition?: number; key?: Buffer; value: Buffer }[],
    compression?: 'gzip',
  ) => {
    const producer = new Producer({
      clientId: 'eddy-test',
      bootstrapBrokers: brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    try {
      for (const m of messages)
        await producer.send({ messages: [m], ...(compression === undefined ? {} : { compression }) });
    } finally {
      await producer.close();
    }
  };
  const event = (topic: string, e: Event, partitions: number, partition?: number) => ({
    topic,
    partition: partition ?? kafkaPartition(e.key, partitions),
    key: Buffer.from(e.key),
    value: Buffer.from(JSON.stringify(e)),
  });

  it('eddy sizes a record as the broker does: the largest value fitsAlone allows is accepted, one byte more refused', {
    timeout: 60_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const topic = `eddy-size-${id()}`;
    const a = admin();
    const producer = new Producer({
      clientId: 'eddy-test',
      bootstrapBrokers: brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    try {
      await createTopics(a, { [topic]: { partitions: 1, maxMessageBytes: 2000 } });
      for (const withHeaders of [false, true]) {
        const record = (size: number) => ({
          topic,
          key: Buffer.from('key'),
          value: Buffer.alloc(size),
          ...(withHeaders
            ? { headers: new Map([[Buffer.from('eddy.error.reason'), Buffer.alloc(300)]]) }
            : {}),
        });
        let size = 0;
        while (fitsAlone(record(size + 1), 2000)) size++;
        await producer.send({ messages: [record(size)] });
        await assert.rejects(producer.send({ messages: [record(size + 1)] }), 'one byte more is refused');
      }
    } finally {
      await producer.close();
      await a.deleteTopics({ topics: [topic] }).catch(() => {});
      await a.close();
    }
  });

  it("app.sink: an output record larger than its topic allows is a dead letter (onProduceError: 'dead-letter'), a poison record larger than the dead-letter topic is cut to fit, a record in the wrong partition is a dead letter; no restart", {
    timeout: 180_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const n = id();
    const [input, output, dlq] = [`eddy-big-in-${n}`, `eddy-big-out-${n}`, `eddy-big-dlq-${n}`];
    const a = admin();
    try {
      await createTopics(a, {
        [input]: { partitions: 2 },
        [output]: { partitions: 2, maxMessageBytes: 2000 },
      });
      // The user's own dead-letter topic, smaller than the poison below: eddy keeps its limit.
      await createTopics(a, { [dlq]: { partitions: 1, maxMessageBytes: 6000 } });
      const events: Event[] = Array.from({ length: 60 }, (_, seq) => ({
        key: `k${seq % 5}`,
        seq,
        ...(seq % 20 === 7 ? { pad: 5000 } : {}),
      }));
      const poison = Buffer.alloc(20_000, 'x');
      const wrong: Event = { key: 'k1', seq: 1000 };
      const wrongPartition = 1 - kafkaPartition('k1', 2);
      await produce([
        ...events.slice(0, 30).map((e) => event(input, e, 2)),
        { topic: input, partition: 0, key: Buffer.from('poison'), value: poison },
        event(input, wrong, 2, wrongPartition),
        ...events.slice(30).map((e) => event(input, e, 2)),
      ]);
      const app = kafkaApp({ applicationId: `eddy-big-${n}`, brokers, commitIntervalMs: 200 });
      const run = runApp(app, () => {
        const p = new Pipeline({ name: 'big' });
        p.deadLetters().sink(nullSink()); // checked in the dead-letter topic; not on stderr
        p.source('events', app.source<Event>({ topics: [input], deadLetterTopic: dlq }))
          .keyBy((e) => e.key)
          .map((e) => ({ key: e.key, seq: e.seq, pad: 'p'.repeat(e.pad ?? 0) }))
          .sink(app.sink({ topic: output, key: (o) => o.key, onProduceError: 'dead-letter' }));
        return p;
      });
      const big = events.filter((e) => e.pad !== undefined);
      try {
        await untilProgress(
          'every small output and every dead letter is committed',
          async () => {
            if (run.failed !== undefined) return Number.POSITIVE_INFINITY;
            return (await readAll(brokers, output)).length + (await readAll(brokers, dlq)).length;
          },
          events.length + 2,
        );
        assert.equal(run.failed, undefined, `the application failed: ${String(run.failed)}`);
        assert.equal(app.metrics().restarts, 0, `no task restarted: ${run.restarts.join('; ')}`);
      } finally {
        await run.stop();
      }
      assert.equal(run.failed, undefined, `the application failed: ${String(run.failed)}`);
      const out = (await readAll(brokers, output)).map(
        (m) => JSON.parse(m.value!.toString()) as { seq: number },
      );
      assert.deepEqual(
        out.map((o) => o.seq).sort((x, y) => x - y),
        events.filter((e) => e.pad === undefined).map((e) => e.seq),
        'every record that fits is in the output, once',
      );
      const dead = await readAll(brokers, dlq);
      assert.equal(dead.length, big.length + 2, 'the big outputs, the poison and the wrong-partition record');
      for (const m of dead)
        assert.ok(
          (m.value?.length ?? 0) < 6000,
          `each dead letter fits its topic: ${m.value?.length} bytes, ${header(m, DEAD_LETTER_HEADERS.code)}`,
        );
      const tooLarge = dead.filter((m) => header(m, DEAD_LETTER_HEADERS.code) === 'too-large');
      assert.equal(tooLarge.length, big.length);
      for (const m of tooLarge) {
        assert.equal(header(m, 'eddy.sink.topic'), output);
        assert.match(
          header(m, DEAD_LETTER_HEADERS.reason)!,
          /bytes is larger than topic .* allows \(max\.message\.bytes 2000\)/,
        );
        assert.equal(header(m, DEAD_LETTER_HEADERS.topic), input, 'the input the record was made from');
        assert.match(header(m, 'eddy.truncated') ?? 'not cut', /^not cut$|^value:\d+$/);
      }
      const cut = dead.find((m) => header(m, DEAD_LETTER_HEADERS.code) === 'invalid-json');
      assert.ok(cut, 'the poison record is in the dead-letter topic');
      assert.equal(header(cut, 'eddy.truncated'), `value:${poison.length}`, 'says what was cut');
      assert.ok(poison.subarray(0, cut.value!.length).equals(cut.value!), 'its first bytes are kept');
      assert.equal(header(cut, DEAD_LETTER_HEADERS.topic), input);
      assert.equal(header(cut, DEAD_LETTER_HEADERS.partition), '0');
      assert.match(header(cut, DEAD_LETTER_HEADERS.offset) ?? '', /^\d+$/);
      const misplaced = dead.find((m) => header(m, DEAD_LETTER_HEADERS.code) === 'wrong-partition');
      assert.ok(misplaced, 'the record in the wrong partition is in the dead-letter topic');
      assert.deepEqual(JSON.parse(misplaced.value!.toString()), wrong);
      assert.match(
        header(misplaced, DEAD_LETTER_HEADERS.reason)!,
        new RegExp(
          `belongs to partition ${1 - wrongPartition} of 2 .* read from partition ${wrongPartition}`,
        ),
      );
    } finally {
      await a.deleteTopics({ topics: [input, output, dlq, `eddy-big-${n}-changelog`] }).catch(() => {});
      await a.close();
    }
  });

  it("app.sink onProduceError: 'fail' (default): the task restarts through the restart strategy, then run() rejects naming topic, size, limit and how often", {
    timeout: 120_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const n = id();
    const [input, output] = [`eddy-fail-in-${n}`, `eddy-fail-out-${n}`];
    const a = admin();
    try {
      await createTopics(a, {
        [input]: { partitions: 1 },
        [output]: { partitions: 1, maxMessageBytes: 2000 },
      });
      await produce([
        event(input, { key: 'a', seq: 0 }, 1),
        event(input, { key: 'a', seq: 1, pad: 5000 }, 1),
        event(input, { key: 'a', seq: 2 }, 1),
      ]);
      const app = kafkaApp({
        applicationId: `eddy-fail-${n}`,
        brokers,
        commitIntervalMs: 200,
        restart: { maxFailures: 2, intervalMs: 60_000, initialBackoffMs: 100, maxBackoffMs: 400 },
      });
      const started = Date.now();
      const run = runApp(app, () => {
        const p = new Pipeline({ name: 'fail' });
        p.source('events', app.source<Event>({ topics: [input] }))
          .keyBy((e) => e.key)
          .map((e) => ({ key: e.key, seq: e.seq, pad: 'p'.repeat(e.pad ?? 0) }))
          .sink(app.sink({ topic: output, key: (o) => o.key }));
        return p;
      });
      await until('run() rejects', () => run.failed !== undefined, { timeoutMs: 90_000 });
      const took = Date.now() - started;
      await run.stop();
      const e = run.failed;
      assert.ok(e instanceof EddyError, String(e));
      assert.equal(e.code, 'EDDY_IO_FAILED');
      assert.match(e.message, new RegExp(`partition task ${input}:0 failed 3 times within 60000 ms`));
      assert.match(
        e.message,
        new RegExp(`larger than topic "${output}" allows \\(max\\.message\\.bytes 2000\\)`),
      );
      assert.match(e.message, /a record of \d{4,} bytes/);
      assert.equal(run.restarts.filter((r) => /goes back to its last commit/.test(r)).length, 2);
      assert.equal(app.metrics().restarts, 2, 'two restarts counted');
      process.stderr.write(`oversized 'fail': run() rejected after ${took} ms and 2 restarts\n`);
    } finally {
      await a.deleteTopics({ topics: [input, output, `eddy-fail-${n}-changelog`] }).catch(() => {});
      await a.close();
    }
  });

  it('input as large as its topic allows goes through the repartition topic and the dead-letter topic eddy creates (sized from the input); one too large even so is cut, with its reason', {
    timeout: 180_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const n = id();
    const appId = `eddy-wide-${n}`;
    const [input, output, dlq] = [`eddy-wide-in-${n}`, `eddy-wide-out-${n}`, `eddy-wide-dlq-${n}`];
    const a = admin();
    try {
      const INPUT_LIMIT = 3_000_000;
      await createTopics(a, {
        [input]: { partitions: 2, maxMessageBytes: INPUT_LIMIT },
        [output]: { partitions: 2 },
      });
      const blob = 'b'.repeat(2_000_000);
      const poison = Buffer.alloc(2_000_000, 'x');
      // Compressed in the input (a few KB), 4 MB once read: more than any internal topic takes.
      const huge: Event = { key: 'h', seq: 9, blob: 'z'.repeat(4_000_000) };
      // Keys in other partitions than their key group: every record goes through the repartition topic.
      await produce([
        {
          topic: input,
          partition: 0,
          key: Buffer.from('a'),
          value: Buffer.from(JSON.stringify({ key: 'a', seq: 0 })),
        },
        {
          topic: input,
          partition: 1,
          key: Buffer.from('b'),
          value: Buffer.from(JSON.stringify({ key: 'b', seq: 1, blob })),
        },
        { topic: input, partition: 0, key: Buffer.from('p'), value: poison },
        {
          topic: input,
          partition: 1,
          key: Buffer.from('c'),
          value: Buffer.from(JSON.stringify({ key: 'c', seq: 2 })),
        },
      ]);
      await produce(
        [{ topic: input, partition: 0, key: Buffer.from('h'), value: Buffer.from(JSON.stringify(huge)) }],
        'gzip',
      );
      await produce([
        {
          topic: input,
          partition: 1,
          key: Buffer.from('d'),
          value: Buffer.from(JSON.stringify({ key: 'd', seq: 3 })),
        },
      ]);
      const app = kafkaApp({ applicationId: appId, brokers, commitIntervalMs: 200 });
      const run = runApp(app, () => {
        const p = new Pipeline({ name: 'wide' });
        p.deadLetters().sink(nullSink()); // checked in the dead-letter topic; not on stderr
        p.source(
          'events',
          app.source<Event>({
            topics: [input],
            keyBy: (e) => e.key,
            deadLetterTopic: dlq,
            limits: { maxBytes: 8 * 1024 * 1024 },
          }),
        )
          .keyBy((e) => e.key)
          .map((e) => ({ key: e.key, seq: e.seq, bytes: e.blob?.length ?? 0 }))
          .sink(app.sink({ topic: output, key: (o) => o.key }));
        return p;
      });
      try {
        await untilProgress(
          'the four events are in the output and the two dead letters in their topic',
          async () => {
            if (run.failed !== undefined) return Number.POSITIVE_INFINITY;
            const topics = await a.listTopics();
            const d = topics.includes(dlq) ? (await readAll(brokers, dlq)).length : 0;
            return (await readAll(brokers, output)).length + d;
          },
          6,
        );
        assert.equal(run.failed, undefined, `the application failed: ${String(run.failed)}`);
        assert.equal(app.metrics().restarts, 0, `no task restarted: ${run.restarts.join('; ')}`);
      } finally {
        await run.stop();
      }
      assert.equal(run.failed, undefined, `the application failed: ${String(run.failed)}`);
      const topics = await describeTopics(a, [`${appId}-repartition`, `${appId}-changelog`, dlq]);
      for (const [t, info] of topics)
        assert.ok(
          info.maxMessageBytes >= INPUT_LIMIT,
          `${t} takes records as large as the input (${info.maxMessageBytes})`,
        );
      const out = (await readAll(brokers, output)).map(
        (m) => JSON.parse(m.value!.toString()) as { seq: number; bytes: number },
      );
      assert.deepEqual(
        out.sort((x, y) => x.seq - y.seq).map((o) => [o.seq, o.bytes]),
        [
          [0, 0],
          [1, blob.length],
          [2, 0],
          [3, 0],
        ],
      );
      const dead = await readAll(brokers, dlq);
      assert.equal(dead.length, 2);
      const p = dead.find((m) => header(m, DEAD_LETTER_HEADERS.code) === 'invalid-json');
      assert.ok(
        p?.value?.equals(poison),
        'the 2 MB poison record whole, in the dead-letter topic eddy created',
      );
      assert.equal(header(p!, 'eddy.truncated'), undefined);
      const h = dead.find((m) => header(m, DEAD_LETTER_HEADERS.code) === 'too-large');
      assert.ok(h, 'the record too large for the repartition topic is dead-lettered');
      assert.match(header(h, DEAD_LETTER_HEADERS.reason)!, /more than the repartition topic .* allows/);
      assert.equal(header(h, 'eddy.truncated'), `value:${JSON.stringify(huge).length}`);
      assert.equal(header(h, DEAD_LETTER_HEADERS.topic), input);
      assert.equal(header(h, DEAD_LETTER_HEADERS.partition), '0');
      assert.ok(h.value!.length < INPUT_LIMIT + 16 * 1024);
    } finally {
      await a
        .deleteTopics({ topics: [input, output, dlq, `${appId}-changelog`, `${appId}-repartition`] })
        .catch(() => {});
      await a.close();
    }
  });

  it('records that fit one by one but not together are sent in shares that fit (outputs in a 20 KB topic; a 3 MB key group in the changelog), and the state comes back after a restart', {
    timeout: 180_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const n = id();
    const appId = `eddy-many-${n}`;
    const [input, output] = [`eddy-many-in-${n}`, `eddy-many-out-${n}`];
    const a = admin();
    try {
      await createTopics(a, {
        [input]: { partitions: 1 },
        [output]: { partitions: 1, maxMessageBytes: 20000 },
      });
      // 300 keys x 10 KB of state each: one key group of 3 MB, in one partition; every output is 1 KB.
      const wave = (from: number) =>
        Array.from({ length: 300 }, (_, i) => event(input, { key: `k${i}`, seq: from + i }, 1));
      await produce(wave(0));
      const build = (app: KafkaApp) => () => {
        const p = new Pipeline({ name: 'many' });
        p.source('events', app.source<Event>({ topics: [input], bufferSize: 1000 }), { batchSize: 300 })
          .keyBy((e) => e.key)
          .withState({ blob: valueState<string>() })
          .process<{ key: string; seq: number; had: number; pad: string }>({
            processElement(e, ctx) {
              const had = ctx.state.blob.get()?.length ?? 0;
              ctx.state.blob.set('s'.repeat(had + 10_000));
              ctx.emit({ key: e.key, seq: e.seq, had, pad: 'o'.repeat(1000) });
            },
          })
          .sink(app.sink({ topic: output, key: (o) => o.key }));
        return p;
      };
      const outputs = async () =>
        (await readAll(brokers, output)).map(
          (m) => JSON.parse(m.value!.toString()) as { seq: number; had: number },
        );
      const first = kafkaApp({ applicationId: appId, brokers, commitIntervalMs: 200 });
      const run1 = runApp(first, build(first));
      try {
        await untilProgress(
          'the first wave is committed',
          async () => {
            if (run1.failed !== undefined) return Number.POSITIVE_INFINITY;
            return (await outputs()).length;
          },
          300,
        );
        assert.equal(run1.failed, undefined, `the application failed: ${String(run1.failed)}`);
        assert.equal(first.metrics().restarts, 0, `no task restarted: ${run1.restarts.join('; ')}`);
      } finally {
        await run1.stop(); // a savepoint: the 3 MB key group is in the changelog
      }
      assert.equal(run1.failed, undefined, `the application failed: ${String(run1.failed)}`);
      await produce(wave(300));
      const second = kafkaApp({ applicationId: appId, brokers, commitIntervalMs: 200 });
      const run2 = runApp(second, build(second));
      try {
        await untilProgress(
          'the second wave is committed',
          async () => {
            if (run2.failed !== undefined) return Number.POSITIVE_INFINITY;
            return (await outputs()).length;
          },
          600,
        );
      } finally {
        await run2.stop();
      }
      assert.equal(run2.failed, undefined, `the application failed: ${String(run2.failed)}`);
      const out = await outputs();
      assert.deepEqual(
        out.map((o) => o.seq).sort((x, y) => x - y),
        Array.from({ length: 600 }, (_, i) => i),
        'every output once',
      );
      assert.ok(
        out.filter((o) => o.seq >= 300).every((o) => o.had === 10_000),
        "the second wave found each key's state from the changelog",
      );
    } finally {
      await a.deleteTopics({ topics: [input, output, `${appId}-changelog`] }).catch(() => {});
      await a.close();
    }
  });

  it('kafkaSource: a dead letter larger than its dead-letter topic allows is cut to fit (it failed the source for ever)', {
    timeout: 120_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const n = id();
    const [input, dlq] = [`eddy-src-in-${n}`, `eddy-src-dlq-${n}`];
    const a = admin();
    try {
      await createTopics(a, { [input]: { partitions: 1 }, [dlq]: { partitions: 1, maxMessageBytes: 5000 } });
      const poison = Buffer.alloc(50_000, 'x');
      await produce([
        event(input, { key: 'a', seq: 0 }, 1),
        { topic: input, partition: 0, key: Buffer.from('poison'), value: poison },
        event(input, { key: 'a', seq: 1 }, 1),
      ]);
      const seen = collectSink<Event>();
      const p = new Pipeline({ name: 'src-dlq' });
      p.deadLetters().sink(nullSink()); // checked in the dead-letter topic; not on stderr
      p.source(
        'events',
        kafkaSource<Event>({
          topics: [input],
          groupId: `eddy-test-${n}`,
          brokers,
          deadLetterTopic: dlq,
          reconnectTimeoutMs: 20_000,
        }),
      ).sink(seen);
      const running = await p.start();
      let failed: unknown;
      running.done.catch((e: unknown) => {
        failed = e;
      });
      try {
        await until('both events arrive', () => seen.values.length >= 2 || failed !== undefined, {
          timeoutMs: 60_000,
        });
      } finally {
        running.stop();
        await running.done.catch(() => {});
      }
      assert.equal(failed, undefined, `the source failed: ${String(failed)}`);
      const dead = await readAll(brokers, dlq);
      assert.equal(dead.length, 1);
      const m = dead[0]!;
      assert.equal(header(m, DEAD_LETTER_HEADERS.code), 'invalid-json');
      assert.equal(header(m, 'eddy.truncated'), `value:${poison.length}`);
      assert.equal(header(m, DEAD_LETTER_HEADERS.topic), input);
      assert.equal(header(m, DEAD_LETTER_HEADERS.offset), '1');
      assert.ok(m.value!.length < 5000 && poison.subarray(0, m.value!.length).equals(m.value!));
    } finally {
      await a.deleteTopics({ topics: [input, dlq] }).catch(() => {});
      await a.close();
    }
  });

  it("kafkaSink: a record larger than its topic allows goes to the pipeline's dead letters with onProduceError: 'dead-letter' and no dead-letter topic; with 'fail' the run fails at once, no restart", {
    timeout: 120_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const topic = `eddy-sink-big-${id()}`;
    const a = admin();
    try {
      await createTopics(a, { [topic]: { partitions: 1, maxMessageBytes: 5000 } });
      const records = [
        { n: 0, pad: '' },
        { n: 1, pad: 'x'.repeat(20_000) },
        { n: 2, pad: '' },
      ];
      const dead = collectSink<DeadLetter>();
      const p = new Pipeline({ name: 'sink-big' });
      p.source('in', arraySource(records)).sink(
        kafkaSink({ topic, brokers, onProduceError: 'dead-letter' }),
        'out',
      );
      p.deadLetters().sink(dead, 'dead');
      await p.run({ parallelism: 1, restart: false });
      assert.equal(dead.values.length, 1, JSON.stringify(dead.values.map((d) => d.reason)));
      assert.equal(dead.values[0]!.code, 'EDDY_RECORD_REFUSED');
      assert.match(
        dead.values[0]!.reason,
        new RegExp(`larger than topic "${topic}" allows \\(max.message.bytes 5000\\)`),
      );
      const seen: number[] = [];
      await readToEnd({
        bootstrapBrokers: brokers,
        topic,
        clientId: 'eddy-test-read',
        onMessage: (m) => seen.push((JSON.parse(m.value!.toString()) as { n: number }).n),
      });
      assert.deepEqual(seen, [0, 2]);

      const q = new Pipeline({ name: 'sink-big-fail' });
      q.source('in', arraySource(records)).sink(kafkaSink({ topic, brokers }), 'out');
      let restarts = 0;
      await assert.rejects(
        q.run({ parallelism: 1, restart: { maxFailures: 5 }, onRestart: () => restarts++ }),
        (e: unknown) => {
          assert.ok(e instanceof EddyError && e.code === 'EDDY_RECORD_REFUSED', String(e));
          assert.match(e.message, /received onProduceError: "fail"/);
          return true;
        },
      );
      assert.equal(restarts, 0, 'no restart: the record would be refused again');
    } finally {
      await a.deleteTopics({ topics: [topic] }).catch(() => {});
      await a.close();
    }
  });
});
