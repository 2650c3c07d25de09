import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { arraySource } from '../../src/connectors/memory/index.ts';
import {
  type Aggregator,
  Pipeline,
  session,
  sliding,
  tumbling,
  type WindowAssigner,
  type Windowed,
} from '../../src/index.ts';
import { TestDriver } from '../../src/testing/index.ts';
import {
  type Ev,
  gridWindows,
  idsAgg,
  lastPerWindow,
  sessionWindows,
  sortedEntries,
  type WindowKey,
  windowKey,
} from '../helpers/oracle.ts';

const BOUND = 3000;

/**
 * Random events whose arrival order is their nominal time, while their event
 * time is up to `maxDelay` earlier: disorder within the bound when maxDelay <= BOUND.
 */
function eventsArb(maxDelay: number, lateFraction = 0) {
  return fc
    .array(
      fc.record({
        key: fc.constantFrom('a', 'b', 'c', 'd'),
        // Coarse times (multiples of 250 ms) so that window boundaries are hit often.
        gap: fc.integer({ min: 0, max: 10 }).map((g) => g * 250),
        delay: fc.integer({ min: 0, max: Math.floor(maxDelay / 250) }).map((d) => d * 250),
        late: fc.double({ min: 0, max: 1, noNaN: true }),
        value: fc.integer({ min: -100, max: 100 }),
      }),
      { minLength: 1, maxLength: 150 },
    )
    .map((raw) => {
      let nominal = 1_000_000;
      return raw.map((r, id): Ev => {
        nominal += r.gap;
        const lateBy = r.late < lateFraction ? 20_000 : 0;
        return { id, key: r.key, ts: nominal - r.delay - lateBy, value: r.value };
      });
    });
}

const splitsArb = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 });

interface Run<R> {
  results: Windowed<string, R>[];
  late: Ev[];
}

/** Runs events through keyBy → window → aggregate under the test driver, in the given batch sizes. */
async function runWindowed<R>(
  events: readonly Ev[],
  splits: readonly number[],
  assigner: WindowAssigner,
  agg: Aggregator<Ev, unknown, R>,
  allowedLateness = 0,
): Promise<Run<R>> {
  const p = new Pipeline();
  const w = p
    .source<Ev>('events', arraySource([]), { timestamp: (e) => e.ts, maxOutOfOrderness: BOUND })
    .keyBy((e) => e.key)
    .window(assigner, { allowedLateness })
    .aggregate(agg, 'agg');
  w.sink({ kind: 'x', guarantee: 'best-effort', open: () => ({ write() {} }) }, 'out');
  w.late().sink({ kind: 'x', guarantee: 'best-effort', open: () => ({ write() {} }) }, 'late');
  const d = await TestDriver.create(p);
  const input = d.input<Ev>('events');
  let i = 0;
  let s = 0;
  while (i < events.length) {
    const n = splits[s++ % splits.length]!;
    input.send(events.slice(i, i + n));
    i += n;
  }
  await d.end();
  return { results: d.output('out'), late: d.output('late') };
}

const assigners: [string, WindowAssigner, (e: readonly Ev[]) => Map<WindowKey, number[]>][] = [
  ['tumbling 5 s', tumbling(5000), (e) => gridWindows(e, 5000)],
  ['sliding 6 s / 2 s', sliding(6000, 2000), (e) => gridWindows(e, 6000, 2000)],
  ['session gap 2 s', session(2000), (e) => sessionWindows(e, 2000)],
];

describe('windows agree with a batch oracle', () => {
  for (const [name, assigner, oracle] of assigners) {
    it(`${name}, aggregate: disorder within the bound gives exactly the oracle's windows`, async () => {
      await fc.assert(
        fc.asyncProperty(eventsArb(BOUND), splitsArb, async (events, splits) => {
          const { results, late } = await runWindowed(events, splits, assigner, idsAgg);
          assert.equal(late.length, 0, 'no record is late within the bound');
          assert.ok(results.every((r) => r.timing === 'on-time'));
          // Each window fires exactly once, with exactly its events.
          assert.equal(
            results.length,
            new Set(results.map((r) => `${r.key}|${r.window.start}|${r.window.end}`)).size,
          );
          const expected = new Map(
            [...oracle(events)].map(([k, ids]) => [k, [...ids].sort((a, b) => a - b)]),
          );
          assert.deepEqual(sortedEntries(lastPerWindow(results)), sortedEntries(expected));
        }),
        { numRuns: 60 },
      );
    });

    it(`${name}, reduce: sums equal the oracle's`, async () => {
      await fc.assert(
        fc.asyncProperty(eventsArb(BOUND), splitsArb, async (events, splits) => {
          const p = new Pipeline();
          p.source<Ev>('events', arraySource([]), { timestamp: (e) => e.ts, maxOutOfOrderness: BOUND })
            .map((e) => ({ ...e }))
            .keyBy((e) => e.key)
            .window(assigner)
            .reduce((a, b) => ({ id: a.id, key: a.key, ts: a.ts, value: a.value + b.value }))
            .sink({ kind: 'x', guarantee: 'best-effort', open: () => ({ write() {} }) }, 'out');
          const d = await TestDriver.create(p);
          let i = 0;
          for (const n of splits.concat([events.length])) {
            d.input<Ev>('events').send(events.slice(i, i + n));
            i += n;
            if (i >= events.length) break;
          }
          await d.end();
          const got = lastPerWindow(
            d.output<Windowed<string, Ev>>('out').map((r) => ({ ...r, value: r.value.value })),
          );
          const byId = new Map(events.map((e) => [e.id, e.value]));
          const expected = new Map(
            [...oracle(events)].map(([k, ids]) => [k, ids.reduce((s, id) => s + byId.get(id)!, 0)]),
          );
          assert.deepEqual(sortedEntries(got), sortedEntries(expected));
        }),
        { numRuns: 40 },
      );
    });
  }
});

describe('late records are accounted for, never dropped', () => {
  for (const lateness of [0, 4000]) {
    it(`tumbling with allowedLateness ${lateness}: results plus the late output hold every record exactly once`, async () => {
      await fc.assert(
        fc.asyncProperty(eventsArb(BOUND + 6000, 0.1), splitsArb, async (events, splits) => {
          const { results, late } = await runWindowed(events, splits, tumbling(5000), idsAgg, lateness);
          const final = lastPerWindow(results);
          const seen = [...final.values()].flat().concat(late.map((e) => e.id));
          assert.deepEqual(
            [...seen].sort((a, b) => a - b),
            events.map((e) => e.id),
          );
          // Every emitted window is one the oracle knows, and no late record is also in its window's result.
          const oracle = gridWindows(events, 5000);
          for (const k of final.keys()) assert.ok(oracle.has(k), `unexpected window ${k}`);
          for (const e of late) {
            const start = e.ts - (((e.ts % 5000) + 5000) % 5000);
            assert.ok(!(final.get(windowKey(e.key, start, start + 5000)) ?? []).includes(e.id));
          }
        }),
        { numRuns: 60 },
      );
    });
  }

  it('counts late records in the step metrics', async () => {
    const p = new Pipeline();
    const w = p
      .source<Ev>('events', arraySource([]), { timestamp: (e) => e.ts })
      .keyBy((e) => e.key)
      .window(tumbling(1000))
      .count('count');
    w.sink(nullSink(), 'out');
    w.late().sink(nullSink(), 'late');
    const d = await TestDriver.create(p);
    const input = d.input<Ev>('events');
    input.send([{ id: 0, key: 'a', ts: 5000, value: 1 }]);
    input.send([{ id: 1, key: 'a', ts: 100, value: 1 }]);
    await d.end();
    assert.equal(d.metrics().steps['count']!.lateRecords, 1);
    assert.deepEqual(
      d.output<Ev>('late').map((e) => e.id),
      [1],
    );
  });

  it('within allowed lateness, a late record updates the result with timing "late"', async () => {
    const p = new Pipeline();
    p.source<Ev>('events', arraySource([]), { timestamp: (e) => e.ts })
      .keyBy((e) => e.key)
      .window(tumbling(1000), { allowedLateness: 2000 })
      .count()
      .sink(nullSink(), 'out');
    const d = await TestDriver.create(p);
    const input = d.input<Ev>('events');
    input.send([{ id: 0, key: 'a', ts: 100, value: 1 }]);
    input.send([{ id: 1, key: 'a', ts: 1500, value: 1 }]); // closes [0, 1000)
    input.send([{ id: 2, key: 'a', ts: 200, value: 1 }]); // late, within lateness
    await d.end();
    const firstWindow = d.output<Windowed<string, number>>('out').filter((r) => r.window.start === 0);
    assert.deepEqual(
      firstWindow.map((r) => [r.value, r.timing]),
      [
        [1, 'on-time'],
        [2, 'late'],
      ],
    );
  });
});

describe('early results', () => {
  it('emits early results for changed windows on the processing-time clock, then the on-time result', async () => {
    const p = new Pipeline();
    p.source<Ev>('events', arraySource([]), { timestamp: (e) => e.ts })
      .keyBy((e) => e.key)
      .window(tumbling(10_000), { earlyEvery: 1000 })
      .count()
      .sink(nullSink(), 'out');
    const d = await TestDriver.create(p);
    const input = d.input<Ev>('events');
    input.send([{ id: 0, key: 'a', ts: 100, value: 1 }]);
    d.advanceProcessingTime(1000);
    input.send([{ id: 1, key: 'a', ts: 200, value: 1 }]);
    d.advanceProcessingTime(1000);
    d.advanceProcessingTime(1000); // nothing changed: no early result
    await d.end();
    assert.deepEqual(
      d.output<Windowed<string, number>>('out').map((r) => [r.value, r.timing]),
      [
        [1, 'early'],
        [2, 'early'],
        [2, 'on-time'],
      ],
    );
  });
});

describe('window configuration errors', () => {
  it('rejects session windows without merge, naming the fix', () => {
    const p = new Pipeline();
    const keyed = p.source<Ev>('events', arraySource([])).keyBy((e) => e.key);
    assert.throws(
      () => keyed.window(session(1000)).aggregate({ create: () => 0, add: (n) => n + 1, result: (n) => n }),
      /needs merge\(\).*add merge/,
    );
  });

  it('rejects a non-positive window size', () => {
    assert.throws(() => tumbling(0), /received 0/);
    assert.throws(() => sliding(1000, 300), /multiple of its slide/);
  });
});

function nullSink() {
  return { kind: 'null', guarantee: 'best-effort' as const, open: () => ({ write() {} }) };
}
