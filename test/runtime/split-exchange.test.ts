/**
 * Partial key grouping (`preAggregate: 'split'`, issue 18): a window
 * aggregation's records cross to the less loaded of two subtasks their key
 * group names, are combined there, and only partials reach the key's
 * subtask. The choice spreads a hot key over exactly two subtasks; results
 * equal parallelism 1 and an oracle computed here, with late records, in
 * this thread and in worker threads (the differential suite adds random
 * pipelines, kills and restores with hot keys: test/differential).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import { DEFAULT_MAX_PARALLELISM } from '../../src/core/key-groups.ts';
import { type Aggregator, arraySource, collectSink, Pipeline, tumbling } from '../../src/index.ts';
import { Executor } from '../../src/runtime/executor.ts';
import { lessLoaded } from '../../src/runtime/task.ts';

describe('the split exchange chooses (partial key grouping)', () => {
  for (const n of [2, 3, 4, 8])
    it(`${n} subtasks: a key group uses at most two, and a hot one is spread evenly over its two`, () => {
      for (let g = 0; g < 128; g++) {
        const sent = new Float64Array(n);
        const used = new Set<number>();
        for (let i = 0; i < 1000; i++) used.add(lessLoaded(sent, g, n));
        assert.equal(used.size, 2, `group ${g}: ${[...used]}`);
        const [a, b] = [...used];
        assert.equal(sent[a!], 500);
        assert.equal(sent[b!], 500);
      }
    });

  it('a cold group beside a hot one goes where this sender sent less', () => {
    const n = 3;
    const sent = new Float64Array(n);
    for (let i = 0; i < 900; i++) lessLoaded(sent, 0, n);
    // Group 0 took two subtasks; a group with the third as a candidate goes there.
    const third = [0, 1, 2].find((k) => sent[k] === 0)!;
    const cold = Array.from({ length: 128 }, (_, g) => g).find((g) => g % n === third)!;
    assert.equal(lessLoaded(sent, cold, n), third);
  });
});

interface Reading {
  readonly sensor: string;
  readonly t: number;
  readonly v: number;
}

/** 20,000 readings, 85 % from one sensor, some out of order and some beyond the bound (late). */
function readings(): Reading[] {
  const out: Reading[] = [];
  let s = 12345;
  const next = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  for (let i = 0; i < 20_000; i++) {
    const sensor = next() < 0.85 ? 'hot' : `s${Math.floor(next() * 50)}`;
    let t = i * 2;
    if (next() < 0.3) t -= Math.floor(next() * 50);
    if (next() < 0.02) t -= 500 + Math.floor(next() * 1000); // beyond the bound and the lateness
    out.push({ sensor, t, v: 1 + Math.floor(next() * 9) });
  }
  return out;
}

/** What a 100 ms tumbling sum per sensor must give, from the watermark rules alone (bound 100, lateness 0). */
function oracle(input: readonly Reading[]): { on: string[]; late: number } {
  const sums = new Map<string, number>();
  let maxT = Number.NEGATIVE_INFINITY;
  let late = 0;
  for (const r of input) {
    // The watermark after a record: the highest time so far minus the bound, minus 1.
    const watermark = maxT - 100 - 1;
    const start = Math.floor(r.t / 100) * 100;
    if (start + 99 <= watermark) late++;
    else {
      const k = `${r.sensor}@${start}`;
      sums.set(k, (sums.get(k) ?? 0) + r.v);
    }
    maxT = Math.max(maxT, r.t);
  }
  return { on: [...sums].map(([k, v]) => `${k}=${v}`).sort(), late };
}

const sum: Aggregator<Reading, number, number> = {
  create: () => 0,
  add: (a, r) => a + r.v,
  merge: (a, b) => a + b,
  result: (a) => a,
};

function sumsPipeline(preAggregate: boolean | 'split' | 'auto', input: readonly Reading[]) {
  const late: unknown[] = [];
  const out: string[] = [];
  const p = new Pipeline({ name: 'split', batchSize: 64, preAggregate });
  const windows = p
    .source('in', arraySource(input), { timestamp: (r) => r.t, maxOutOfOrderness: 100 })
    .keyBy((r) => r.sensor, 'by-sensor')
    .window(tumbling(100))
    .aggregate(sum, 'sums');
  windows.sink(
    {
      ...collectSink(),
      open: () => ({
        write: (vs) => void out.push(...vs.map((w) => `${w.key}@${w.window.start}=${w.value}`)),
      }),
    },
    'out',
  );
  windows.late().sink({ ...collectSink(), open: () => ({ write: (vs) => void late.push(...vs) }) }, 'late');
  return { p, out, late };
}

async function run(parallelism: number, preAggregate: boolean | 'split' | 'auto') {
  const { p, out, late } = sumsPipeline(preAggregate, readings());
  const m = await p.run({ parallelism });
  return { on: out.sort(), late: late.length, metrics: m };
}

describe("preAggregate: 'split' gives the results of parallelism 1", () => {
  const want = oracle(readings());

  it('the oracle sees late records and a hot key', () => {
    assert.ok(want.late > 100, `late: ${want.late}`);
    assert.ok(want.on.length > 1000);
  });

  for (const parallelism of [1, 2, 3])
    it(`parallelism ${parallelism}`, async () => {
      const got = await run(parallelism, 'split');
      assert.equal(got.late, want.late);
      assert.deepEqual(got.on, want.on);
      if (parallelism > 1) {
        // The source is read by subtask 0 only; split, every subtask combines some of its records.
        const local = got.metrics.steps['sums.local']!;
        assert.equal(local.recordsIn, 20_000);
        assert.equal(local.subtaskBusyMicros.length, parallelism);
        for (const busy of local.subtaskBusyMicros) assert.ok(busy > 0, `${local.subtaskBusyMicros}`);
      }
    });
});

describe("preAggregate: 'auto' gives the results of parallelism 1 whenever its spreading changes", () => {
  const want = oracle(readings());

  for (const parallelism of [2, 3])
    it(`in this thread, parallelism ${parallelism}, never spreading (it only spreads on worker threads)`, async () => {
      const got = await run(parallelism, 'auto');
      assert.equal(got.late, want.late);
      assert.deepEqual(got.on, want.on);
      assert.equal(got.metrics.steps['sums.local']!.subtaskBusyMicros.filter((b) => b > 0).length, 1);
    });

  for (const [parallelism, every] of [
    [2, 3],
    [2, 7],
    [3, 1],
    [3, 5],
  ] as const)
    it(`parallelism ${parallelism}, the spreading turned over every ${every} feeds of 100 records`, async () => {
      const { p, out, late } = sumsPipeline('auto', []);
      const plan = p.physicalPlan(parallelism);
      assert.ok(plan.vertices.some((v) => v.adaptive === true && v.arrival === 'split'));
      const pressure: Promise<void>[] = [];
      const clock = new ManualClock(1_000);
      const exs = Array.from(
        { length: parallelism },
        (_, k) =>
          new Executor(plan, {
            maxParallelism: DEFAULT_MAX_PARALLELISM,
            manualSources: true,
            clock,
            subtask: k,
            parallelism,
            pressure,
          }),
      );
      for (const ex of exs) ex.build();
      for (const ex of exs) ex.wire(exs);
      for (const ex of exs) await ex.startOperators();
      for (const ex of exs) ex.startSources();
      const input = readings();
      let on = false;
      let turns = 0;
      for (let i = 0, feed = 0; i < input.length; i += 100, feed++) {
        if (feed % every === every - 1) {
          on = !on;
          turns++;
          for (const ex of exs) assert.equal(ex.setSpread(on), 1, 'one adaptive edge');
        }
        const part = input.slice(i, i + 100);
        exs[0]!.input('in').feed(
          part,
          part.map((r) => r.t),
        );
      }
      for (const ex of exs) ex.input('in').end();
      await Promise.all(exs.map((ex) => ex.drained));
      for (const ex of exs) await ex.close();
      assert.ok(turns >= 28, `turned ${turns} times`);
      assert.equal(late.length, want.late);
      assert.deepEqual(out.sort(), want.on);
      // Spread, the other subtasks combined some of the records subtask 0 read.
      const busy = exs.map((ex) => ex.metrics().steps['sums.local']!.recordsIn);
      assert.equal(
        busy.reduce((a, b) => a + b, 0),
        20_000,
      );
      assert.ok(
        busy.slice(1).every((r) => r > 0),
        `records combined per subtask: ${busy}`,
      );
    });
});

describe('preAggregate is checked', () => {
  it('a value other than true, false, "split" or "auto" fails fast, naming it', () => {
    assert.throws(
      () => new Pipeline({ preAggregate: 'local' as unknown as boolean }),
      (e: Error) =>
        e.message.includes("preAggregate must be true, false, 'split' or 'auto'") &&
        e.message.includes('local'),
    );
  });
});
