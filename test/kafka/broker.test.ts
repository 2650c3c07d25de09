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
import { kafkaService } from '../helpers/services.ts';

const kafka = await kafkaService();

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
});
