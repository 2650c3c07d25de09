/**
 * Issue 19, point 12: a window or join over a source without event time used
 * the time each record was read, silently, so its results changed with the
 * speed of the run. Now the run is refused before any source opens, unless
 * the source extracts event time, gives its own, or processing time is
 * chosen on purpose (`timestamp: 'ingestion'`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arraySource,
  collectSink,
  EddyError,
  generatorSource,
  Pipeline,
  type Source,
  tumbling,
  type Windowed,
} from '../../src/index.ts';
import { TestDriver } from '../../src/testing/index.ts';
import { nullSink } from '../helpers/sinks.ts';

interface Ev {
  readonly key: string;
  readonly ts: number;
}

const events: Ev[] = [
  { key: 'a', ts: 1 },
  { key: 'a', ts: 5 },
  { key: 'a', ts: 12 },
];

/** An array source that records whether it was opened. */
function watched(values: readonly Ev[]): Source<Ev> & { opened: boolean } {
  const inner = arraySource(values);
  const s = {
    kind: 'array',
    opened: false,
    open(ctx: Parameters<Source<Ev>['open']>[0]) {
      s.opened = true;
      return inner.open(ctx);
    },
  };
  return s;
}

function refusedForEventTime(source: string, step: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof EddyError, String(e));
    assert.equal(e.code, 'EDDY_PLAN_INVALID');
    assert.match(e.stepId ?? '', step);
    assert.match(e.message, new RegExp(`source "${source}" has no timestamp and gives no time of its own`));
    assert.match(
      e.message,
      new RegExp(
        `pass \\{ timestamp: \\(r\\) => r.ts \\} to pipeline.source\\("${source}", ...\\), or \\{ timestamp: 'ingestion' \\}`,
      ),
    );
    return true;
  };
}

describe('event-time steps need event time (issue 19)', () => {
  it('a window over a source without a timestamp is refused before the source opens', async () => {
    const p = new Pipeline();
    const src = watched(events);
    p.source('in', src)
      .keyBy((e) => e.key)
      .window(tumbling(10))
      .count('counts')
      .sink(nullSink());
    assert.throws(() => p.validate(), refusedForEventTime('in', /^counts$/));
    await assert.rejects(p.run(), refusedForEventTime('in', /^counts$/));
    assert.equal(src.opened, false);
  });

  it('window joins and interval joins are refused too, and a union with one untimed input', async () => {
    const windowJoin = new Pipeline();
    const l = windowJoin.source<Ev>('l', arraySource(events), { timestamp: (e) => e.ts }).keyBy((e) => e.key);
    const r = windowJoin.source<Ev>('r', arraySource(events)).keyBy((e) => e.key);
    l.join(r)
      .window(tumbling(10))
      .apply((a) => a, 'wj')
      .sink(nullSink());
    assert.throws(() => windowJoin.validate(), refusedForEventTime('r', /^wj$/));

    const intervalJoin = new Pipeline();
    const il = intervalJoin.source<Ev>('l', arraySource(events)).keyBy((e) => e.key);
    const ir = intervalJoin
      .source<Ev>('r', arraySource(events), { timestamp: (e) => e.ts })
      .keyBy((e) => e.key);
    il.intervalJoin(ir, { lower: -5, upper: 5 }, (a) => a, 'ij').sink(nullSink());
    assert.throws(() => intervalJoin.validate(), refusedForEventTime('l', /^ij$/));

    const union = new Pipeline();
    const timed = union.source<Ev>('timed', arraySource(events), { timestamp: (e) => e.ts });
    const untimed = union.source<Ev>('untimed', arraySource(events)).map((e) => e);
    timed
      .union(untimed)
      .keyBy((e) => e.key)
      .window(tumbling(10))
      .count('u')
      .sink(nullSink());
    assert.throws(() => union.validate(), refusedForEventTime('untimed', /^u$/));
  });

  it('windowing the dead-letter stream needs its times chosen on purpose', () => {
    const p = new Pipeline();
    p.source<Ev>('in', arraySource(events), { timestamp: (e) => e.ts }).sink(nullSink());
    const dead = p.deadLetters().keyBy((d) => d.step);
    dead.window(tumbling(1000)).count('bad').sink(nullSink());
    assert.throws(
      () => p.validate(),
      (e: unknown) =>
        e instanceof EddyError &&
        e.code === 'EDDY_PLAN_INVALID' &&
        /reads the dead-letter stream.*withTimestamps\(\(d\) => d.at\)/.test(e.message),
    );
    const q = new Pipeline();
    q.source<Ev>('in', arraySource(events), { timestamp: (e) => e.ts }).sink(nullSink());
    q.deadLetters()
      .withTimestamps((d) => d.at)
      .keyBy((d) => d.step)
      .window(tumbling(1000))
      .count()
      .sink(nullSink());
    q.validate();
  });

  it('an extractor, withTimestamps, a source with its own times, or an explicit choice all run', async () => {
    const run = async (build: (p: Pipeline) => import('../../src/index.ts').Stream<Ev>) => {
      const p = new Pipeline();
      const out = collectSink<Windowed<string, number>>();
      build(p)
        .keyBy((e) => e.key)
        .window(tumbling(10))
        .count()
        .sink(out);
      await p.run();
      return out.values.map((w) => [w.window.start, w.value]);
    };
    assert.deepEqual(await run((p) => p.source('in', arraySource(events), { timestamp: (e) => e.ts })), [
      [0, 2],
      [10, 1],
    ]);
    assert.deepEqual(await run((p) => p.source('in', arraySource(events)).withTimestamps((e) => e.ts)), [
      [0, 2],
      [10, 1],
    ]);
    // 'source': the times the source gives (arraySource's second argument).
    assert.deepEqual(
      await run((p) =>
        p.source(
          'in',
          arraySource(
            events,
            events.map((e) => e.ts),
          ),
          { timestamp: 'source' },
        ),
      ),
      [
        [0, 2],
        [10, 1],
      ],
    );
    // A generator gives its own times: no option needed.
    assert.deepEqual(
      await run((p) =>
        p.source(
          'in',
          generatorSource({
            count: 3,
            startTime: 0,
            eventsPerSecond: 200,
            make: () => ({ key: 'a', ts: 0 }),
          }),
        ),
      ),
      [
        [0, 2],
        [10, 1],
      ],
    );
    // Processing time on purpose: the three records land in windows of the time they were read.
    const ingestion = await run((p) => p.source('in', arraySource(events), { timestamp: 'ingestion' }));
    assert.equal(
      ingestion.reduce((n, [, c]) => n + c!, 0),
      3,
    );
  });

  it('a bad timestamp option names the three choices', () => {
    assert.throws(
      () => new Pipeline().source('in', arraySource(events), { timestamp: 'event' as never }),
      /timestamp must be a function of the record, 'source' or 'ingestion'; received "event"/,
    );
  });

  it('the test driver, which is given each record time by hand, is not refused', async () => {
    const p = new Pipeline();
    p.source<Ev>('in', arraySource([]))
      .keyBy((e) => e.key)
      .window(tumbling(10))
      .count()
      .sink(nullSink(), 'out');
    const d = await TestDriver.create(p);
    d.input<Ev>('in').send(events, [1, 5, 12]);
    await d.end();
    assert.deepEqual(
      d.output<Windowed<string, number>>('out').map((w) => w.value),
      [2, 1],
    );
  });
});
