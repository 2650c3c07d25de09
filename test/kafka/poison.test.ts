/**
 * Poison messages against the real broker (npm run kafka:up; CI starts it): a topic of valid events
 * interleaved with records that cannot be decoded. Every valid event is counted (checked against a
 * batch count of the input), every poison record lands in the dead-letter topic with its original
 * bytes and the reason in headers, and the pipeline keeps running (events sent afterwards still
 * arrive).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import {
  Admin,
  Consumer,
  type Message,
  MessagesStreamModes,
  type MessageToProduce,
} from '@platformatic/kafka';
import {
  avroFormat,
  DEAD_LETTER_HEADERS,
  frameSchemaRegistry,
  type KafkaSourceOptions,
  kafkaSource,
} from '../../src/connectors/kafka/index.ts';
import { collectSink, type DeadLetter, Pipeline, valueState } from '../../src/index.ts';
import { kafkaReady, testProducer } from './helpers.ts';

// Issue 19: a broker that answers (coordinators loaded), not one that only listens.
const kafka = await kafkaReady();

interface Event {
  readonly key: string;
  readonly seq: number;
}

interface Poison {
  readonly key: string;
  readonly value: Buffer | undefined;
  readonly code: string;
  readonly reason: RegExp;
}

const header = (m: Message, name: string) =>
  [...m.headers].find(([k]) => k.toString() === name)?.[1].toString();

async function until(what: () => boolean, ms: number, message: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) assert.fail(message());
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads a topic from the start until `n` records have arrived (or fails after `ms`). */
async function readTopic(brokers: string[], topic: string, n: number, ms: number): Promise<Message[]> {
  const consumer = new Consumer({
    clientId: 'eddy-test-dlq',
    bootstrapBrokers: brokers,
    groupId: `eddy-check-${randomUUID()}`,
  });
  const out: Message[] = [];
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    stream.on('data', (m: Message) => out.push(m));
    await until(
      () => out.length >= n,
      ms,
      () => `only ${out.length} of ${n} records in ${topic}`,
    );
    // A little longer: anything beyond n would be a duplicate or a stray.
    await new Promise((r) => setTimeout(r, 300));
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return out;
}

/**
 * Writes events and poison interleaved, runs source → keyBy → count per key with a dead-letter topic,
 * then checks counts against the input, the dead-letter topic against the poison, and that events
 * written afterwards still get through.
 */
async function poisonRun(
  encode: (e: Event) => Buffer,
  poison: readonly Poison[],
  source: Omit<KafkaSourceOptions<Event>, 'topics' | 'groupId' | 'brokers' | 'deadLetterTopic'>,
): Promise<void> {
  assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
  const brokers = kafka.address.split(',');
  const input = `eddy-poison-${randomUUID()}`;
  const dlqTopic = `eddy-poison-dlq-${randomUUID()}`;
  const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
  const producer = testProducer(brokers);
  const events: Event[] = Array.from({ length: 600 }, (_, i) => ({ key: `k${i % 7}`, seq: i }));
  const later: Event[] = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, seq: 600 + i }));
  const messages: MessageToProduce[] = events.map((e) => ({
    topic: input,
    key: Buffer.from(e.key),
    value: encode(e),
  }));
  // Spread the poison through the input, each after a few valid events.
  poison.forEach((p, i) => {
    messages.splice(Math.floor(((i + 1) * messages.length) / (poison.length + 1)), 0, {
      topic: input,
      key: Buffer.from(p.key),
      ...(p.value === undefined ? {} : { value: p.value }),
    });
  });
  try {
    await admin.createTopics({ topics: [input], partitions: 2, replicas: 1 });
    await admin.createTopics({ topics: [dlqTopic], partitions: 1, replicas: 1 });
    await producer.send({ messages });

    const counts = collectSink<{ key: string; seq: number; count: number }>();
    const dead = collectSink<DeadLetter>();
    const p = new Pipeline({ name: 'poison' });
    p.source(
      'events',
      kafkaSource<Event>({
        ...source,
        topics: [input],
        groupId: `eddy-test-${randomUUID()}`,
        brokers,
        deadLetterTopic: dlqTopic,
      }),
    )
      .keyBy((e) => e.key)
      .withState({ n: valueState<number>() })
      .process<{ key: string; seq: number; count: number }>({
        processElement(e, ctx) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit({ key: e.key, seq: e.seq, count: n });
        },
      })
      .sink(counts);
    p.deadLetters().sink(dead);
    const running = await p.start();
    let ended: unknown = 'running';
    running.done.then(
      () => (ended = 'ended'),
      (e: unknown) => (ended = e),
    );
    try {
      await until(
        () => counts.values.length >= events.length && dead.values.length >= poison.length,
        60_000,
        () =>
          `processed ${counts.values.length}/${events.length}, dead-lettered ${dead.values.length}/${poison.length}`,
      );
      assert.equal(ended, 'running', 'the pipeline is still running after the poison');
      // Still consuming: events written now arrive too.
      await producer.send({
        messages: later.map((e) => ({ topic: input, key: Buffer.from(e.key), value: encode(e) })),
      });
      await until(
        () => counts.values.length >= events.length + later.length,
        30_000,
        () =>
          `after the poison only ${counts.values.length - events.length}/${later.length} later events arrived`,
      );
    } finally {
      running.stop();
      await running.done;
    }

    // Counts per key equal a batch count of the valid input; each event counted once.
    const all = [...events, ...later];
    const oracle = new Map<string, number>();
    for (const e of all) oracle.set(e.key, (oracle.get(e.key) ?? 0) + 1);
    const final = new Map<string, number>();
    for (const c of counts.values) final.set(c.key, Math.max(final.get(c.key) ?? 0, c.count));
    assert.deepEqual(new Map([...final].sort()), new Map([...oracle].sort()));
    assert.deepEqual(
      counts.values.map((c) => c.seq).sort((a, b) => a - b),
      all.map((e) => e.seq),
    );
    assert.equal(dead.values.length, poison.length, "eddy's dead-letter output has each poison record once");

    // The dead-letter topic: each poison record once, bytes unchanged, the reason in headers.
    const dlq = await readTopic(brokers, dlqTopic, poison.length, 30_000);
    assert.equal(dlq.length, poison.length);
    const byKey = new Map(dlq.map((m) => [m.key.toString(), m]));
    const offsets = new Set<string>();
    for (const want of poison) {
      const m = byKey.get(want.key);
      assert.ok(m, `${want.key} is in the dead-letter topic`);
      assert.deepEqual(
        m.value ?? Buffer.alloc(0),
        want.value ?? Buffer.alloc(0),
        `${want.key}: original bytes`,
      );
      assert.equal(header(m, DEAD_LETTER_HEADERS.code), want.code, `${want.key}: code`);
      assert.match(header(m, DEAD_LETTER_HEADERS.reason) ?? '', want.reason, `${want.key}: reason`);
      assert.equal(header(m, DEAD_LETTER_HEADERS.topic), input);
      const partition = Number(header(m, DEAD_LETTER_HEADERS.partition));
      assert.ok(partition === 0 || partition === 1);
      assert.match(header(m, DEAD_LETTER_HEADERS.offset) ?? '', /^\d+$/);
      assert.ok(Number(header(m, DEAD_LETTER_HEADERS.timestamp)) > Date.now() - 600_000, 'source timestamp');
      offsets.add(`${partition}@${header(m, DEAD_LETTER_HEADERS.offset)}`);
    }
    assert.equal(offsets.size, poison.length, 'each dead letter names its own source record');
  } finally {
    await producer.close();
    await admin.deleteTopics({ topics: [input, dlqTopic] }).catch(() => {});
    await admin.close();
  }
}

const ORDER_SCHEMA = {
  type: 'record',
  name: 'Event',
  fields: [
    { name: 'key', type: 'string' },
    { name: 'seq', type: 'int' },
    { name: 'attrs', type: { type: 'map', values: 'string' }, default: {} },
  ],
};

describe('poison messages (real broker)', { skip: kafka.skip }, () => {
  it('JSON: invalid, too deep, __proto__, a frame, rejected by parse → dead-letter topic; the rest counted', {
    timeout: 120_000,
  }, async () => {
    await poisonRun(
      (e) => Buffer.from(JSON.stringify(e)),
      [
        {
          key: 'p-invalid',
          value: Buffer.from('{"key": "k1", "seq": '),
          code: 'invalid-json',
          reason: /JSON parse error/,
        },
        {
          key: 'p-deep',
          value: Buffer.from(`${'['.repeat(100)}${']'.repeat(100)}`),
          code: 'too-deep',
          reason: /nesting depth 100 exceeds maxDepth 64/,
        },
        {
          key: 'p-proto',
          value: Buffer.from('{"key":"k1","seq":1,"__proto__":{"admin":true}}'),
          code: 'forbidden-key',
          reason: /"__proto__" is forbidden/,
        },
        {
          key: 'p-ctor',
          value: Buffer.from('{"a":{"constructor":{"prototype":1}}}'),
          code: 'forbidden-key',
          reason: /forbidden/,
        },
        {
          key: 'p-avro',
          value: frameSchemaRegistry(7, Buffer.from([2, 0x61])),
          code: 'invalid-json',
          reason: /JSON parse error/,
        },
        {
          key: 'p-utf8',
          value: Buffer.from([0x7b, 0xff, 0x7d]),
          code: 'invalid-utf8',
          reason: /invalid UTF-8 at byte 1/,
        },
        { key: 'p-null', value: undefined, code: 'invalid-json', reason: /JSON parse error/ },
        {
          key: 'p-parse',
          value: Buffer.from('{"key":"k1","seq":-1}'),
          code: 'parse-failed',
          reason: /seq must be >= 0/,
        },
      ],
      {
        parse(v) {
          const e = v as Event;
          if (typeof e?.key !== 'string' || typeof e.seq !== 'number') throw new Error('not an event');
          if (e.seq < 0) throw new Error(`seq must be >= 0; got ${e.seq}`);
          return e;
        },
      },
    );
  });

  // There is no schema-registry server on this machine (Confluent's is not on Maven Central): this
  // stands in for one, implementing only GET /schemas/ids/{id}, the one call avroFormat makes.
  it('Avro: unknown schema id, wrong magic, truncated, trailing bytes, forbidden map key → dead-letter topic', {
    timeout: 120_000,
  }, async () => {
    const requests: string[] = [];
    const registry = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/schemas/ids/1') {
        res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        res.end(JSON.stringify({ schema: JSON.stringify(ORDER_SCHEMA) }));
      } else {
        res.writeHead(404, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        res.end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }));
      }
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
    try {
      const writer = avroFormat({ schemas: { 1: ORDER_SCHEMA } });
      const encode = (e: Event) => writer.encode(1, { ...e, attrs: { n: String(e.seq) } });
      const good = encode({ key: 'k1', seq: 1 });
      await poisonRun(
        encode,
        [
          {
            key: 'a-unknown',
            value: frameSchemaRegistry(99, good.subarray(5)),
            code: 'unknown-schema-id',
            reason: /schema id 99 is not in the registry/,
          },
          {
            key: 'a-magic',
            value: Buffer.from('{"key":"k1","seq":1}'),
            code: 'wrong-magic-byte',
            reason: /first byte is 0x7b/,
          },
          { key: 'a-short', value: good.subarray(0, 3), code: 'truncated', reason: /at least 5/ },
          {
            key: 'a-truncated',
            value: good.subarray(0, good.length - 2),
            code: 'truncated',
            reason: /ends inside/,
          },
          {
            key: 'a-trailing',
            value: Buffer.concat([good, Buffer.from([0])]),
            code: 'trailing-bytes',
            reason: /1 bytes follow/,
          },
          {
            key: 'a-proto',
            value: writer.encode(1, { key: 'k1', seq: 1, attrs: JSON.parse('{"__proto__":"x"}') }),
            code: 'forbidden-key',
            reason: /map key "__proto__"/,
          },
        ],
        {
          format: avroFormat({ registry: { url, timeoutMs: 2000 } }),
          parse: (v) => {
            const { key, seq } = v as Event;
            return { key, seq };
          },
        },
      );
      assert.deepEqual([...new Set(requests)].sort(), ['/schemas/ids/1', '/schemas/ids/99']);
      assert.equal(requests.length, 2, 'one request per schema id');
    } finally {
      registry.closeAllConnections();
      registry.close();
    }
  });
});
