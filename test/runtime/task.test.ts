/**
 * The task (runtime/task.ts): how it combines its input channels'
 * watermarks (the minimum over channels neither idle nor ended; idle when
 * every channel is), counts records, ends when every channel has, and how
 * its exchanges route: `hash` by the key-group table, `gather` into
 * subtask 0, `split` to the less loaded of each key group's two subtasks —
 * with watermarks, idleness and the end reaching every target (subtask 0
 * alone for `gather`) on the sender's channel.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Batch } from '../../src/core/batch.ts';
import { StepCounters } from '../../src/core/metrics.ts';
import { PassThroughOperator } from '../../src/operators/stateless.ts';
import { type ChannelTarget, type ExchangeEdge, Task } from '../../src/runtime/task.ts';

/** A downstream task's stand-in: what reached it on which channel. */
class Recorder implements ChannelTarget {
  readonly batches: { channel: number; batch: Batch }[] = [];
  readonly watermarks: [number, number][] = [];
  readonly idle: [number, boolean][] = [];
  readonly ends: number[] = [];
  receive(batch: Batch, channel: number): void {
    this.batches.push({ channel, batch });
  }
  receiveWatermark(channel: number, watermark: number): void {
    this.watermarks.push([channel, watermark]);
  }
  receiveIdle(channel: number, idle: boolean): void {
    this.idle.push([channel, idle]);
  }
  receiveEnd(channel: number): void {
    this.ends.push(channel);
  }
  records(): number {
    return this.batches.reduce((n, b) => n + b.batch.values.length, 0);
  }
}

const pressure = { push() {} };

/** A pass-through task with `channels` input channels, its main output to `edges`. */
function task(channels: number, edges: ExchangeEdge[] | { task: Task; input: number }[]): Task {
  const inputOf = new Int32Array(channels); // every channel feeds input 0
  return new Task(
    't',
    new PassThroughOperator(),
    inputOf,
    [edges],
    [new StepCounters('t', 'map')],
    pressure,
    64,
  );
}

function exchange(
  kind: ExchangeEdge['kind'],
  targets: Recorder[],
  channel: number,
  workerOf: Int32Array,
): ExchangeEdge {
  return {
    kind,
    targets,
    channel,
    workerOf,
    ...(kind === 'split' ? { sent: new Float64Array(targets.length) } : {}),
  };
}

/** `n` records of key group `group(i)` each. */
function keyed(n: number, group: (i: number) => number): Batch {
  return {
    values: Array.from({ length: n }, (_, i) => i),
    times: Array.from({ length: n }, (_, i) => i),
    keys: Array.from({ length: n }, (_, i) => `k${group(i)}`),
    groups: Array.from({ length: n }, (_, i) => group(i)),
  };
}

describe('a task combines its channels', () => {
  it('the watermark is the minimum over channels that are neither idle nor ended', () => {
    const down = new Recorder();
    const t = task(3, [exchange('gather', [down], 0, new Int32Array(128))]);
    t.receiveWatermark(0, 10);
    t.receiveWatermark(1, 5);
    assert.equal(t.watermark, Number.NEGATIVE_INFINITY, 'channel 2 has said nothing yet');
    t.receiveWatermark(2, 7);
    assert.equal(t.watermark, 5);
    t.receiveIdle(1, true);
    assert.equal(t.watermark, 7, 'the idle channel no longer holds it back');
    t.receiveEnd(2);
    assert.equal(t.watermark, 10, 'an ended channel counts as +∞');
    t.receiveWatermark(1, 20); // active again
    assert.equal(t.watermark, 10);
    assert.deepEqual(
      down.watermarks.map(([, w]) => w),
      [5, 7, 10],
      'forwarded as it rose, never twice',
    );
  });

  it('idle when every channel is; the end once every channel has ended', async () => {
    const down = new Recorder();
    const t = task(2, [exchange('gather', [down], 1, new Int32Array(128))]);
    t.receiveIdle(0, true);
    assert.deepEqual(down.idle, []);
    t.receiveIdle(1, true);
    assert.deepEqual(down.idle, [[1, true]], 'idle downstream, on the sender’s channel');
    t.receiveEnd(0);
    assert.deepEqual(down.ends, []);
    t.receiveEnd(1);
    await t.ended;
    assert.deepEqual(down.ends, [1]);
    assert.equal(down.watermarks.at(-1)?.[1], Number.POSITIVE_INFINITY);
  });

  it('counts records in and out', () => {
    const down = new Recorder();
    const t = task(1, [exchange('gather', [down], 0, new Int32Array(128))]);
    t.receive(
      keyed(10, () => 0),
      0,
    );
    t.receive(
      keyed(5, () => 1),
      0,
    );
    assert.equal(t.counters.recordsIn, 15);
    assert.equal(t.counters.batchesIn, 2);
    assert.equal(t.counters.recordsOut, 15);
    assert.equal(down.records(), 15);
  });
});

describe('exchanges route', () => {
  const table = new Int32Array(128).map((_, g) => (g < 64 ? 0 : 1));

  it('hash: each record to the subtask its key group is assigned to; watermarks to every subtask', () => {
    const targets = [new Recorder(), new Recorder()];
    const t = task(1, [exchange('hash', targets, 3, table)]);
    t.receive(
      keyed(100, (i) => (i * 37) % 128),
      0,
    );
    for (const [k, target] of targets.entries())
      for (const { batch, channel } of target.batches) {
        assert.equal(channel, 3);
        for (let i = 0; i < batch.values.length; i++) assert.equal(table[batch.groups![i]!], k);
      }
    assert.equal(targets[0]!.records() + targets[1]!.records(), 100);
    t.receiveWatermark(0, 42);
    for (const target of targets) assert.deepEqual(target.watermarks, [[3, 42]]);
  });

  it('gather: everything, watermarks and the end to subtask 0 alone', async () => {
    const targets = [new Recorder(), new Recorder()];
    const t = task(1, [exchange('gather', targets, 1, table)]);
    t.receive(
      keyed(50, (i) => i),
      0,
    );
    t.receiveWatermark(0, 9);
    t.receiveEnd(0);
    await t.ended;
    assert.equal(targets[0]!.records(), 50);
    assert.equal(targets[1]!.records(), 0);
    assert.deepEqual(targets[1]!.watermarks, []);
    assert.deepEqual(targets[1]!.ends, []);
    assert.deepEqual(targets[0]!.ends, [1]);
  });

  it('split: a hot key group spread evenly over two of three subtasks, every record delivered once', () => {
    const targets = [new Recorder(), new Recorder(), new Recorder()];
    const t = task(1, [exchange('split', targets, 0, table)]);
    for (let b = 0; b < 20; b++)
      t.receive(
        keyed(50, () => 5),
        0,
      );
    const counts = targets.map((r) => r.records());
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      1000,
    );
    assert.equal(counts.filter((n) => n > 0).length, 2, `${counts}`);
    assert.deepEqual(
      counts.filter((n) => n > 0),
      [500, 500],
    );
    t.receiveWatermark(0, 1);
    for (const target of targets) assert.deepEqual(target.watermarks, [[0, 1]]);
  });
});
