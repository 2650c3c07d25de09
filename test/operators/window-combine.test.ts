import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Aggregator, WindowAssigner, Windowed } from '../../src/api/windows.ts';
import { arraySource } from '../../src/connectors/memory/index.ts';
import type { Batch } from '../../src/core/batch.ts';
import { Pipeline, sliding, tumbling } from '../../src/index.ts';
import type { OperatorContext, Output } from '../../src/operators/operator.ts';
import { WindowOperator } from '../../src/operators/window.ts';
import { WindowCombiner } from '../../src/operators/window-combine.ts';
import { HeapStateBackend } from '../../src/state/heap.ts';
import { TestDriver } from '../../src/testing/index.ts';
import { type Ev, idsAgg } from '../helpers/oracle.ts';

const BOUND = 2000;

function eventsArb() {
  return fc
    .array(
      fc.record({
        key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
        gap: fc.integer({ min: 0, max: 8 }).map((g) => g * 250),
        delay: fc.integer({ min: 0, max: BOUND / 250 }).map((d) => d * 250),
        // Some records arrive far behind the watermark: late, or within the allowed lateness.
        lateBy: fc.oneof(
          { weight: 5, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: 1, max: 16 }).map((l) => l * 500) },
        ),
      }),
      { minLength: 1, maxLength: 200 },
    )
    .map((raw) => {
      let nominal = 1_000_000;
      return raw.map((r, id): Ev => {
        nominal += r.gap;
        return { id, key: r.key, ts: nominal - r.delay - r.lateBy, value: id };
      });
    });
}

interface Run {
  results: string[];
  late: number[];
  windowRecordsIn: number;
}

async function run(
  events: readonly Ev[],
  batch: number,
  assigner: WindowAssigner,
  allowedLateness: number,
  parallelism: number,
): Promise<Run> {
  const p = new Pipeline();
  const w = p
    .source<Ev>('events', arraySource([]), { timestamp: (e) => e.ts, maxOutOfOrderness: BOUND })
    .keyBy((e) => e.key)
    .window(assigner, { allowedLateness })
    .aggregate(idsAgg, 'agg');
  const none = { kind: 'x', guarantee: 'best-effort' as const, open: () => ({ write() {} }) };
  w.sink(none, 'out');
  w.late().sink(none, 'late');
  const d = await TestDriver.create(p, { parallelism });
  const input = d.input<Ev>('events');
  for (let i = 0; i < events.length; i += batch) input.send(events.slice(i, i + batch));
  await d.end();
  assert.deepEqual(d.deadLetters(), []);
  return {
    // Every emission, including each late update, as a sortable line.
    results: d
      .output<Windowed<string, number[]>>('out')
      .map((r) => `${r.key}|${r.window.start}|${r.timing}|${r.value.join(',')}`)
      .sort(),
    late: d
      .output<Ev>('late')
      .map((e) => e.id)
      .sort((a, b) => a - b),
    windowRecordsIn: d.metrics().steps.agg!.recordsIn,
  };
}

describe('window pre-aggregation before the exchange (combiner)', () => {
  it('gives exactly the results of parallelism 1 at 2 and 3: out-of-order, late and within-lateness records', async () => {
    const assigners: WindowAssigner[] = [tumbling(1000), sliding(2000, 500)];
    await fc.assert(
      fc.asyncProperty(
        eventsArb(),
        fc.integer({ min: 1, max: 30 }),
        fc.constantFrom(...assigners),
        fc.constantFrom(0, 1500),
        async (events, batch, assigner, lateness) => {
          const one = await run(events, batch, assigner, lateness, 1);
          for (const n of [2, 3]) {
            const many = await run(events, batch, assigner, lateness, n);
            assert.deepEqual(many.results, one.results, `parallelism ${n}: results`);
            assert.deepEqual(many.late, one.late, `parallelism ${n}: late output`);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('sends one partial per key, window and subtask instead of every record', async () => {
    // 5 keys, 40 one-second windows, 4,000 records in order: 100 records per key and window.
    const events: Ev[] = Array.from({ length: 4000 }, (_, id) => ({
      id,
      key: 'abcde'[id % 5]!,
      ts: 1_000_000 + id * 10,
      value: id,
    }));
    const one = await run(events, 100, tumbling(1000), 0, 1);
    const two = await run(events, 100, tumbling(1000), 0, 2);
    assert.deepEqual(two.results, one.results);
    assert.equal(one.results.length, 200);
    assert.equal(one.windowRecordsIn, 4000);
    // Every record enters subtask 0 (the test driver's source), so one partial per key and window.
    assert.equal(two.windowRecordsIn, 200);
  });
});

/** A context and an output that record what the combiner does, for its own logic. */
function harness(batchSize = 1024) {
  const sent: { tag: number; batch: Batch }[] = [];
  const deadLetters: { reason: string; step: string | undefined }[] = [];
  const out: Output = {
    emit: () => assert.fail('the combiner emits whole batches'),
    emitTo: () => assert.fail('the combiner emits whole batches'),
    emitBatch: (batch, tag = 0) => sent.push({ tag, batch }),
    flush: () => {},
    watermark: () => {},
  };
  const ctx = {
    stepId: 'agg.local',
    batchSize,
    errorPolicy: 'dead-letter',
    restored: undefined,
    deadLetter: (_code: string, reason: string, _payload: unknown, _time: number, step?: string) =>
      deadLetters.push({ reason, step }),
  } as unknown as OperatorContext;
  return { sent, deadLetters, out, ctx };
}

function keyed(records: [key: string, time: number, value: number][]): Batch {
  return {
    values: records.map((r) => r[2]),
    times: records.map((r) => r[1]),
    keys: records.map((r) => r[0]),
    groups: records.map(() => 7),
  };
}

const sum: Aggregator<number, { n: number }, number> = {
  create: () => ({ n: 0 }),
  add: (acc, v) => {
    if (v < 0) throw new Error('negative');
    acc.n += v;
    return acc;
  },
  merge: (a, b) => ({ n: a.n + b.n }),
  result: (a) => a.n,
};

describe('WindowOperator, partials input', () => {
  it('merges partials into the window and fires once; a partial past the window’s lateness is dead-lettered, not dropped', () => {
    const h = harness();
    const emitted: unknown[] = [];
    const out: Output = { ...h.out, emit: (v) => emitted.push(v) };
    const ctx = {
      ...h.ctx,
      stepId: 'agg',
      state: new HeapStateBackend(128),
      metrics: { lateRecords: 0 },
      clock: { now: () => 0 },
    } as unknown as OperatorContext;
    const w = new WindowOperator(tumbling(1000), sum as never, { allowedLateness: 0, earlyEvery: 0 });
    w.onStart(ctx);
    // Partials of window [0, 1000) for key a: time = the window's start.
    const partial = (n: number) => ({ ...keyed([['a', 0, 0]]), values: [{ n }] });
    w.processBatch(partial(2), 1, out);
    w.processBatch(partial(5), 1, out);
    w.onWatermark(999, out);
    assert.deepEqual(emitted, [{ key: 'a', window: { start: 0, end: 1000 }, value: 7, timing: 'on-time' }]);
    w.processBatch(partial(1), 1, out);
    assert.equal(emitted.length, 1);
    assert.deepEqual(h.deadLetters, [
      {
        reason:
          "a pre-aggregated partial of window [0, 1000) arrived after the window's state was dropped (watermark 999); please report this",
        step: undefined,
      },
    ]);
    assert.equal((ctx.metrics as { lateRecords: number }).lateRecords, 1);
  });
});

describe('WindowCombiner', () => {
  it('sends a window’s partials when the watermark reaches its end, and records of reached windows as they are', () => {
    const h = harness();
    const c = new WindowCombiner(tumbling(1000), sum as never, 'agg');
    c.onStart(h.ctx);
    c.processBatch(
      keyed([
        ['a', 100, 1],
        ['a', 900, 2],
        ['b', 1500, 5],
      ]),
      0,
      h.out,
    );
    assert.equal(h.sent.length, 0);
    assert.equal(c.onWatermark(998, h.out), 998);
    assert.equal(h.sent.length, 0, 'window [0, 1000) is not complete before watermark 999');
    c.onWatermark(999, h.out);
    assert.deepEqual(h.sent, [
      { tag: 1, batch: { values: [{ n: 3 }], times: [0], keys: ['a'], groups: [7] } },
    ]);
    // Window [0, 1000) is reached: its records go on unchanged; [1000, 2000) still combines.
    c.processBatch(
      keyed([
        ['a', 500, 4],
        ['b', 1200, 6],
      ]),
      0,
      h.out,
    );
    assert.deepEqual(h.sent[1], { tag: 0, batch: { values: [4], times: [500], keys: ['a'], groups: [7] } });
    c.onBarrier(h.out);
    assert.deepEqual(h.sent[2], {
      tag: 1,
      batch: { values: [{ n: 11 }], times: [1000], keys: ['b'], groups: [7] },
    });
    assert.equal(h.sent.length, 3);
  });

  it('sends everything when its input goes idle and passes every later record on unchanged', () => {
    const h = harness();
    const c = new WindowCombiner(sliding(2000, 1000), sum as never, 'agg');
    c.onStart(h.ctx);
    c.processBatch(keyed([['a', 1500, 1]]), 0, h.out);
    c.onIdle(true, h.out);
    // The record is in windows [0, 2000) and [1000, 3000): one partial each.
    assert.deepEqual(
      h.sent.map((s) => [s.tag, s.batch.times[0], s.batch.values[0]]),
      [
        [1, 1000, { n: 1 }],
        [1, 0, { n: 1 }],
      ],
    );
    c.onIdle(false, h.out);
    const later = keyed([['a', 1600, 2]]);
    c.processBatch(later, 0, h.out);
    assert.equal(h.sent.length, 3);
    assert.deepEqual(h.sent[2], { tag: 0, batch: later });
  });

  it('a throwing add goes to the dead letters under the window step, and leaves no empty partial', () => {
    const h = harness();
    const c = new WindowCombiner(tumbling(1000), sum as never, 'agg');
    c.onStart(h.ctx);
    c.processBatch(
      keyed([
        ['a', 100, -1],
        ['b', 100, 3],
      ]),
      0,
      h.out,
    );
    assert.deepEqual(h.deadLetters, [{ reason: 'user function threw: negative', step: 'agg' }]);
    c.onWatermark(Number.POSITIVE_INFINITY, h.out);
    assert.deepEqual(h.sent, [
      { tag: 1, batch: { values: [{ n: 3 }], times: [0], keys: ['b'], groups: [7] } },
    ]);
  });

  it('holds at most 100,000 partials: past that it sends them all', () => {
    const h = harness();
    const c = new WindowCombiner(tumbling(1000), sum as never, 'agg');
    c.onStart(h.ctx);
    const n = 100_001;
    c.processBatch(
      keyed(Array.from({ length: n }, (_, i) => [`k${i}`, 10, 1] as [string, number, number])),
      0,
      h.out,
    );
    assert.equal(
      h.sent.reduce((a, s) => a + s.batch.values.length, 0),
      n,
    );
    const before = h.sent.length;
    c.onWatermark(999, h.out);
    assert.equal(h.sent.length, before, 'nothing was left to send');
  });

  it('sends partials in batches of the configured size', () => {
    const h = harness(4);
    const c = new WindowCombiner(tumbling(1000), sum as never, 'agg');
    c.onStart(h.ctx);
    c.processBatch(
      keyed(Array.from({ length: 10 }, (_, i) => [`k${i}`, 10, i] as [string, number, number])),
      0,
      h.out,
    );
    c.onWatermark(999, h.out);
    assert.deepEqual(
      h.sent.map((s) => s.batch.values.length),
      [4, 4, 2],
    );
  });
});
