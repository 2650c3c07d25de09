/**
 * Event time between the stages of a Kafka application (carried.ts): the
 * markers' format, and the later stage's watermark as the lowest over the
 * earlier stage's tasks that are not idle. Against the broker:
 * test/cli/kafka-stages.test.ts and test/examples/finance.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Message } from '@platformatic/kafka';
import {
  CarriedWatermarks,
  carriedOf,
  floorHeader,
  markerMessage,
} from '../../../src/connectors/kafka/carried.ts';

const asRead = (m: { headers?: Map<Buffer, Buffer> }) => m as unknown as Message;

describe('carried watermarks', () => {
  it('reads back markers and floors as written', () => {
    const m = markerMessage('t', 2, 1, 3, 1_700_000_000_999, false);
    assert.equal(m.partition, 2);
    assert.deepEqual(carriedOf(asRead(m)), {
      marker: { from: 1, of: 3, watermark: 1_700_000_000_999, idle: false },
    });
    assert.deepEqual(carriedOf(asRead(markerMessage('t', 0, 0, 1, -Infinity, true))), {
      marker: { from: 0, of: 1, watermark: -Infinity, idle: true },
    });
    assert.deepEqual(carriedOf(asRead({ headers: new Map([floorHeader(42)!]) })), { floor: 42 });
    assert.deepEqual(carriedOf(asRead({})), { floor: -Infinity });
    assert.equal(floorHeader(-Infinity), undefined);
    assert.equal(floorHeader(undefined), undefined);
  });

  it('holds back until every task has written, then takes the lowest; never goes back per task', () => {
    const w = new CarriedWatermarks();
    assert.equal(w.watermark(), undefined);
    w.note(0, 3, 100);
    w.note(2, 3, 300);
    assert.equal(w.watermark(), undefined, 'task 1 has not written');
    w.note(1, 3, 200);
    assert.equal(w.watermark(), 100);
    w.note(0, 3, 50); // an older marker read late: no step back
    assert.equal(w.watermark(), 100);
    w.note(0, 3, 250);
    assert.equal(w.watermark(), 200);
  });

  it('skips idle tasks, is idle when all are, and keeps all of it across a restore', () => {
    const w = new CarriedWatermarks();
    w.note(0, 2, 100);
    w.note(1, 2, Number.NEGATIVE_INFINITY, true); // an empty partition's task, idle before any data
    assert.equal(w.watermark(), 100, 'the idle task holds no one back');
    assert.equal(w.idle(), false);
    w.note(0, 2, 150, true);
    assert.equal(w.watermark(), undefined);
    assert.equal(w.idle(), true);
    const restored = new CarriedWatermarks(structuredClone(w.snapshot()));
    assert.equal(restored.idle(), true);
    restored.note(1, 2, 120); // active again
    assert.equal(restored.idle(), false);
    assert.equal(restored.watermark(), 120);
    restored.note(0, 2, 150);
    assert.equal(restored.watermark(), 120);
    assert.equal(new CarriedWatermarks('nonsense').watermark(), undefined);
  });
});
