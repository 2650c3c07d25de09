import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  arraySource,
  collectSink,
  type DeadLetter,
  Pipeline,
  tumbling,
  type Windowed,
} from '../../src/index.ts';

interface Rec {
  readonly key: string;
  readonly seq: number;
  readonly delay: number;
  readonly ts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapAsync', () => {
  it('keeps per-key order under random completion delays (keyed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), delay: fc.integer({ min: 0, max: 4 }) }),
          { minLength: 1, maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 8 }),
        async (raw, concurrency) => {
          const counters = new Map<string, number>();
          const recs = raw.map((r, i): Rec => {
            const seq = counters.get(r.key) ?? 0;
            counters.set(r.key, seq + 1);
            return { key: r.key, seq, delay: r.delay, ts: i };
          });
          const out = collectSink<Rec>();
          let inFlight = 0;
          let maxInFlight = 0;
          const p = new Pipeline({ batchSize: 7 });
          p.source('in', arraySource(recs), { timestamp: (r) => r.ts })
            .keyBy((r) => r.key)
            .mapAsync(
              async (r) => {
                inFlight++;
                maxInFlight = Math.max(maxInFlight, inFlight);
                await sleep(r.delay);
                inFlight--;
                return r;
              },
              { concurrency },
            )
            .sink(out);
          await p.run();
          assert.equal(out.values.length, recs.length);
          assert.ok(maxInFlight <= concurrency, `at most ${concurrency} calls in flight, saw ${maxInFlight}`);
          for (const key of counters.keys()) {
            assert.deepEqual(
              out.values.filter((r) => r.key === key).map((r) => r.seq),
              recs.filter((r) => r.key === key).map((r) => r.seq),
            );
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps input order on an unkeyed stream', async () => {
    const recs = Array.from({ length: 50 }, (_, i): Rec => ({ key: 'x', seq: i, delay: (i * 7) % 5, ts: i }));
    const out = collectSink<number>();
    const p = new Pipeline({ batchSize: 8 });
    p.source('in', arraySource(recs))
      .mapAsync(
        async (r) => {
          await sleep(r.delay);
          return r.seq;
        },
        { concurrency: 6 },
      )
      .sink(out);
    await p.run();
    assert.deepEqual(
      out.values,
      recs.map((r) => r.seq),
    );
  });

  it('never lets a watermark overtake records: windows after mapAsync equal the oracle', async () => {
    const recs = Array.from(
      { length: 300 },
      (_, i): Rec => ({ key: `k${i % 3}`, seq: i, delay: i % 4, ts: i * 100 }),
    );
    const out = collectSink<Windowed<string, number>>();
    const p = new Pipeline({ batchSize: 16 });
    const w = p
      .source('in', arraySource(recs), { timestamp: (r) => r.ts })
      .keyBy((r) => r.key)
      .mapAsync(
        async (r) => {
          await sleep(r.delay);
          return r;
        },
        { concurrency: 4 },
      )
      .keyBy((r) => r.key)
      .window(tumbling(1000))
      .count();
    w.sink(out);
    const late = collectSink<Rec>();
    w.late().sink(late);
    await p.run();
    assert.equal(late.values.length, 0);
    const expected = new Map<string, number>();
    for (const r of recs) {
      const k = `${r.key}|${Math.floor(r.ts / 1000) * 1000}`;
      expected.set(k, (expected.get(k) ?? 0) + 1);
    }
    assert.deepEqual(new Map(out.values.map((r) => [`${r.key}|${r.window.start}`, r.value])), expected);
  });

  it('sends failed and timed-out calls to the dead-letter output with the reason, and goes on', async () => {
    const out = collectSink<number>();
    const dead = collectSink<DeadLetter>();
    const p = new Pipeline();
    p.source('in', arraySource([1, 2, 3, 4]))
      .mapAsync(
        async (n) => {
          if (n === 2) throw new Error('lookup failed');
          if (n === 3) await sleep(200);
          return n * 10;
        },
        { timeout: 50, name: 'enrich' },
      )
      .sink(out);
    p.deadLetters().sink(dead);
    await p.run();
    assert.deepEqual(out.values, [10, 40]);
    assert.deepEqual(
      dead.values.map((d) => [d.step, d.payload, d.reason]),
      [
        ['enrich', '2', 'async call failed: lookup failed'],
        ['enrich', '3', 'async call failed: call timed out after 50 ms'],
      ],
    );
  });
});
