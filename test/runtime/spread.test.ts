/**
 * `preAggregate: 'auto'` (issue 18): the judge that turns the combiners'
 * spreading on and off from what each interval measured, over synthetic
 * figures whose right answer is known; and a threaded run that keeps the
 * results of parallelism 1 while it judges.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type IntervalFigures,
  intervalFigures,
  SpreadJudge,
  type ThreadSample,
} from '../../src/runtime/threads/spread.ts';

/** An interval's figures: the busiest thread's share, the mean share, and µs per record. */
function figures(busiest: number, mean: number, microsPerRecord: number, records = 100_000): IntervalFigures {
  return { busiest, unevenness: busiest / mean, microsPerRecord, records };
}

/**
 * Drives a judge over `intervals` with a world where local costs `local` µs
 * per record on a busy, uneven pair of threads and spreading `spread` on an
 * even one; returns the choice after each interval.
 */
function drive(judge: SpreadJudge, intervals: number, local: number, spread: number, busy = 1): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < intervals; i++) {
    const f = judge.on ? figures(busy, busy * 0.9, spread) : figures(busy, busy * 0.55, local);
    const change = judge.judge(f);
    if (change !== undefined) assert.equal(change, judge.on);
    out.push(judge.on);
  }
  return out;
}

describe('the spread judge', () => {
  it('keeps spreading when it is clearly cheaper (a costly aggregator, one busy thread)', () => {
    const judge = new SpreadJudge();
    const on = drive(judge, 200, 4, 2.5);
    assert.equal(on.at(-1), true);
    assert.equal(on.filter((x) => x).length > 180, true, 'spread almost all of the time');
    // It tries local again now and then (the load may change), backing off each time it loses.
    assert.ok(judge.probes >= 3 && judge.probes <= 12, `probes ${judge.probes}`);
    assert.equal(judge.cost.spread, 2.5);
    assert.equal(judge.cost.local, 4);
  });

  it('goes back to local when spreading is dearer (a cheap aggregator), and tries again ever more rarely', () => {
    const judge = new SpreadJudge();
    const on = drive(judge, 400, 1, 1.6);
    assert.equal(on.at(-1), false);
    assert.ok(on.filter((x) => x).length < 30, `spread for ${on.filter((x) => x).length} of 400 intervals`);
    // Trials back off: 2, 4, 8, 16, 32, 64, 64, … intervals apart.
    assert.ok(judge.probes >= 5 && judge.probes <= 12, `probes ${judge.probes}`);
  });

  it('needs a gain of at least 10 %: 5 % cheaper is not worth a change', () => {
    const judge = new SpreadJudge();
    const on = drive(judge, 100, 1, 0.95);
    assert.equal(on.at(-1), false);
  });

  it('does not try spreading when no thread is busy, or the threads are even', () => {
    const idle = new SpreadJudge();
    for (let i = 0; i < 100; i++) assert.equal(idle.judge(figures(0.4, 0.22, 3)), undefined);
    const even = new SpreadJudge();
    for (let i = 0; i < 100; i++) assert.equal(even.judge(figures(1, 0.95, 3)), undefined);
    assert.equal(idle.probes + even.probes, 0);
  });

  it('judges nothing on intervals with too few records (an idle or ending input)', () => {
    const judge = new SpreadJudge();
    for (let i = 0; i < 50; i++) assert.equal(judge.judge(figures(1, 0.5, 3, 100)), undefined);
    assert.equal(judge.judge(undefined), undefined);
    assert.equal(judge.probes, 0);
  });

  it('leaves spreading at once when the busiest thread is no longer busy', () => {
    const judge = new SpreadJudge();
    drive(judge, 20, 4, 2);
    assert.equal(judge.on, true);
    assert.equal(judge.judge(figures(0.2, 0.18, 2)), false);
    assert.equal(judge.on, false);
  });

  it('follows a change of load: spreads while combining is dear, stops when it turns cheap', () => {
    const judge = new SpreadJudge();
    const before = drive(judge, 60, 4, 2);
    assert.ok(before.slice(-20).filter((x) => x).length >= 17, 'spreading, but for its trials of local');
    // Now spreading costs more than local did: the next trial of local is kept.
    const after = drive(judge, 200, 1, 1.8);
    assert.equal(after.at(-1), false);
  });
});

describe('interval figures from the threads’ readings', () => {
  const at = (ms: number, activeMs: number, sourceRecords: number): ThreadSample => ({
    at: ms,
    activeMs,
    sourceRecords,
  });

  it('the busiest thread’s share, over the mean, and its active µs per source record', () => {
    const f = intervalFigures(
      [at(0, 0, 0), at(100, 0, 0)],
      // Thread 0: 1,000 ms active of 1,000, read 500,000 records; thread 1: 250 ms of 1,000 (read 1,100 ms later).
      [at(1000, 1000, 500_000), at(1100, 250, 0)],
    );
    assert.ok(f !== undefined);
    assert.equal(f.busiest, 1);
    assert.equal(f.unevenness, 1 / 0.625);
    assert.equal(f.records, 500_000);
    assert.equal(f.microsPerRecord, 2); // 1 ms of the busiest thread per 500 records
  });

  it('undefined when a thread has not reported since, or thread counts differ', () => {
    assert.equal(intervalFigures([at(0, 0, 0), at(5, 0, 0)], [at(10, 5, 10), at(5, 0, 0)]), undefined);
    assert.equal(intervalFigures([at(0, 0, 0)], [at(10, 5, 10), at(10, 5, 10)]), undefined);
  });
});

describe("preAggregate: 'auto' on worker threads", () => {
  it('tries spreading while the run runs (the other thread then combines), and keeps the results of the oracle', async () => {
    const url = new URL('./fixtures/spread-module.ts', import.meta.url).href;
    const mod = (await import(url)) as typeof import('./fixtures/spread-module.ts');
    const p = await mod.default.build({});
    // Judged every 100 ms (each worker reports every 500), and tried at any load: the first judged interval tries.
    const running = await p.startInThreads(
      url,
      {},
      { parallelism: 2, spread: { intervalMs: 100, minRecords: 1, busy: 0.05, uneven: 1, gain: 0 } },
    );
    // No clock: the source reads on until the other thread has combined some of its records.
    for (;;) {
      const m = running.metrics();
      const local = m.steps['sums.local'];
      if ((m.spread?.probes ?? 0) >= 1 && (local?.subtaskBusyMicros[1] ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    mod.release();
    await running.done;
    const m = running.metrics();
    assert.ok(m.spread !== undefined && m.spread.switches >= 1, JSON.stringify(m.spread));
    // The oracle: a 100 ms tumbling sum per sensor under the watermark rules (bound 100, lateness 0).
    const sums = new Map<string, number>();
    let maxT = Number.NEGATIVE_INFINITY;
    for (const r of mod.emitted) {
      const start = Math.floor(r.t / 100) * 100;
      if (start + 99 > maxT - 100 - 1) {
        const k = `${r.sensor}@${start}`;
        sums.set(k, (sums.get(k) ?? 0) + r.v);
      }
      maxT = Math.max(maxT, r.t);
    }
    const want = [...sums].map(([k, v]) => `${k}=${v}`).sort();
    assert.ok(want.length > 100);
    assert.deepEqual([...mod.outputs].sort(), want);
  });

  it('a bad spread setting fails fast, naming it', async () => {
    const url = new URL('./fixtures/spread-module.ts', import.meta.url).href;
    const mod = (await import(url)) as typeof import('./fixtures/spread-module.ts');
    const p = await mod.default.build({});
    await assert.rejects(
      p.startInThreads(url, {}, { parallelism: 2, spread: { busy: 2 } }),
      (e: Error) => e.message.includes('spread option busy') && e.message.includes('2'),
    );
    await assert.rejects(
      p.startInThreads(url, {}, { parallelism: 2, spread: { every: 1 } as never }),
      (e: Error) => e.message.includes('every'),
    );
    // In-process starts check it as well (they never spread).
    await assert.rejects(
      p.start({ spread: { gain: 5 } }),
      (e: Error) => e.message.includes('spread option gain') && e.message.includes('5'),
    );
  });
});
