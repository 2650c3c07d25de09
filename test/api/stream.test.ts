import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arraySource,
  collectSink,
  type DeadLetter,
  EddyError,
  generatorSource,
  Pipeline,
} from '../../src/index.ts';
import { TestDriver } from '../../src/testing/index.ts';

describe('step ids', () => {
  it('are generated as kind-N unless named', () => {
    const p = new Pipeline();
    const s = p.source('in', arraySource([1]));
    assert.equal(s.map((x) => x).id, 'map-1');
    assert.equal(s.filter(() => true).id, 'filter-2');
    assert.equal(s.map((x) => x, 'double').id, 'double');
  });

  it('reject duplicates with a message naming the id', () => {
    const p = new Pipeline();
    const s = p.source('in', arraySource([1]));
    s.map((x) => x, 'enrich');
    assert.throws(
      () => s.map((x) => x, 'enrich'),
      (e: unknown) =>
        e instanceof EddyError &&
        e.code === 'EDDY_STEP_ID_INVALID' &&
        /step "enrich" already exists; give each step a unique name/.test(e.message),
    );
    assert.throws(() => p.source('in', arraySource([2])), /step "in" already exists/);
  });

  it('reject malformed names', () => {
    const p = new Pipeline();
    const s = p.source('in', arraySource([1]));
    for (const bad of ['', '1abc', 'has space', 'x'.repeat(65), '__proto__']) {
      assert.throws(() => s.map((x) => x, bad), /is not valid; use 1-64 letters/);
    }
  });
});

describe('configuration fails fast, naming the value and the fix', () => {
  it('options', () => {
    assert.throws(
      () => new Pipeline({ maxParallelism: 0 }),
      /maxParallelism must be an integer >= 1; received 0/,
    );
    assert.throws(
      () => new Pipeline({ errorPolicy: 'ignore' as never }),
      /errorPolicy must be "dead-letter" or "fail"; received "ignore"/,
    );
    const p = new Pipeline();
    assert.throws(
      () => p.source('x', arraySource([1]), { maxOutOfOrderness: -1 }),
      /maxOutOfOrderness must be an integer >= 0; received -1/,
    );
    assert.throws(() => p.source('y', {} as never), /source must be a Source/);
    assert.throws(
      () => generatorSource({ make: () => 1, rate: -5 }),
      /rate must be a finite number >= 0; received -5/,
    );
    const s = p.source('z', arraySource([1]));
    assert.throws(() => s.map(42 as never), /map function must be a function; received 42/);
    assert.throws(
      () => s.keyBy((x) => x).mapAsync(async (x) => x, { concurrency: 0 }),
      /concurrency must be an integer >= 1; received 0/,
    );
  });

  it('a pipeline without a sink', async () => {
    const p = new Pipeline({ name: 'lonely' });
    p.source('in', arraySource([1]));
    await assert.rejects(p.run(), /pipeline "lonely" has no sink/);
  });
});

describe('stream operators', () => {
  it('map, filter, flatMap, union and branch compose and keep event times', async () => {
    const p = new Pipeline();
    const a = p.source('a', arraySource([1, 2, 3, 4], [10, 20, 30, 40]));
    const b = p.source('b', arraySource([100], [5]));
    const { small, big, rest } = a
      .flatMap((x) => [x, -x])
      .filter((x) => x > 0)
      .union(b.map((x) => x + 1))
      .branch({ small: (x) => x < 3, big: (x) => x > 50 });
    const outs = [collectSink<number>(), collectSink<number>(), collectSink<number>()] as const;
    small.sink(outs[0]);
    big.sink(outs[1]);
    rest.sink(outs[2]);
    await p.run();
    assert.deepEqual([...outs[0].values].sort(), [1, 2]);
    assert.deepEqual(outs[0].times, [10, 20]);
    assert.deepEqual(outs[1].values, [101]);
    assert.deepEqual(outs[1].times, [5]);
    assert.deepEqual(outs[2].values, [3, 4]);
  });

  it('a throwing user function dead-letters just that record; the rest flows and metrics count per step', async () => {
    const p = new Pipeline();
    const out = collectSink<number>();
    const dead = collectSink<DeadLetter>();
    p.source('in', arraySource([1, 2, 3, 4, 5]))
      .map((x) => {
        if (x === 2) throw new Error('two is bad');
        return x * 10;
      }, 'times-ten')
      .filter((x) => {
        if (x === 40) throw new Error('forty is bad');
        return x !== 30;
      }, 'not-thirty')
      .sink(out);
    p.deadLetters().sink(dead);
    const m = await p.run();
    assert.deepEqual(out.values, [10, 50]);
    assert.deepEqual(
      dead.values.map((d) => [d.step, d.payload, d.reason]),
      [
        ['times-ten', '2', 'user function threw: two is bad'],
        ['not-thirty', '40', 'user function threw: forty is bad'],
      ],
    );
    assert.equal(m.steps['times-ten']!.recordsIn, 5);
    assert.equal(m.steps['times-ten']!.recordsOut, 4);
    assert.equal(m.steps['not-thirty']!.recordsIn, 4);
    assert.equal(m.steps['not-thirty']!.recordsOut, 2);
    assert.equal(m.steps['times-ten']!.deadLetters, 1);
    assert.equal(m.steps['not-thirty']!.deadLetters, 1);
  });

  it('a keyBy alone: a throwing key function or a key that is not a string or number dead-letters that record only', async () => {
    const p = new Pipeline({ batchSize: 4 });
    const counts = collectSink<{ key: string; value: number }>();
    const dead = collectSink<DeadLetter>();
    p.source('in', arraySource([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
      .keyBy((x) => {
        if (x === 3) throw new Error('three is bad');
        return (x === 8 ? { not: 'a key' } : x % 2 === 0 ? 'even' : 'odd') as string;
      }, 'by-parity')
      .aggregate({ create: () => 0, add: (n) => n + 1, result: (n) => n })
      .sink(counts);
    p.deadLetters().sink(dead);
    const m = await p.run();
    assert.deepEqual(dead.values.map((d) => [d.step, d.payload, d.reason]).sort(), [
      ['by-parity', '3', 'user function threw: three is bad'],
      ['by-parity', '8', 'user function threw: key must be a string or number, got object'],
    ]);
    // The last running count per key: odd 1, 5, 7, 9 and even 2, 4, 6, 10.
    const last = new Map<string, number>();
    for (const c of counts.values) last.set(c.key, c.value);
    assert.deepEqual(Object.fromEntries(last), { odd: 4, even: 4 });
    assert.equal(m.steps['by-parity']!.recordsIn, 10);
    assert.equal(m.steps['by-parity']!.recordsOut, 8);
    assert.equal(m.steps['by-parity']!.deadLetters, 2);
  });

  it("with errorPolicy 'fail' the run rejects with the step id", async () => {
    const p = new Pipeline({ errorPolicy: 'fail' });
    p.source('in', arraySource([1]))
      .map(() => {
        throw new Error('boom');
      }, 'explode')
      .sink(collectSink());
    await assert.rejects(
      p.run(),
      (e: unknown) =>
        e instanceof EddyError && e.code === 'EDDY_USER_FUNCTION_FAILED' && e.stepId === 'explode',
    );
  });

  it('rolling reduce and aggregate emit the running value per key', async () => {
    const p = new Pipeline();
    const keyed = p
      .source('in', arraySource([1, 2, 3, 4, 5, 6]))
      .keyBy((x) => (x % 2 === 0 ? 'even' : 'odd'));
    keyed.reduce((a, b) => a + b).sink(collectSink(), 'sums');
    keyed.aggregate({ create: () => 0, add: (n) => n + 1, result: (n) => n }).sink(collectSink(), 'counts');
    const d = await TestDriver.create(p);
    d.input('in').send([1, 2, 3, 4, 5, 6]);
    await d.end();
    // Order holds per key; across keys it depends on which subtask owns each key.
    const sums = d.output<number>('sums');
    assert.deepEqual(
      sums.filter((x) => [1, 4, 9].includes(x)),
      [1, 4, 9],
    );
    assert.deepEqual(
      sums.filter((x) => [2, 6, 12].includes(x)),
      [2, 6, 12],
    );
    assert.equal(sums.length, 6);
    const counts = d.output<{ key: string; value: number }>('counts');
    assert.deepEqual(
      counts.filter((c) => c.key === 'odd').map((c) => c.value),
      [1, 2, 3],
    );
    assert.deepEqual(
      counts.filter((c) => c.key === 'even').map((c) => c.value),
      [1, 2, 3],
    );
    assert.equal(d.state('reduce-2').get('acc', 'even'), 12);
  });

  it('idle inputs stop holding back the watermark of a union', async () => {
    const p = new Pipeline();
    const a = p.source<number>('a', arraySource([]), { timestamp: (x) => x, idleTimeout: 1000 });
    const b = p.source<number>('b', arraySource([]), { timestamp: (x) => x });
    a.union(b)
      .keyBy(() => 'k')
      .window({ kind: 'tumbling', size: 100, offset: 0 })
      .count()
      .sink(collectSink(), 'out');
    const d = await TestDriver.create(p);
    d.input<number>('a').send([5]);
    d.input<number>('b').send([5, 500]);
    assert.equal(d.output('out').length, 0, 'a holds the watermark at 4');
    d.advanceProcessingTime(1000);
    d.input('a').noData();
    assert.equal(d.output('out').length, 1, 'a is idle: the window [0, 100) closes');
    await d.end();
  });
});
