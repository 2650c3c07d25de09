/**
 * One subtask's executor (src/runtime/executor.ts), made over a physical
 * plan the way `Job` makes it (build, wire, start the operators, start the
 * sources) with its sources fed by hand: records run through a chain of
 * fused stages into a sink, watermarks travel from the source through every
 * task (a window fires on them before the input ends), and a record a user
 * function throws on becomes a dead letter — on the default writer when
 * nothing reads `deadLetters()`, on the pipeline's own sink when a step does,
 * or stops the run under the 'fail' policy. `drained` resolves once the input
 * has ended and every task has finished — also the sinks after the dead
 * letters, whose flush at the end of input used to be cut short (a run
 * resolved, and closed the sink, while it was still flushing).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import type { DeadLetter } from '../../src/core/dead-letter.ts';
import { DEFAULT_MAX_PARALLELISM } from '../../src/core/key-groups.ts';
import type { Windowed } from '../../src/core/windows.ts';
import { arraySource, collectSink, Pipeline, tumbling } from '../../src/index.ts';
import { Executor, type ExecutorOptions } from '../../src/runtime/executor.ts';
import { type LetterLog, letterLog, oddLetters, slowFlushSink } from './fixtures/dead-letter-flush-module.ts';

const flushModule = new URL('./fixtures/dead-letter-flush-module.ts', import.meta.url).href;

/** An executor of `p` at parallelism 1, started as `Job.start` starts one, its sources fed by the test. */
async function started(p: Pipeline, o: Partial<ExecutorOptions> = {}): Promise<Executor> {
  const ex = new Executor(p.physicalPlan(1), {
    maxParallelism: DEFAULT_MAX_PARALLELISM,
    manualSources: true,
    clock: new ManualClock(1_000),
    ...o,
  });
  ex.build();
  ex.wire([ex]);
  await ex.startOperators();
  ex.startSources();
  return ex;
}

/** Ends the input and waits until every task has finished; then closes. */
async function finish(ex: Executor, source = 'in'): Promise<void> {
  ex.input(source).end();
  await ex.drained;
  await ex.close();
}

describe('Executor', () => {
  it('runs records through fused stages into the sink, one task for the chain, counters per step', async () => {
    const p = new Pipeline({ name: 'chain' });
    const out = collectSink<number>();
    p.source('in', arraySource<number>([]))
      .map((x) => x * 10)
      .filter((x) => x !== 20)
      .flatMap((x) => [x, x + 1])
      .sink(out, 'out');
    const ex = await started(p);
    assert.ok(ex.task('map-1') !== undefined, 'the chain runs in the task of its first step');
    assert.equal(ex.task('filter-2'), undefined);
    assert.equal(ex.task('flatMap-3'), undefined);
    assert.deepEqual(ex.sourceIds(), ['in']);

    ex.input('in').feed([1, 2, 3], [100, 101, 102]);
    assert.deepEqual(out.values, [10, 11, 30, 31], 'handed on synchronously, in order');
    assert.deepEqual(out.times, [100, 100, 102, 102]);
    const m = ex.metrics();
    assert.equal(m.steps['in']!.recordsOut, 3);
    assert.equal(m.steps['map-1']!.recordsIn, 3);
    assert.equal(m.steps['flatMap-3']!.recordsOut, 4);
    assert.equal(m.steps['out']!.recordsIn, 4);
    assert.equal(m.sourceRecords, 3);
    await finish(ex);
    assert.deepEqual(out.values, [10, 11, 30, 31]);
  });

  it('forwards watermarks through every task: a window fires on them before the input ends', async () => {
    const p = new Pipeline({ name: 'watermarks' });
    const out = collectSink<Windowed<string, number>>();
    p.source('in', arraySource<{ k: string }>([], []))
      .keyBy((r) => r.k)
      .window(tumbling(10))
      .count('counts')
      .sink(out, 'out');
    const ex = await started(p);
    const feeder = ex.input('in');
    feeder.feed([{ k: 'a' }, { k: 'b' }, { k: 'a' }], [0, 4, 9]);
    // max 9, no out-of-orderness: watermark 8; the window [0, 10) is still open.
    assert.equal(ex.task('out')!.watermark, 8);
    assert.equal(ex.metrics().steps['counts']!.watermark, 8);
    assert.equal(out.values.length, 0);
    feeder.feed([{ k: 'a' }], [12]);
    assert.equal(ex.task('counts')!.watermark, 11);
    assert.equal(ex.task('out')!.watermark, 11);
    assert.deepEqual(
      out.values.map((r) => [r.key, r.window.start, r.value]).sort(),
      [
        ['a', 0, 2],
        ['b', 0, 1],
      ],
      'the first window, before the end of input',
    );
    // A watermark the source sets moves every task too.
    feeder.watermark(40);
    assert.equal(ex.task('out')!.watermark, 40);
    assert.equal(out.values.length, 3, 'the window [10, 20) fired at 40');
    assert.equal(ex.metrics().watermark, 40, "the pipeline's watermark is its sinks' lowest");
    await finish(ex);
    assert.equal(ex.task('out')!.watermark, Number.POSITIVE_INFINITY);
  });

  it('dead-letters a record a user function throws on, to the default writer, and goes on', async () => {
    const p = new Pipeline({ name: 'letters' });
    const out = collectSink<number>();
    p.source('in', arraySource<number>([]))
      .map((x) => {
        if (x === 2) throw new Error('two is not allowed');
        return x;
      }, 'check')
      .sink(out, 'out');
    const letters: DeadLetter[] = [];
    const ex = await started(p, { defaultDeadLetters: (l) => letters.push(l) });
    ex.input('in').feed([1, 2, 3], [100, 101, 102]);
    assert.deepEqual(out.values, [1, 3]);
    assert.deepEqual(letters, [], 'buffered until flushed');
    ex.flushDeadLetters();
    assert.deepEqual(letters, [
      {
        step: 'check',
        code: 'EDDY_USER_FUNCTION_FAILED',
        reason: 'user function threw: two is not allowed',
        payload: '2',
        eventTime: 101,
        at: 1_000,
      },
    ]);
    assert.equal(ex.metrics().steps['check']!.deadLetters, 1);
    assert.equal(ex.metrics().steps['check']!.deadLettersByCode['EDDY_USER_FUNCTION_FAILED'], 1);
    ex.input('in').feed([2], [103]);
    await finish(ex);
    assert.equal(letters.length, 2, 'flushed at the end of input');
  });

  it("hands dead letters to the pipeline's own sink when a step reads deadLetters(), and ends it last", async () => {
    const p = new Pipeline({ name: 'letters' });
    const out = collectSink<number>();
    const read = collectSink<string>();
    p.source('in', arraySource<number>([]))
      .map((x) => {
        if (x < 0) throw new Error(`negative: ${x}`);
        return x;
      }, 'check')
      .sink(out, 'out');
    p.deadLetters()
      .map((l) => `${l.step}: ${l.reason}`, 'reasons')
      .sink(read, 'letters');
    const fallback: DeadLetter[] = [];
    const ex = await started(p, { defaultDeadLetters: (l) => fallback.push(l) });
    ex.input('in').feed([-1, 5, -2], [0, 1, 2]);
    ex.flushDeadLetters();
    assert.deepEqual(read.values, [
      'check: user function threw: negative: -1',
      'check: user function threw: negative: -2',
    ]);
    assert.deepEqual(out.values, [5]);
    assert.deepEqual(fallback, [], 'the default writer is not used');
    const ended: string[] = [];
    for (const id of ['out', 'reasons', 'letters']) void ex.task(id)!.ended.then(() => ended.push(id));
    ex.input('in').feed([-3], [3]);
    ex.input('in').end();
    await ex.drained;
    // The letters' steps end once everything else has ended, its last letters in, and before drained.
    assert.deepEqual(ended, ['out', 'reasons', 'letters']);
    assert.equal(read.values.length, 3);
    await ex.close();
  });

  /** Negative numbers dead-lettered by step `check`; the letters through `branch` into `letters`. */
  const letterBranch = async (branch: (l: DeadLetter) => DeadLetter) => {
    const p = new Pipeline({ name: 'letters-of-letters' });
    p.source('in', arraySource<number>([]))
      .map((x) => {
        if (x < 0) throw new Error(`negative: ${x}`);
        return x;
      }, 'check')
      .sink(collectSink<number>(), 'out');
    const read = collectSink<DeadLetter>();
    p.deadLetters().map(branch, 'branch').sink(read, 'letters');
    const fallback: DeadLetter[] = [];
    const ex = await started(p, { defaultDeadLetters: (l) => fallback.push(l) });
    return { ex, read, fallback };
  };

  it('sends letters raised by the dead-letter branch itself to the default output, not round the branch again', async () => {
    const { ex, read, fallback } = await letterBranch((l) => {
      if (l.payload === '-2') throw new Error('the branch refuses -2');
      return l;
    });
    ex.input('in').feed([-1, 5, -2], [0, 1, 2]);
    ex.flushDeadLetters();
    await finish(ex);
    assert.deepEqual(
      read.values.map((l) => l.payload),
      ['-1'],
    );
    assert.equal(fallback.length, 1, 'the letter of a letter reaches the default output once');
    assert.equal(fallback[0]!.step, 'branch');
    assert.match(fallback[0]!.reason, /the branch refuses -2/);
    assert.match(fallback[0]!.payload, /"payload":"-2"/);
  });

  it('a branch that fails on every letter does not loop: each of its letters reaches the default output once', async () => {
    const { ex, read, fallback } = await letterBranch(() => {
      throw new Error('always');
    });
    ex.input('in').feed([-1, -2, -3], [0, 1, 2]);
    await finish(ex);
    assert.deepEqual(read.values, []);
    assert.deepEqual(
      fallback.map((l) => [l.step, JSON.parse(l.payload).payload]),
      [
        ['branch', '-1'],
        ['branch', '-2'],
        ['branch', '-3'],
      ],
    );
  });

  it('a letter raised after the dead-letter entry has ended (a sink refusing a record at its last flush) reaches the default output', async () => {
    const p = new Pipeline({ name: 'late-letter' });
    const read = collectSink<DeadLetter>();
    let held: unknown[] = [];
    p.source('in', arraySource<string>([])).sink(
      {
        kind: 'refuses-at-flush',
        guarantee: 'best-effort' as const,
        open: (ctx) => ({
          write: (values) => {
            held.push(...values);
          },
          flush: async () => {
            await new Promise((r) => setImmediate(r));
            for (const v of held) ctx.deadLetter?.('EDDY_RECORD_REFUSED', `too large: ${v}`, v);
            held = [];
          },
        }),
      },
      'out',
    );
    p.deadLetters().sink(read, 'letters');
    const fallback: DeadLetter[] = [];
    const ex = await started(p, { defaultDeadLetters: (l) => fallback.push(l) });
    ex.input('in').feed(['big'], [0]);
    await finish(ex);
    assert.equal(read.values.length + fallback.length, 1, 'the refused record is not lost');
  });

  it("stops with the error under the 'fail' policy", async () => {
    const p = new Pipeline({ name: 'fail' });
    p.source('in', arraySource<number>([]))
      .map((x) => {
        if (x === 2) throw new Error('two is not allowed');
        return x;
      }, 'check')
      .sink(collectSink<number>(), 'out');
    const letters: DeadLetter[] = [];
    const ex = await started(p, { errorPolicy: 'fail', defaultDeadLetters: (l) => letters.push(l) });
    assert.throws(() => ex.input('in').feed([1, 2], [0, 1]), {
      code: 'EDDY_USER_FUNCTION_FAILED',
      message: /user function threw: two is not allowed/,
    });
    ex.flushDeadLetters();
    assert.deepEqual(letters, []);
    await ex.cancel();
  });
});

describe('regression: drained before the dead-letter sink had flushed', () => {
  it("drained waits for the end-of-input flush of the deadLetters() sink, not only for the dead letters' entry", async () => {
    const p = new Pipeline({ name: 'letters-flush' });
    p.source('in', arraySource<number>([]))
      .map((x) => {
        if (x < 0) throw new Error(`negative: ${x}`);
        return x;
      }, 'check')
      .sink(collectSink<number>(), 'out');
    const written: DeadLetter[] = [];
    const events: string[] = [];
    let flushing!: () => void;
    const flushStarted = new Promise<void>((resolve) => {
      flushing = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    p.deadLetters().sink(
      {
        kind: 'held-flush',
        guarantee: 'best-effort',
        open: () => ({
          write: (values) => void written.push(...(values as DeadLetter[])),
          flush: async () => {
            events.push('flush');
            flushing();
            await released;
            events.push(`flushed ${written.length}`);
          },
        }),
      },
      'letters',
    );
    const ex = await started(p);
    let drained = false;
    void ex.drained.then(() => {
      drained = true;
      events.push('drained');
    });
    ex.input('in').feed([-1, 5, -2], [0, 1, 2]);
    ex.input('in').feed([-3], [3]);
    ex.input('in').end();
    await flushStarted;
    // Everything but the held flush can settle meanwhile (the bug resolved drained within microtasks).
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(drained, false, 'not drained while the dead-letter sink is still flushing');
    release();
    await ex.drained;
    assert.deepEqual(events, ['flush', 'flushed 3', 'drained']);
    assert.deepEqual(
      written.map((l) => l.payload),
      ['-1', '-2', '-3'],
    );
    await ex.close();
  });

  for (const parallelism of [1, 2]) {
    it(`pipeline.run() at parallelism ${parallelism} fails with a sink's failed end-of-input flush, not hangs`, async () => {
      const p = new Pipeline({ name: 'flush-fails' });
      let closed = 0;
      p.source('in', arraySource<number>([1, 2, 3])).sink(
        {
          kind: 'failing-flush',
          guarantee: 'best-effort' as const,
          open: () => ({
            write: () => {},
            flush: async () => {
              await new Promise((r) => setImmediate(r));
              throw new Error('disk full at the last flush');
            },
            close: () => void closed++,
          }),
        },
        'out',
      );
      await assert.rejects(p.run({ parallelism }), /disk full at the last flush/);
      assert.ok(closed > 0, 'the sink is closed after the failure');
    });

    it(`pipeline.run() at parallelism ${parallelism} resolves after the dead-letter sink has flushed every letter, and closes it after`, async () => {
      const log: LetterLog = { written: [], events: [] };
      const p = new Pipeline({ name: 'letters-run' });
      p.source('in', arraySource<number>([-1, 2, -3, 4, -5]))
        .map((x) => {
          if (x < 0) throw new Error(`negative: ${x}`);
          return x;
        }, 'check')
        .sink(collectSink<number>(), 'out');
      p.deadLetters().sink(slowFlushSink(log, 20), 'letters');
      await p.run({ parallelism });
      log.events.push('run resolved');
      assert.deepEqual(log.events, ['flush', 'flushed 3', 'close', 'run resolved']);
      assert.deepEqual(
        log.written.map((l) => l.payload),
        ['-1', '-3', '-5'],
      );
    });
  }

  it('on 2 worker threads, the run ends after the gathered dead-letter sink has flushed the letters of both subtasks', async () => {
    const count = 200;
    const p = oddLetters(count, 2_000);
    const running = await p.startInThreads(flushModule, { count, hops: 2_000 }, { parallelism: 2 });
    await running.done;
    letterLog.events.push('done');
    assert.deepEqual(letterLog.events, ['flush', `flushed ${count / 2}`, 'close', 'done']);
    const odd = letterLog.written.map((l) => Number(l.payload)).sort((a, b) => a - b);
    assert.deepEqual(
      odd,
      Array.from({ length: count / 2 }, (_, i) => 2 * i + 1),
    );
    const m = running.metrics();
    assert.ok(m.steps['even']!.deadLetters === count / 2, 'letters from both subtasks');
  });
});
