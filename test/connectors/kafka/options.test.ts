/**
 * `kafkaSource` and `kafkaSink` options as schemas (issue 13): each option's
 * type, bounds, default and doc declared once in KAFKA_SOURCE_OPTIONS /
 * KAFKA_SINK_OPTIONS and checked when the connector is made — wrong types,
 * out-of-bound values and undeclared names refused, naming the option, the
 * value and the fix; defaults filled in from the schema. No broker needed:
 * nothing is opened.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KAFKA_SINK_OPTIONS, KAFKA_SOURCE_OPTIONS } from '../../../src/connectors/kafka/options.ts';
import { kafkaSink, kafkaSinkOptions } from '../../../src/connectors/kafka/sink.ts';
import { kafkaSource, kafkaSourceOptions } from '../../../src/connectors/kafka/source.ts';
import { describeOptions } from '../../../src/connectors/options.ts';
import { EddyError } from '../../../src/index.ts';

const BASE = { topics: ['orders'], groupId: 'g' };

/** A config error whose message matches every pattern. */
const refused =
  (...patterns: RegExp[]) =>
  (e: unknown) =>
    e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && patterns.every((p) => p.test(e.message));

describe('kafkaSource options', () => {
  it('fills in the defaults from KAFKA_SOURCE_OPTIONS', () => {
    const o = kafkaSourceOptions(kafkaSource(BASE))!;
    assert.equal(o.bufferSize, KAFKA_SOURCE_OPTIONS.bufferSize.default);
    assert.equal(o.bufferSize, 10_000);
    assert.equal(o.reconnectTimeoutMs, KAFKA_SOURCE_OPTIONS.reconnectTimeoutMs.default);
    assert.equal(o.reconnectTimeoutMs, 60_000);
    assert.equal(o.format, 'json');
    // Given values are kept.
    const given = kafkaSourceOptions(kafkaSource({ ...BASE, bufferSize: 1, reconnectTimeoutMs: 0 }))!;
    assert.equal(given.bufferSize, 1);
    assert.equal(given.reconnectTimeoutMs, 0);
  });

  it('refuses a bufferSize out of its bounds, naming the value and the fix', () => {
    for (const [bufferSize, rule] of [
      [0, /must be at least 1/],
      [-5, /must be at least 1/],
      [10_000_001, /must be at most 10000000/],
    ] as const)
      assert.throws(
        () => kafkaSource({ ...BASE, bufferSize }),
        refused(
          /^kafkaSource option bufferSize /,
          rule,
          new RegExp(`received ${bufferSize};`),
          /pass e\.g\. \{ bufferSize: 10000 \}/,
        ),
        String(bufferSize),
      );
  });

  it('refuses wrong types, naming the option and the fix', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ bufferSize: '100' }, /option bufferSize must be a whole number; received "100"/],
      [{ bufferSize: 1.5 }, /option bufferSize must be a whole number; received 1\.5/],
      [{ reconnectTimeoutMs: 1.5 }, /option reconnectTimeoutMs must be a whole number/],
      [{ reconnectTimeoutMs: -1 }, /option reconnectTimeoutMs must be at least 0.*reconnectTimeoutMs: 60000/],
      [{ groupId: 7 }, /option groupId must be a non-empty string; received 7; pass e\.g\. \{ groupId:/],
      [{ topics: ['a', 3] }, /option topics must hold non-empty strings \(one is 3\)/],
      [{ parse: 'json' }, /option parse must be a function/],
      [{ format: 'xml' }, /option format is not valid .*received "xml"; pass e\.g\. \{ format: "json" \}/],
      [{ limits: 5 }, /option limits is not valid/],
      [{ brokers: ['localhost'] }, /option brokers must be host:port \(one is "localhost"\)/],
      [{ deadLetterTopic: 'has space' }, /option deadLetterTopic must be a topic name/],
      [{ deadLetterTopic: '' }, /option deadLetterTopic must be a topic name/],
    ];
    for (const [extra, message] of cases)
      assert.throws(
        () => kafkaSource({ ...BASE, ...extra } as never),
        refused(/^kafkaSource /, message),
        JSON.stringify(extra),
      );
  });

  it('refuses missing or empty topics and groupId as before', () => {
    assert.throws(
      () => kafkaSource({ topics: [], groupId: 'g' }),
      refused(/^kafkaSource needs topics; received an array of 0; pass \{ topics: \["orders"\] \}/),
    );
    assert.throws(() => kafkaSource({ groupId: 'g' } as never), refused(/kafkaSource needs topics/));
    assert.throws(
      () => kafkaSource({ topics: ['t'], groupId: '' }),
      refused(/^kafkaSource needs a groupId; received ""; pass \{ groupId: "my-app" \}/),
    );
    assert.throws(() => kafkaSource(undefined as never), refused(/kafkaSource needs an options object/));
  });

  it('refuses an undeclared option name, listing the declared ones', () => {
    assert.throws(
      () => kafkaSource({ ...BASE, bufferSzie: 5 } as never),
      refused(/kafkaSource has no option "bufferSzie"/, /use one of .*bufferSize/),
    );
    assert.throws(
      () => kafkaSource({ ...BASE, applicationId: 'a' } as never),
      refused(/kafkaSource has no option "applicationId"/),
    );
  });

  it('declares every option of KafkaSourceOptions, and the schema documents itself', () => {
    assert.deepEqual(Object.keys(KAFKA_SOURCE_OPTIONS).sort(), [
      'brokers',
      'bufferSize',
      'deadLetterTopic',
      'format',
      'groupId',
      'groupInstanceId',
      'limits',
      'parse',
      'reconnectTimeoutMs',
      'topics',
    ]);
    const lines = describeOptions(KAFKA_SOURCE_OPTIONS);
    assert.ok(lines.includes(`bufferSize (integer, default 10000): ${KAFKA_SOURCE_OPTIONS.bufferSize.doc}`));
    assert.ok(lines.some((l) => l.startsWith('topics (strings, required): ')));
  });
});

describe('kafkaSink options', () => {
  it('fills in the defaults from KAFKA_SINK_OPTIONS', () => {
    const o = kafkaSinkOptions(kafkaSink({ topic: 'out' }))!;
    assert.equal(o.onProduceError, KAFKA_SINK_OPTIONS.onProduceError.default);
    assert.equal(o.onProduceError, 'fail');
    assert.equal(
      kafkaSinkOptions(kafkaSink({ topic: 'out', onProduceError: 'dead-letter' }))!.onProduceError,
      'dead-letter',
    );
  });

  it('refuses wrong types, naming the option and the fix', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ topic: '' }, /^kafkaSink needs a topic; received ""; pass \{ topic: "results" \}/],
      [{ topic: 7 }, /option topic must be a topic name/],
      [{ topic: 'a/b' }, /option topic must be a topic name/],
      [{ key: 'customer' }, /option key must be a function.*pass e\.g\. \{ key:/],
      [{ format: {} }, /option format must be a function/],
      [{ onProduceError: 'skip' }, /option onProduceError must be "fail" or "dead-letter"; received "skip"/],
      [{ avro: { schemaId: 1 } }, /option avro is not valid/],
      [{ brokers: 'nope' }, /option brokers must be host:port/],
      [{ createTopic: { partitions: 0 } }, /kafkaSink createTopic needs a whole number of partitions/],
    ];
    for (const [extra, message] of cases)
      assert.throws(
        () => kafkaSink({ topic: 'out', ...extra } as never),
        refused(/^kafkaSink /, message),
        JSON.stringify(extra),
      );
  });

  it('refuses an undeclared option name, listing the declared ones', () => {
    assert.throws(
      () => kafkaSink({ topic: 'out', transactionalId: 'x' } as never),
      refused(/kafkaSink has no option "transactionalId"/, /use one of topic, brokers, key/),
    );
  });

  it('declares every option of KafkaSinkOptions', () => {
    assert.deepEqual(Object.keys(KAFKA_SINK_OPTIONS).sort(), [
      'avro',
      'brokers',
      'createTopic',
      'deadLetterTopic',
      'format',
      'key',
      'onProduceError',
      'topic',
    ]);
  });
});
