/**
 * kafkaSink writing Avro (issue 16: the Avro + registry support gains a
 * Kafka sink encoder), against the real broker: records go out in the
 * schema registry's wire format and a kafkaSource with the same avroFormat
 * reads them back equal; a record that does not fit the schema is a dead
 * letter with the reason (not a failure the restart would meet again); a
 * schema id the format does not know fails the sink when it opens.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { avroFormat, kafkaSink } from '../../src/connectors/kafka/index.ts';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { unframeSchemaRegistry } from '../../src/connectors/kafka/schema-registry.ts';
import { arraySource, collectSink, type DeadLetter, EddyError, Pipeline } from '../../src/index.ts';
import { kafkaReady } from './helpers.ts';

const kafka = await kafkaReady();

const READING = {
  type: 'record',
  name: 'Reading',
  fields: [
    { name: 'device', type: 'string' },
    { name: 'value', type: 'int' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};

interface Reading {
  readonly device: string;
  readonly value: number;
  readonly note: string | null;
}

describe('kafkaSink with Avro (real broker)', { skip: kafka.skip }, () => {
  const brokers = (kafka.address ?? '').split(',');

  it('writes the registry wire format, read back equal; a record that does not fit is a dead letter', {
    timeout: 120_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const topic = `eddy-avro-${randomUUID().slice(0, 8)}`;
    const format = avroFormat({ schemas: { 7: READING } });
    const records: Reading[] = Array.from({ length: 50 }, (_, i) => ({
      device: `d${i % 5}`,
      value: i === 13 ? 2 ** 40 : i, // 2^40 is not an Avro int: that one cannot be written
      note: i % 3 === 0 ? `n${i}` : null,
    }));
    const p = new Pipeline({ name: 'avro-out', batchSize: 8 });
    p.source('in', arraySource(records)).sink(
      kafkaSink<Reading>({
        topic,
        brokers,
        key: (r) => r.device,
        avro: { format, schemaId: 7 },
        createTopic: { partitions: 1, replicationFactor: 1 },
      }),
      'out',
    );
    const dead = collectSink<DeadLetter>();
    p.deadLetters().sink(dead, 'dead');
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      await p.run({ parallelism: 1, restart: false });
      assert.equal(dead.values.length, 1, JSON.stringify(dead.values));
      assert.equal(dead.values[0]!.code, 'EDDY_RECORD_REFUSED');
      assert.match(dead.values[0]!.reason, /does not fit Avro schema 7 of topic/);
      assert.match(dead.values[0]!.payload, /"value":1099511627776/);

      const got: Reading[] = [];
      await readToEnd({
        bootstrapBrokers: brokers,
        topic,
        clientId: 'eddy-test-read',
        onMessage: (m) => {
          const frame = unframeSchemaRegistry(m.value!);
          assert.ok(frame.ok && frame.schemaId === 7, 'framed with schema id 7');
          const d = format.decode(m.value!);
          assert.ok(d.ok, d.ok ? '' : d.reason);
          got.push(d.value as Reading);
        },
      });
      assert.deepEqual(
        got,
        records.filter((_, i) => i !== 13),
      );

      const q = new Pipeline({ name: 'avro-unknown' });
      q.source('in', arraySource(records)).sink(
        kafkaSink<Reading>({ topic, brokers, avro: { format, schemaId: 8 } }),
      );
      await assert.rejects(q.run({ restart: false }), (e: unknown) => {
        assert.ok(e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID', String(e));
        assert.match(e.message, /cannot write Avro with schema 8/);
        return true;
      });
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.close();
    }
  });
});
