import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arraySource, collectSink, Pipeline, tumbling, type Windowed } from '../../src/index.ts';
import { TestDriver } from '../../src/testing/index.ts';

async function windowCounts(idleTimeout: number, parallelism?: number) {
  const p = new Pipeline();
  p.source<{ p: string; ts: number }>('events', arraySource([]), { timestamp: (e) => e.ts, idleTimeout })
    .keyBy((e) => e.p)
    .window(tumbling(100))
    .count()
    .sink(collectSink(), 'out');
  return TestDriver.create(p, parallelism === undefined ? {} : { parallelism });
}

describe('watermarks per split', () => {
  it('the slowest split holds the source watermark back', async () => {
    const d = await windowCounts(0);
    const input = d.input<{ p: string; ts: number }>('events');
    input.send([{ p: 'a', ts: 10 }], undefined, 'partition-0');
    input.send([{ p: 'b', ts: 10 }], undefined, 'partition-1');
    input.send([{ p: 'a', ts: 500 }], undefined, 'partition-0');
    assert.equal(d.output('out').length, 0, 'partition-1 is still at 10');
    input.send([{ p: 'b', ts: 500 }], undefined, 'partition-1');
    assert.deepEqual(
      d.output<Windowed<string, number>>('out').map((w) => [w.key, w.window.start, w.value]),
      [
        ['a', 0, 1],
        ['b', 0, 1],
      ],
    );
    await d.end();
  });

  it('an idle split stops holding it back; a split that speaks again counts again', async () => {
    const d = await windowCounts(1000);
    const input = d.input<{ p: string; ts: number }>('events');
    input.send([{ p: 'a', ts: 10 }], undefined, 'partition-0');
    input.send([{ p: 'b', ts: 10 }], undefined, 'partition-1');
    d.advanceProcessingTime(600);
    input.send([{ p: 'a', ts: 500 }], undefined, 'partition-0');
    d.advanceProcessingTime(600);
    input.noData(); // partition-1 has been silent for 1.2 s
    assert.equal(d.output('out').length, 2, 'window [0, 100) closed for both keys');
    input.send([{ p: 'b', ts: 520 }], undefined, 'partition-1');
    input.send([{ p: 'a', ts: 900 }], undefined, 'partition-0');
    assert.equal(d.output('out').length, 2, 'partition-1 is active again at 520: [500, 600) stays open');
    input.send([{ p: 'b', ts: 900 }], undefined, 'partition-1');
    assert.equal(d.output('out').length, 4);
    await d.end();
  });

  it('splits that went silent go idle in the order they did: a stale split stops holding back before a drained backlog goes idle', async () => {
    // Found by test/cli/kafka-stages.test.ts: a partition without records, and the others' backlog read
    // in less than the idle timeout; at the first empty poll every split was past the timeout, all went
    // idle at once, and the watermark stayed behind the silent partition for good.
    // One subtask: this is the feeder's order of expiry. (At parallelism 2 the driver's other subtask has
    // no input and has ended, so once every split here is idle the window step's only active input is
    // at +Infinity and every window fires, as Flink's valve would.)
    const d = await windowCounts(1000, 1);
    const input = d.input<{ p: string; ts: number }>('events');
    input.send([{ p: 'c', ts: 10 }], undefined, 'partition-2');
    d.advanceProcessingTime(100);
    input.send([{ p: 'a', ts: 500 }], undefined, 'partition-0');
    input.send([{ p: 'b', ts: 500 }], undefined, 'partition-1');
    assert.equal(d.output('out').length, 0, 'partition-2 holds the watermark at 10');
    d.advanceProcessingTime(1200); // partition-2 silent for 1.3 s, the others for 1.2 s
    input.noData();
    assert.deepEqual(
      d.output<Windowed<string, number>>('out').map((w) => [w.key, w.window.start, w.value]),
      [['c', 0, 1]],
      'partition-2 went idle while the others were active: the watermark reached theirs (499)',
    );
    await d.end();
  });
});
