/**
 * The Kafka source and sink against the real broker (npm run kafka:up; CI starts it).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  Admin,
  Consumer,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
} from '@platformatic/kafka';
import { kafkaSink, kafkaSource } from '../../src/connectors/kafka/index.ts';
import { collectSink, type DeadLetter, Pipeline } from '../../src/index.ts';
import { kafkaReady } from '../kafka/helpers.ts';

// Issue 19: a broker that answers (coordinators loaded), not one that only listens.
const kafka = await kafkaReady();

interface Order {
  readonly id: number;
  readonly customer: string;
  readonly amount: number;
}

describe('Kafka source and sink', { skip: kafka.skip }, () => {
  it('consumes JSON, dead-letters poison records with the reason, and produces results', {
    timeout: 90_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const brokers = kafka.address.split(',');
    const input = `eddy-in-${randomUUID()}`;
    const output = `eddy-out-${randomUUID()}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    // Idempotent, so that a retried send cannot put an order into the input twice.
    const producer = new Producer({
      clientId: 'eddy-test',
      bootstrapBrokers: brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    try {
      await admin.createTopics({ topics: [input, output], partitions: 2, replicas: 1 });
      const orders: Order[] = Array.from({ length: 300 }, (_, id) => ({
        id,
        customer: `c${id % 5}`,
        amount: id % 17,
      }));
      const messages = orders.map((o) => ({
        topic: input,
        key: Buffer.from(o.customer),
        value: Buffer.from(JSON.stringify(o)),
      }));
      messages.splice(100, 0, { topic: input, key: Buffer.from('c1'), value: Buffer.from('{"id": oops') });
      messages.splice(200, 0, {
        topic: input,
        key: Buffer.from('c2'),
        value: Buffer.from('{"__proto__":{"admin":true}}'),
      });
      await producer.send({ messages });

      const seen = collectSink<Order>();
      const dead = collectSink<DeadLetter>();
      const p = new Pipeline();
      const doubled = p
        .source(
          'orders',
          kafkaSource<Order>({ topics: [input], groupId: `eddy-test-${randomUUID()}`, brokers }),
        )
        .map((o) => ({ ...o, amount: o.amount * 2 }));
      doubled.sink(seen);
      doubled.sink(kafkaSink({ topic: output, brokers, key: (o) => o.customer }));
      p.deadLetters().sink(dead);
      const running = await p.start();
      const deadline = Date.now() + 60_000;
      while (seen.values.length < orders.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      running.stop();
      await running.done;

      assert.deepEqual(
        seen.values.map((o) => o.id).sort((a, b) => a - b),
        orders.map((o) => o.id),
      );
      assert.equal(dead.values.length, 2);
      assert.ok(
        dead.values.some((d) => /JSON parse error/.test(d.reason) && d.reason.startsWith(`${input}[`)),
      );
      assert.ok(dead.values.some((d) => /"__proto__" is forbidden/.test(d.reason)));

      // Everything produced reached the output topic, once.
      const consumer = new Consumer({
        clientId: 'eddy-test',
        bootstrapBrokers: brokers,
        groupId: `eddy-check-${randomUUID()}`,
        deserializers: stringDeserializers,
      });
      const stream = await consumer.consume({
        topics: [output],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
      });
      const out: Order[] = [];
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${out.length} results arrived`)), 30_000);
        stream.on('data', (m) => {
          out.push(JSON.parse(m.value as string) as Order);
          if (out.length === orders.length) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      await stream.close();
      await consumer.close(true);
      assert.deepEqual(
        out.map((o) => `${o.id}:${o.amount}`).sort(),
        orders.map((o) => `${o.id}:${o.amount * 2}`).sort(),
      );
    } finally {
      await producer.close();
      await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
      await admin.close();
    }
  });
});
