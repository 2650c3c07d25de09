/** kafkaApp misconfiguration fails fast, naming the bad value and the fix (no broker needed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyGroupOf } from '../../src/core/key-groups.ts';
import { kafkaApp, kafkaPartition, kafkaSink, kafkaSource } from '../../src/deploy/kafka/index.ts';
import { EddyError, Pipeline } from '../../src/index.ts';

describe('kafkaApp configuration', () => {
  it('kafkaSource: a bad groupInstanceId (static membership) is refused, naming it and the fix', () => {
    for (const groupInstanceId of ['', 'has space', 'x'.repeat(201), 7 as never])
      assert.throws(
        () => kafkaSource({ topics: ['t'], groupId: 'g', groupInstanceId }),
        (e: unknown) =>
          e instanceof EddyError &&
          /groupInstanceId must be 1-200 letters/.test(e.message) &&
          /pod name/.test(e.message),
      );
    assert.doesNotThrow(() => kafkaSource({ topics: ['t'], groupId: 'g', groupInstanceId: 'pod-7.eu_1' }));
  });

  it('rejects a bad applicationId, commit interval, topics and keyBy with the fix', () => {
    assert.throws(() => kafkaApp({ applicationId: 'has space' }), /applicationId.*pass \{ applicationId/s);
    assert.throws(() => kafkaApp({ applicationId: 'a', commitIntervalMs: 0 }), /commitIntervalMs.*1000/s);
    const app = kafkaApp({ applicationId: 'a' });
    assert.throws(() => app.source({ topics: [] }), /needs topics/);
    assert.throws(() => app.source({ topics: ['x', 'y'] }), /several topics needs keyBy/);
    assert.throws(() => app.source({ topics: ['x'], keyBy: 'k' as never }), /keyBy must be a function/);
    assert.throws(() => app.source({ topics: ['x'], deadLetterTopic: '' }), /deadLetterTopic/);
    assert.throws(() => app.sink({ topic: '' }), /needs a topic/);
  });

  it('checks every option against its schema: unknown names, bounds and forms, naming the option and the fix', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { commitIntervalMS: 500 },
        /kafkaApp has no option "commitIntervalMS".*use one of .*commitIntervalMs/s,
      ],
      [
        { reconnectTimeoutMs: -1 },
        /kafkaApp option reconnectTimeoutMs must be at least 0.*reconnectTimeoutMs: 60000/s,
      ],
      [{ sessionTimeoutMs: 500 }, /kafkaApp option sessionTimeoutMs must be at least 1000/],
      [{ instanceId: 'host 1' }, /kafkaApp option instanceId must be 1-200 letters/],
      [{ warmStandby: 'yes' }, /kafkaApp option warmStandby must be true or false/],
      [{ standbyIntervalMs: 5 }, /kafkaApp option standbyIntervalMs must be at least 10/],
    ];
    for (const [extra, message] of cases)
      assert.throws(
        () => kafkaApp({ applicationId: 'a', ...extra } as never),
        (e: unknown) => e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && message.test(e.message),
        JSON.stringify(extra),
      );
  });

  it('rejects bad restart, onProduceError and createTopic options with the fix', () => {
    assert.throws(
      () => kafkaApp({ applicationId: 'a', restart: { maxFailures: -1 } }),
      /restart maxFailures must be a finite number >= 0.*pass e\.g\. 10/s,
    );
    const app = kafkaApp({ applicationId: 'a' });
    assert.throws(() => app.sink({ topic: 't', onProduceError: 'skip' as never }), /onProduceError must be/);
    assert.throws(
      () => app.sink({ topic: 't', createTopic: { partitions: 0 } }),
      /createTopic needs a whole number of partitions/,
    );
    // Without a dead-letter topic, refused records go to the pipeline's dead letters.
    assert.doesNotThrow(() => kafkaSink({ topic: 't', onProduceError: 'dead-letter' }));
    assert.throws(
      () => kafkaSink({ topic: 't', createTopic: { partitions: 2, replicationFactor: 0 } }),
      /replicationFactor must be a whole number/,
    );
  });

  // Issue 19 (point 11): a second app.source replaced the first without a word.
  it('refuses a second app.source, naming both and the fix, before touching a broker', async () => {
    const app = kafkaApp({ applicationId: 'a', brokers: ['127.0.0.1:1'] });
    app.source({ topics: ['orders'] });
    assert.throws(
      () => app.source({ topics: ['payments'] }),
      (e: unknown) =>
        e instanceof EddyError &&
        e.code === 'EDDY_CONFIG_INVALID' &&
        /already reads \[orders\]; received "a second app\.source of \[payments\]"; read every topic with one app\.source\(\{ topics: \["orders", "payments"\], keyBy \}\)/.test(
          e.message,
        ),
    );
    const other = kafkaApp({ applicationId: 'b', brokers: ['127.0.0.1:1'] });
    await assert.rejects(
      other.run(() => {
        const p = new Pipeline({ name: 'two' });
        p.source('a', other.source({ topics: ['orders'] })).sink({
          kind: 'x',
          guarantee: 'best-effort',
          open: () => ({ write() {} }),
        });
        p.source('b', other.source({ topics: ['payments'] })).sink({
          kind: 'x',
          guarantee: 'best-effort',
          open: () => ({ write() {} }),
        });
        return p;
      }),
      /a Kafka application reads one app\.source, and this one already reads \[orders\]/,
    );
    const shared = kafkaApp({ applicationId: 'c', brokers: ['127.0.0.1:1'] });
    await assert.rejects(
      shared.run(() => {
        const p = new Pipeline({ name: 'same' });
        const src = shared.source({ topics: ['orders'] });
        p.source('a', src).sink({ kind: 'x', guarantee: 'best-effort', open: () => ({ write() {} }) });
        p.source('b', src).sink({ kind: 'x', guarantee: 'best-effort', open: () => ({ write() {} }) });
        return p;
      }),
      /steps "a" and "b" both read it/,
    );
  });

  it('kafkaPartition is the key group, so partition p holds exactly key group p', () => {
    for (const key of ['a', 'device-17', 42, -3, 'ü'])
      assert.equal(kafkaPartition(key, 12), keyGroupOf(key, 12));
  });
});
