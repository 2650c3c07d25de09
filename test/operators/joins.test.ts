import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { arraySource } from '../../src/connectors/memory/index.ts';
import { Pipeline, sliding, tumbling } from '../../src/index.ts';
import { cleanupStep } from '../../src/operators/joins.ts';
import { TestDriver } from '../../src/testing/index.ts';
import { nullSink } from '../helpers/sinks.ts';

interface Side {
  readonly id: number;
  readonly key: string;
  readonly ts: number;
}

const BOUND = 2000;

/** Two sides' events in one arrival order, event times up to BOUND out of order. */
const twoSidesArb = fc
  .array(
    fc.record({
      side: fc.constantFrom(0, 1),
      key: fc.constantFrom('a', 'b', 'c'),
      gap: fc.integer({ min: 0, max: 8 }).map((g) => g * 250),
      delay: fc.integer({ min: 0, max: BOUND / 250 }).map((d) => d * 250),
    }),
    { minLength: 1, maxLength: 80 },
  )
  .map((raw) => {
    let nominal = 100_000;
    return raw.map((r, id) => {
      nominal += r.gap;
      return { side: r.side, ev: { id, key: r.key, ts: nominal - r.delay } };
    });
  });

function pairsOf(out: readonly string[]): string[] {
  return [...out].sort();
}

async function runJoin(
  arrivals: readonly { side: number; ev: Side }[],
  build: (p: Pipeline) => void,
): Promise<TestDriver> {
  const p = new Pipeline();
  build(p);
  const d = await TestDriver.create(p);
  for (const a of arrivals) d.input<Side>(a.side === 0 ? 'left' : 'right').send([a.ev]);
  await d.end();
  return d;
}

function sources(p: Pipeline) {
  const opts = { timestamp: (e: Side) => e.ts, maxOutOfOrderness: BOUND };
  return {
    left: p.source<Side>('left', arraySource([]), opts).keyBy((e) => e.key),
    right: p.source<Side>('right', arraySource([]), opts).keyBy((e) => e.key),
  };
}

describe('joins agree with a nested-loop oracle', () => {
  for (const [name, assigner, size, slide] of [
    ['tumbling 3 s', tumbling(3000), 3000, 3000],
    ['sliding 4 s / 2 s', sliding(4000, 2000), 4000, 2000],
  ] as const) {
    it(`window join, ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(twoSidesArb, async (arrivals) => {
          const d = await runJoin(arrivals, (p) => {
            const { left, right } = sources(p);
            const j = left
              .join(right)
              .window(assigner)
              .apply((l, r) => `${l.id}-${r.id}`, 'join');
            j.sink(nullSink(), 'out');
            j.late().sink(nullSink(), 'late');
          });
          assert.equal(d.output('late').length, 0);
          const ls = arrivals.filter((a) => a.side === 0).map((a) => a.ev);
          const rs = arrivals.filter((a) => a.side === 1).map((a) => a.ev);
          const expected: string[] = [];
          for (const l of ls) {
            for (const r of rs) {
              if (l.key !== r.key) continue;
              // one pair per window both fall in
              for (
                let start = l.ts - (((l.ts % slide) + slide) % slide);
                start > l.ts - size;
                start -= slide
              ) {
                if (r.ts >= start && r.ts < start + size) expected.push(`${l.id}-${r.id}`);
              }
            }
          }
          assert.deepEqual(pairsOf(d.output<string>('out')), pairsOf(expected));
        }),
        { numRuns: 60 },
      );
    });
  }

  it('interval join', async () => {
    await fc.assert(
      fc.asyncProperty(
        twoSidesArb,
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: 0, max: 6 }),
        // Wide bounds make the clean-up step (cleanupStep) longer than the events' spacing: records
        // past their horizon are then still buffered for a while and must not meet a partner.
        fc.constantFrom(1, 64),
        async (arrivals, lo, width, scale) => {
          const lower = lo * 500 * scale;
          const upper = lower + width * 500 * scale;
          const d = await runJoin(arrivals, (p) => {
            const { left, right } = sources(p);
            const j = left.intervalJoin(right, { lower, upper }, (l, r) => `${l.id}-${r.id}`, 'join');
            j.sink(nullSink(), 'out');
            j.late().sink(nullSink(), 'late');
          });
          const ls = arrivals.filter((a) => a.side === 0).map((a) => a.ev);
          const rs = arrivals.filter((a) => a.side === 1).map((a) => a.ev);
          const expected: string[] = [];
          for (const l of ls)
            for (const r of rs)
              if (l.key === r.key && r.ts >= l.ts + lower && r.ts <= l.ts + upper)
                expected.push(`${l.id}-${r.id}`);
          assert.equal(d.output('late').length, 0);
          assert.deepEqual(pairsOf(d.output<string>('out')), pairsOf(expected));
        },
      ),
      { numRuns: 80 },
    );
  });

  it('interval join drops what no partner can still meet, one clean-up step after its horizon', async () => {
    const lower = -100_000;
    const upper = 100_000;
    const step = cleanupStep(upper - lower);
    assert.equal(step, 2048); // the largest power of two <= 200,000 / 64
    const p = new Pipeline();
    const { left, right } = sources(p);
    left.intervalJoin(right, { lower, upper }, (l, r) => `${l.id}-${r.id}`, 'join').sink(nullSink(), 'out');
    const d = await TestDriver.create(p);
    const buffered = (table: string) =>
      d
        .state('join')
        .entries<[unknown, number][]>(table)
        .flatMap(([, , list]) => list.map(([, t]) => t))
        .sort((a, b) => a - b);
    // Left records wait until t + upper, right ones until t - lower: both at t + 100,000.
    const times = Array.from({ length: 40 }, (_, i) => 1_000_000 + i * 500);
    d.input<Side>('left').send(times.map((ts, id) => ({ id, key: 'a', ts })));
    d.input<Side>('right').send(times.map((ts, id) => ({ id: 100 + id, key: 'a', ts })));
    for (const w of [1_100_000, 1_105_000, 1_111_000, 1_125_000]) {
      d.input<Side>('left').watermark(w);
      d.input<Side>('right').watermark(w);
      await d.settle();
      for (const table of ['left', 'right']) {
        const kept = buffered(table);
        // Nothing a partner could still meet is gone…
        assert.deepEqual(
          kept.filter((t) => t + upper > w),
          times.filter((t) => t + upper > w),
          `${table} at ${w}`,
        );
        // …and nothing is kept more than a step past its horizon.
        for (const t of kept) assert.ok(t + upper + step > w, `${table} at ${w} keeps ${t}`);
      }
    }
    await d.end();
  });

  it('stream-table join sees the latest row at arrival; null deletes', async () => {
    const p2 = new Pipeline();
    const table = p2
      .source<{ sku: string; price: number | null }>('prices', arraySource([]))
      .keyBy((r) => r.sku)
      .toTable((r) => (r.price === null ? null : r));
    p2.source<{ sku: string; qty: number }>('orders', arraySource([]))
      .keyBy((o) => o.sku)
      .joinTable(table, (o, row) => `${o.sku}:${o.qty}@${row?.price ?? 'none'}`)
      .sink(nullSink(), 'out');
    const d = await TestDriver.create(p2);
    d.input('orders').send([{ sku: 'x', qty: 1 }]);
    d.input('prices').send([{ sku: 'x', price: 10 }]);
    d.input('orders').send([{ sku: 'x', qty: 2 }]);
    d.input('prices').send([{ sku: 'x', price: 12 }]);
    d.input('orders').send([
      { sku: 'x', qty: 3 },
      { sku: 'y', qty: 4 },
    ]);
    d.input('prices').send([{ sku: 'x', price: null }]);
    d.input('orders').send([{ sku: 'x', qty: 5 }]);
    await d.end();
    assert.deepEqual(d.output('out'), ['x:1@none', 'x:2@10', 'x:3@12', 'y:4@none', 'x:5@none']);
  });
});
