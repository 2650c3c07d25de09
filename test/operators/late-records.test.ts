/**
 * Regressions of issue 19 (found by an independent tester): a record that
 * opens or grows a window the watermark already passed is emitted once, as
 * late, and never again as on-time by a timer in the past; a throwing
 * `result()` is dead-lettered like every other user function.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arraySource, collectSink } from '../../src/connectors/memory/index.ts';
import { type DeadLetter, Pipeline, session, tumbling, type Windowed } from '../../src/index.ts';

interface R {
  readonly k: string;
  readonly t: number;
}

const recs = (spec: string): R[] =>
  spec.split(' ').map((s) => {
    const [k, t] = s.split('@');
    return { k: k!, t: Number(t) };
  });

function source(p: Pipeline, id: string, records: readonly R[]) {
  return p.source(id, arraySource(records), { timestamp: (r) => r.t, maxOutOfOrderness: 0, batchSize: 1 });
}

const show = (w: Windowed<string, unknown>) =>
  `${w.key} [${w.window.start},${w.window.end}) ${w.timing} ${JSON.stringify(w.value)}`;

describe('late records (issue 19)', () => {
  it('tumbling: a late record within lateness opens its window once, as late, never again on time', async () => {
    const p = new Pipeline({ name: 'late-tumbling' });
    const out = collectSink<Windowed<string, number>>();
    source(p, 'in', recs('a@15 b@5 a@16'))
      .keyBy((r) => r.k)
      .window(tumbling(10), { allowedLateness: 10 })
      .count()
      .sink(out);
    await p.run();
    assert.deepEqual(out.values.map(show).sort(), ['a [10,20) on-time 2', 'b [0,10) late 1']);
  });

  it('sessions: a record that grows a session the watermark passed emits it once, as late', async () => {
    const p = new Pipeline({ name: 'late-session' });
    const out = collectSink<Windowed<string, number>>();
    source(p, 'in', recs('b@0 a@15 b@3'))
      .keyBy((r) => r.k)
      .window(session(10), { allowedLateness: 10 })
      .count()
      .sink(out);
    await p.run();
    const b = out.values.filter((w) => w.key === 'b').map(show);
    // [0,10) fires on time at watermark 14; b@3 grows it to [0,13), already passed: one late result.
    assert.deepEqual(b, ['b [0,10) on-time 1', 'b [0,13) late 2']);
  });

  it('window join: a pair completed after the window fired is emitted once', async () => {
    const p = new Pipeline({ name: 'late-join' });
    const out = collectSink<string>();
    // One source, so both sides share its watermark: L a@15, R b@5, L b@6, L a@16.
    const all = source(p, 'in', recs('La@15 Rb@5 Lb@6 La@16'));
    const side = (s: string) => all.filter((r) => r.k[0] === s).keyBy((r) => r.k.slice(1));
    side('L')
      .join(side('R'))
      .window(tumbling(10), { allowedLateness: 10 })
      .apply((l, r) => `${l.k}@${l.t}-${r.k}@${r.t}`)
      .sink(out);
    await p.run();
    assert.deepEqual(out.values, ['Lb@6-Rb@5']);
  });

  it('a throwing result() dead-letters the window and the run goes on', async () => {
    const p = new Pipeline({ name: 'result-throws' });
    const out = collectSink<Windowed<string, number>>();
    const letters = collectSink<DeadLetter>();
    source(p, 'in', recs('a@1 b@2 a@3 b@25'))
      .keyBy((r) => r.k)
      .window(tumbling(10))
      .aggregate({
        create: () => 0,
        add: (n: number) => n + 1,
        result: (n: number) => {
          if (n === 2) throw new Error('two is too many');
          return n;
        },
      })
      .sink(out);
    p.deadLetters().sink(letters);
    await p.run();
    assert.deepEqual(out.values.map(show).sort(), ['b [0,10) on-time 1', 'b [20,30) on-time 1']);
    assert.equal(letters.values.length, 1);
    assert.equal(letters.values[0]!.code, 'EDDY_USER_FUNCTION_FAILED');
    assert.match(letters.values[0]!.reason, /two is too many/);
    assert.match(letters.values[0]!.payload, /"key":"a".*"start":0/);
  });
});
