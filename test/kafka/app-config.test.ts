/** kafkaApp misconfiguration fails fast, naming the bad value and the fix (no broker needed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kafkaApp, kafkaPartition } from '../../src/connectors/kafka/index.ts';
import { keyGroupOf } from '../../src/state/key-groups.ts';

describe('kafkaApp configuration', () => {
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

  it('kafkaPartition is the key group, so partition p holds exactly key group p', () => {
    for (const key of ['a', 'device-17', 42, -3, 'ü'])
      assert.equal(kafkaPartition(key, 12), keyGroupOf(key, 12));
  });
});
