/**
 * The real broker and the chosen client (@platformatic/kafka, see docs/KAFKA.md)
 * do what eddy's exactly-once delivery will rely on: a transactional producer
 * whose aborted writes a read_committed consumer never sees.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { committedReads } from '../../src/connectors/kafka/aborted.ts';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { kafkaReady } from './helpers.ts';

// Issue 19: a broker that answers (coordinators loaded), not one that only listens.
const kafka = await kafkaReady();

/** Waits until the topic's last stable offset is its end: every transaction's markers are written. */
async function stableEnd(bootstrapBrokers: string[], topic: string): Promise<void> {
  const consumer = new Consumer({
    clientId: 'eddy-test-ends',
    bootstrapBrokers,
    groupId: `eddy-test-ends-${randomUUID()}`,
    autocommit: false,
  });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const stable = (
        await consumer.listOffsets({ topics: [topic], isolationLevel: FetchIsolationLevels.READ_COMMITTED })
      ).get(topic);
      const end = (
        await consumer.listOffsets({ topics: [topic], isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED })
      ).get(topic);
      if (String(stable) === String(end)) return;
      if (Date.now() > deadline)
        assert.fail(`the last stable offset of ${topic} stayed at ${stable}, its end at ${end}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await consumer.close();
  }
}

describe('Kafka broker (real, KRaft) and client', { skip: kafka.skip }, () => {
  it('read_committed sees committed transactions only', { timeout: 60_000 }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const bootstrapBrokers = kafka.address.split(',');
    const topic = `eddy-test-${randomUUID()}`;
    const admin = new Admin({ clientId: 'eddy-test-admin', bootstrapBrokers });
    const producer = new Producer({
      clientId: 'eddy-test-producer',
      bootstrapBrokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      transactionalId: `eddy-test-${randomUUID()}`,
      serializers: stringSerializers,
    });
    const consumer = new Consumer({
      clientId: 'eddy-test-consumer',
      bootstrapBrokers,
      groupId: `eddy-test-${randomUUID()}`,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      deserializers: stringDeserializers,
    });
    try {
      // One partition: the 'end' marker is read after everything written before it.
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      const committed = await producer.beginTransaction();
      await committed.send({
        messages: Array.from({ length: 100 }, (_, i) => ({ topic, key: `k${i % 7}`, value: `c${i}` })),
      });
      await committed.commit();
      const aborted = await producer.beginTransaction();
      await aborted.send({
        messages: Array.from({ length: 50 }, (_, i) => ({ topic, key: `k${i % 7}`, value: `a${i}` })),
      });
      await aborted.abort();
      const last = await producer.beginTransaction();
      await last.send({ messages: [{ topic, key: 'end', value: 'end' }] });
      await last.commit();

      const stream = await consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
      });
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (m: Message<string, string, string, string>) => {
          seen.push(m.value);
          if (m.value === 'end') resolve();
        });
        stream.on('error', reject);
      });
      await stream.close();
      const values = seen.filter((v) => v !== 'end').sort();
      assert.equal(values.length, 100, 'exactly the committed messages');
      assert.ok(
        values.every((v) => v.startsWith('c')),
        'no aborted message is visible',
      );
    } finally {
      await producer.close();
      await consumer.close(true);
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.close();
    }
  });

  it("several aborted transactions of one producer in a row stay invisible (eddy's read_committed filter)", {
    timeout: 60_000,
  }, async () => {
    // What a Kafka application's roll-backs produce: one producer id, transactions aborted
    // back to back, interleaved with another producer's commits. The client alone lets
    // records of all but the last aborted transaction of each fetch through (see aborted.ts).
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const bootstrapBrokers = kafka.address.split(',');
    const topic = `eddy-test-${randomUUID()}`;
    const admin = new Admin({ clientId: 'eddy-test-admin', bootstrapBrokers });
    const producer = (id: string) =>
      new Producer({
        clientId: `eddy-test-${id}`,
        bootstrapBrokers,
        idempotent: true,
        acks: ProduceAcks.ALL,
        transactionalId: `eddy-test-${id}-${randomUUID()}`,
        serializers: stringSerializers,
      });
    const a = producer('a');
    const b = producer('b');
    const expected: string[] = [];
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
      for (let round = 0; round < 4; round++) {
        for (let t = 0; t < 3; t++) {
          const tx = await a.beginTransaction();
          await tx.send({
            messages: Array.from({ length: 40 }, (_, i) => ({ topic, value: `aborted-${round}-${t}-${i}` })),
          });
          await tx.abort();
        }
        const other = await b.beginTransaction();
        await other.send({ messages: [{ topic, value: `b-${round}` }] });
        await other.commit();
        expected.push(`b-${round}`);
        const tx = await a.beginTransaction();
        const values = Array.from({ length: 10 }, (_, i) => `a-${round}-${i}`);
        await tx.send({ messages: values.map((value) => ({ topic, value })) });
        await tx.commit();
        expected.push(...values);
      }
      // EndTxn answers once the commit is decided; its markers are written after. Until then the
      // last stable offset stays before the transaction, and a read "to the end" stops there (seen
      // once in a run: the last transaction missing). A restore never sees this: it reads after
      // fencing, which waits for the markers.
      await stableEnd(bootstrapBrokers, topic);

      const read: string[] = [];
      await readToEnd({
        bootstrapBrokers,
        topic,
        clientId: 'eddy-test-read',
        onMessage: (m) => read.push(m.value!.toString()),
      });
      assert.deepEqual(
        read,
        expected,
        'readToEnd (changelog restores) sees exactly the committed records, in order',
      );

      // A stream with small fetches: responses end inside aborted transactions, and must still move on.
      const consumer = committedReads(
        new Consumer({
          clientId: 'eddy-test-consumer',
          bootstrapBrokers,
          groupId: `eddy-test-${randomUUID()}`,
          autocommit: false,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          deserializers: stringDeserializers,
          maxBytesPerPartition: 1500,
        }),
      );
      try {
        const stream = await consumer.consume({
          topics: [topic],
          mode: MessagesStreamModes.EARLIEST,
          autocommit: false,
        });
        const seen: string[] = [];
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (m: Message<string, string, string, string>) => {
            seen.push(m.value);
            if (m.value === expected.at(-1)) resolve();
          });
          stream.on('error', reject);
        });
        await stream.close();
        assert.deepEqual(seen, expected, 'a consumer stream sees exactly the committed records, in order');
      } finally {
        await consumer.close(true);
      }
    } finally {
      await a.close();
      await b.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.close();
    }
  });
});
