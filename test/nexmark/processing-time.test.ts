/**
 * q12 counts bids in processing-time windows. Under the test driver the
 * processing time is a `ManualClock` moved by hand, so each bid's arrival time
 * is chosen here and the result is exact; a run on the system clock is checked
 * for what does not depend on timing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Event,
  generateEvents,
  nexmarkGenerator,
  nexmarkSourceOptions,
  splitEvents,
} from '../../bench/nexmark/generator.ts';
import { type Q12Row, q12 } from '../../bench/nexmark/queries.ts';
import { arraySource, collectSink, Pipeline } from '../../src/index.ts';
import { TestDriver } from '../../src/testing/index.ts';
import { bag, groupBy } from './support.ts';

const WINDOW = 10_000;

/** When bid-or-not event `i` reaches the pipeline (processing time, ms): steady, then a 25 s stall. */
function arrival(i: number, count: number): number {
  return 1_234_567 + Math.floor(i * 3.7) + (i >= count / 2 ? 25_000 : 0);
}

/** Every (bidder, window) with its count, the windows taken from each bid's arrival time. */
function oracle(events: readonly Event[], at: (i: number) => number): Q12Row[] {
  const counts = new Map<string, Q12Row>();
  events.forEach((e, i) => {
    if (e.kind !== 'bid') return;
    const starttime = at(i) - (at(i) % WINDOW);
    const key = `${e.bid.bidder}/${starttime}`;
    const row = counts.get(key) ?? {
      bidder: e.bid.bidder,
      bidCount: 0,
      starttime,
      endtime: starttime + WINDOW,
    };
    counts.set(key, { ...row, bidCount: row.bidCount + 1 });
  });
  return [...counts.values()];
}

/** A driver for q12; events are fed by hand, so the source is an empty array (not split over subtasks). */
async function driver(): Promise<TestDriver> {
  const p = new Pipeline({ name: 'nexmark-q12', errorPolicy: 'fail' });
  q12(p, p.source('events', arraySource<Event>([]), nexmarkSourceOptions)).sink(collectSink(), 'out');
  return TestDriver.create(p);
}

describe('nexmark q12 (processing-time windows)', () => {
  for (const config of [
    { seed: 1, count: 5000 },
    { seed: 2, count: 5000, eventsPerSecond: 50 },
    { seed: 3, count: 5000, numActivePeople: 8 },
  ]) {
    it(`counts bids per bidder per 10 s of processing time, each window once at its end (seed ${config.seed})`, async () => {
      const events = generateEvents(config);
      const at = (i: number) => arrival(i, events.length);
      const expected = oracle(events, at);
      const ends = expected.map((r) => r.endtime).sort((a, b) => a - b);
      const d = await driver();
      const input = d.input<Event>('events');
      // Rows emitted by `now`: exactly the windows that ended by then, none early.
      const check = (now: number) => {
        const out = d.output<Q12Row>('out');
        assert.ok(
          out.every((r) => r.endtime <= now),
          `a window was emitted before its end (now ${now})`,
        );
        assert.equal(out.length, ends.filter((end) => end <= now).length, `rows by ${now}`);
      };
      for (let i = 0; i < events.length; ) {
        const t = at(i);
        let j = i;
        while (j < events.length && at(j) === t) j++;
        d.advanceProcessingTime(t - d.clock.now());
        check(t);
        input.send(events.slice(i, j));
        i = j;
      }
      d.advanceProcessingTime(WINDOW);
      check(d.clock.now());
      assert.deepEqual(bag(d.output('out')), bag(expected));
      assert.ok(expected.length > 50);
      await d.end();
      assert.equal(d.output('out').length, expected.length, 'nothing more at the end');
    });
  }

  it('emits the windows still open at the end of input, with the bids they have', async () => {
    const config = { seed: 4, count: 600 };
    const events = generateEvents(config);
    const at = (i: number) => 50_000 + i * 20; // 12 s: two windows, the second still open at the end
    const d = await driver();
    const input = d.input<Event>('events');
    events.forEach((e, i) => {
      d.advanceProcessingTime(at(i) - d.clock.now());
      input.send(e);
    });
    const expected = oracle(events, at);
    const closed = expected.filter((r) => r.endtime <= d.clock.now());
    assert.ok(closed.length > 0 && closed.length < expected.length);
    assert.deepEqual(bag(d.output('out')), bag(closed));
    await d.end();
    assert.deepEqual(bag(d.output('out')), bag(expected));
  });

  it('on the system clock, counts every bid once in aligned 10 s windows', async () => {
    const config = { seed: 5, count: 20_000 };
    const p = new Pipeline({ name: 'nexmark-q12', errorPolicy: 'fail' });
    const out = collectSink<Q12Row>();
    q12(p, p.source('events', nexmarkGenerator(config), nexmarkSourceOptions)).sink(out);
    await p.run();
    const { bids } = splitEvents(generateEvents(config));
    const perBidder = (pairs: [number, number][]) => {
      const m = new Map<number, number>();
      for (const [bidder, n] of pairs) m.set(bidder, (m.get(bidder) ?? 0) + n);
      return m;
    };
    assert.deepEqual(
      perBidder(out.values.map((r) => [r.bidder, r.bidCount])),
      perBidder(bids.map((b) => [b.bidder, 1])),
    );
    for (const r of out.values) {
      assert.equal(r.starttime % WINDOW, 0);
      assert.equal(r.endtime - r.starttime, WINDOW);
    }
    for (const [, rows] of groupBy(out.values, (r) => `${r.bidder}/${r.starttime}`))
      assert.equal(rows.length, 1);
  });

  it('rejects a window that is not a whole number of ms', () => {
    const p = new Pipeline();
    const events = p.source('events', nexmarkGenerator({ count: 1 }), nexmarkSourceOptions);
    assert.throws(() => q12(p, events, 0), /q12 window/);
    assert.throws(() => q12(p, events, 1.5), /q12 window/);
  });
});
