/**
 * The Kafka application's source and sink options as schemas (issue 13):
 * `app.source` and `app.sink` are checked against KAFKA_APP_SOURCE_OPTIONS /
 * KAFKA_APP_SINK_OPTIONS, whose shared entries (`bufferSize`, `topics`,
 * `onProduceError`, …) are kafkaSource's and kafkaSink's own, as is the
 * application's `reconnectTimeoutMs` default: one default each. No broker
 * needed: nothing is opened.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KAFKA_SINK_OPTIONS, KAFKA_SOURCE_OPTIONS } from '../../../src/connectors/kafka/options.ts';
import { type AppSourceConfig, appSource } from '../../../src/deploy/kafka/app-source.ts';
import { kafkaApp } from '../../../src/deploy/kafka/index.ts';
import {
  KAFKA_APP_OPTIONS,
  KAFKA_APP_SINK_OPTIONS,
  KAFKA_APP_SOURCE_OPTIONS,
  resolveKafkaAppOptions,
} from '../../../src/deploy/kafka/options.ts';
import { EddyError } from '../../../src/index.ts';

const refused =
  (...patterns: RegExp[]) =>
  (e: unknown) =>
    e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && patterns.every((p) => p.test(e.message));

/** The configuration `app.source` settles, taken from a stand-in application. */
function settled(options: Parameters<typeof appSource>[0]): AppSourceConfig {
  let config: AppSourceConfig | undefined;
  appSource(options, {
    repartitionTopic: 'a-repartition',
    claim: () => {},
    adopt: (c) => {
      config = c;
    },
    reading: () => {
      throw new Error('not read');
    },
  });
  return config!;
}

describe('Kafka application source and sink options', () => {
  it('share their defaults with kafkaSource and kafkaSink: one entry each', () => {
    assert.equal(KAFKA_APP_SOURCE_OPTIONS.bufferSize, KAFKA_SOURCE_OPTIONS.bufferSize);
    assert.equal(KAFKA_APP_SOURCE_OPTIONS.topics, KAFKA_SOURCE_OPTIONS.topics);
    assert.equal(KAFKA_APP_SINK_OPTIONS.topic, KAFKA_SINK_OPTIONS.topic);
    assert.equal(KAFKA_APP_SINK_OPTIONS.onProduceError.default, KAFKA_SINK_OPTIONS.onProduceError.default);
    assert.equal(
      KAFKA_APP_OPTIONS.reconnectTimeoutMs.default,
      KAFKA_SOURCE_OPTIONS.reconnectTimeoutMs.default,
    );
    assert.equal(resolveKafkaAppOptions({ applicationId: 'a' }).reconnectTimeoutMs, 60_000);
  });

  it('app.source fills in bufferSize from the schema, and keeps a given one', () => {
    assert.equal(settled({ topics: ['in'] }).bufferSize, KAFKA_SOURCE_OPTIONS.bufferSize.default);
    assert.equal(settled({ topics: ['in'] }).bufferSize, 10_000);
    assert.equal(settled({ topics: ['in'] }).carried, false);
    assert.equal(settled({ topics: ['in'], bufferSize: 500 }).bufferSize, 500);
  });

  it('app.source refuses an out-of-bound bufferSize, wrong types and undeclared names', () => {
    const app = kafkaApp({ applicationId: 'a' });
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { bufferSize: 0 },
        /app\.source option bufferSize must be at least 1; received 0; pass e\.g\. \{ bufferSize: 10000 \}/,
      ],
      [{ bufferSize: 20_000_000 }, /app\.source option bufferSize must be at most 10000000/],
      [{ bufferSize: '10' }, /app\.source option bufferSize must be a whole number/],
      [{ carried: 'yes' }, /app\.source option carried must be true or false/],
      [{ format: 7 }, /app\.source option format is not valid/],
      [{ deadLetterTopic: 'dlq?' }, /app\.source option deadLetterTopic must be a topic name/],
      // The application id takes the place of a consumer group: a groupId here would be ignored.
      [{ groupId: 'g' }, /app\.source has no option "groupId".*use one of topics, /s],
      [{ reconnectTimeoutMs: 1000 }, /app\.source has no option "reconnectTimeoutMs"/],
    ];
    for (const [extra, message] of cases)
      assert.throws(
        () => app.source({ topics: ['in'], ...extra } as never),
        refused(message),
        JSON.stringify(extra),
      );
  });

  it('app.sink refuses wrong types and undeclared names; its defaults come from the schema', () => {
    const app = kafkaApp({ applicationId: 'a' });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ topic: '' }, /^app\.sink needs a topic; received ""; pass \{ topic: "results" \}/],
      [{ key: 'k' }, /app\.sink option key must be a function/],
      [{ carryEventTime: 1 }, /app\.sink option carryEventTime must be true or false/],
      [{ onProduceError: 'skip' }, /app\.sink option onProduceError must be "fail" or "dead-letter"/],
      [{ avro: {} }, /app\.sink has no option "avro".*use one of topic, key, format/s],
    ];
    for (const [extra, message] of cases)
      assert.throws(
        () => app.sink({ topic: 'out', ...extra } as never),
        refused(message),
        JSON.stringify(extra),
      );
    assert.doesNotThrow(() =>
      app.sink({ topic: 'out', onProduceError: 'dead-letter', carryEventTime: false }),
    );
  });
});
