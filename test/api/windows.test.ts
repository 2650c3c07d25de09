/**
 * Issue 19, point 5: every window and time argument of the DSL is a whole
 * number of milliseconds in range, checked when the step is declared.
 * `tumbling(10, NaN)`, `tumbling(10, Infinity)` and `tumbling(10, 2.5)` used
 * to be accepted, and every record then vanished (no result, no late output,
 * no dead letter).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { describe as describeValue } from '../../src/errors/index.ts';
import {
  arraySource,
  collectSink,
  EddyError,
  Pipeline,
  session,
  sliding,
  tumbling,
  valueState,
  type WindowAssigner,
  type Windowed,
} from '../../src/index.ts';
import { nullSink } from '../helpers/sinks.ts';

interface Ev {
  readonly key: string;
  readonly ts: number;
}

function keyed(p = new Pipeline()) {
  return p.source<Ev>('in', arraySource([]), { timestamp: (e) => e.ts }).keyBy((e) => e.key);
}

function join(p = new Pipeline()) {
  const left = p.source<Ev>('left', arraySource([]), { timestamp: (e) => e.ts }).keyBy((e) => e.key);
  const right = p.source<Ev>('right', arraySource([]), { timestamp: (e) => e.ts }).keyBy((e) => e.key);
  return { left, right };
}

/**
 * Every DSL argument that is a time, each with the name its error must use
 * and the least value it takes. `set(v)` declares a step (or option) with
 * the argument `v` and a valid everything else.
 */
const ARGUMENTS: readonly {
  name: string;
  min: number;
  set: (v: unknown) => unknown;
  /** Values this path takes as "left out" on purpose. */
  skip?: (v: unknown) => boolean;
}[] = [
  { name: 'tumbling window size', min: 1, set: (v) => tumbling(v as number) },
  { name: 'tumbling window offset', min: -9, set: (v) => tumbling(10, v as number) },
  { name: 'sliding window size', min: 1, set: (v) => sliding(v as number, 1) },
  { name: 'sliding window slide', min: 1, set: (v) => sliding(10, v as number) },
  { name: 'sliding window offset', min: -4, set: (v) => sliding(10, 5, v as number) },
  { name: 'session gap', min: 1, set: (v) => session(v as number) },
  // Assigners written by hand get the same checks as the functions'.
  {
    name: 'tumbling window size',
    min: 1,
    set: (v) => keyed().window({ kind: 'tumbling', size: v, offset: 0 } as WindowAssigner),
  },
  {
    name: 'tumbling window offset',
    min: -9,
    set: (v) => keyed().window({ kind: 'tumbling', size: 10, offset: v } as WindowAssigner),
  },
  {
    name: 'sliding window slide',
    min: 1,
    set: (v) => keyed().window({ kind: 'sliding', size: 10, slide: v, offset: 0 } as WindowAssigner),
  },
  { name: 'session gap', min: 1, set: (v) => keyed().window({ kind: 'session', gap: v } as WindowAssigner) },
  {
    name: 'tumbling window offset',
    min: -9,
    set: (v) => {
      const { left, right } = join();
      return left.join(right).window({ kind: 'tumbling', size: 10, offset: v } as WindowAssigner);
    },
  },
  {
    name: 'allowedLateness',
    min: 0,
    set: (v) => keyed().window(tumbling(10), { allowedLateness: v as number }),
  },
  { name: 'earlyEvery', min: 0, set: (v) => keyed().window(tumbling(10), { earlyEvery: v as number }) },
  {
    name: 'allowedLateness',
    min: 0,
    set: (v) => {
      const { left, right } = join();
      return left.join(right).window(tumbling(10), { allowedLateness: v as number });
    },
  },
  {
    name: 'interval join lower bound',
    min: Number.NEGATIVE_INFINITY,
    set: (v) => {
      const { left, right } = join();
      return left.intervalJoin(right, { lower: v as number, upper: 3_155_760_000_000 }, (l) => l);
    },
  },
  {
    name: 'interval join upper bound',
    min: Number.NEGATIVE_INFINITY,
    set: (v) => {
      const { left, right } = join();
      return left.intervalJoin(right, { lower: -3_155_760_000_000, upper: v as number }, (l) => l);
    },
  },
  {
    name: 'state "seen" ttl',
    min: 0,
    set: (v) => keyed().withState({ seen: { kind: 'value', ttl: v as number } }),
  },
  {
    // valueState() checks its ttl itself (src/state/handles.ts); withState checks what it let through.
    name: 'state',
    min: 0,
    set: (v) => keyed().withState({ seen: valueState<number>({ ttl: v as number }) }),
  },
  {
    name: 'mapAsync timeout',
    min: 0,
    set: (v) => keyed().mapAsync(async (e) => e, { timeout: v as number }),
  },
  {
    name: 'mapAsync concurrency',
    min: 1,
    set: (v) => keyed().mapAsync(async (e) => e, { concurrency: v as number }),
  },
  {
    name: 'maxOutOfOrderness',
    min: 0,
    set: (v) => keyed().withTimestamps((e) => e.ts, { maxOutOfOrderness: v as number }),
  },
  {
    name: 'maxOutOfOrderness',
    min: 0,
    set: (v) => new Pipeline().source('s', arraySource([]), { maxOutOfOrderness: v as number }),
  },
  {
    name: 'idleTimeout',
    min: 0,
    set: (v) => new Pipeline().source('s', arraySource([]), { idleTimeout: v as number }),
  },
  { name: 'lingerMs', min: 0, set: (v) => new Pipeline({ lingerMs: v as number }) },
];

/** Values no time argument takes: not numbers, not finite, not whole, or too large. */
const badAnywhere = fc.oneof(
  fc.constantFrom<unknown>(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2.5,
    0.1,
    -0.5,
    '10',
    '',
    null,
    true,
    10n,
    1e20,
    Number.MAX_VALUE,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
  fc.string(),
  fc.integer({ min: 3_155_760_000_001, max: Number.MAX_SAFE_INTEGER }),
);

function rejects(arg: (typeof ARGUMENTS)[number], value: unknown): void {
  if (arg.skip?.(value)) return;
  assert.throws(
    () => arg.set(value),
    (e: unknown) => {
      assert.ok(e instanceof EddyError, `${arg.name} = ${describeValue(value)}: not an EddyError: ${e}`);
      assert.equal(e.code, 'EDDY_CONFIG_INVALID');
      // Names the argument, the value received, and says what to pass.
      assert.ok(e.message.replace(/^\[\w+\] /, '').startsWith(arg.name), e.message);
      assert.ok(e.message.includes(`received ${describeValue(value)}`), e.message);
      assert.match(e.message, /; (pass|eddy's times are whole milliseconds; round it)/);
      return true;
    },
    `${arg.name} accepted ${describeValue(value)}`,
  );
}

describe('time arguments are whole milliseconds in range (issue 19)', () => {
  it('tumbling(10, NaN), tumbling(10, Infinity) and tumbling(10, 2.5) are refused', () => {
    assert.throws(() => tumbling(10, Number.NaN), /tumbling window offset .*received NaN; pass/);
    assert.throws(
      () => tumbling(10, Number.POSITIVE_INFINITY),
      /tumbling window offset .*received Infinity; pass/,
    );
    assert.throws(
      () => tumbling(10, 2.5),
      /tumbling window offset .*received 2.5; eddy's times are whole milliseconds; round it, e.g. 3/,
    );
  });

  for (const arg of ARGUMENTS) {
    it(`${arg.name}: NaN, infinities, fractions, strings, too large${arg.min > Number.NEGATIVE_INFINITY ? ', below the least' : ''} all fail fast`, () => {
      fc.assert(
        fc.property(badAnywhere, (v) => rejects(arg, v)),
        { numRuns: 60 },
      );
      if (arg.min > Number.NEGATIVE_INFINITY)
        fc.assert(
          fc.property(fc.integer({ min: -1e12, max: arg.min - 1 }), (v) => rejects(arg, v)),
          { numRuns: 30 },
        );
    });
  }

  it('a timer period or call timeout longer than a Node timer can wait is refused', () => {
    const tooLong = 2 ** 31;
    assert.throws(
      () => keyed().mapAsync(async (e) => e, { timeout: tooLong }),
      /mapAsync timeout must be at most 2,147,483,647 ms; received 2147483648; pass a shorter time/,
    );
    assert.throws(() => keyed().window(tumbling(10), { earlyEvery: tooLong }), /earlyEvery must be at most/);
    assert.throws(
      () => keyed().mapAsync(async (e) => e, { concurrency: 1e6 }),
      /concurrency must be at most 65536/,
    );
  });

  it('the checkpoint interval is checked when the run starts', async () => {
    for (const intervalMs of [Number.NaN, 2.5, -1, Number.POSITIVE_INFINITY, 2 ** 31]) {
      const p = new Pipeline();
      p.source('in', arraySource([1])).sink(nullSink());
      await assert.rejects(
        p.run({ checkpoints: { dir: '/nonexistent/eddy', intervalMs } }),
        (e: unknown) => e instanceof EddyError && /^checkpoints.intervalMs must be/.test(e.message),
      );
    }
  });

  it('a sliding slide must divide the size, so it is never larger', () => {
    assert.throws(() => sliding(10, 20), /size must be a multiple of its slide; received "10\/20"/);
  });

  it('an interval join needs { lower, upper } with lower <= upper', () => {
    const { left, right } = join();
    assert.throws(
      () => left.intervalJoin(right, null as never, (l) => l),
      /bounds must be \{ lower, upper \}/,
    );
    assert.throws(
      () => left.intervalJoin(right, { lower: 5, upper: -5 }, (l) => l),
      /need lower <= upper; received "5..-5"/,
    );
  });

  it('offsets out of range name the equivalent offset to pass', () => {
    assert.throws(
      () => tumbling(10, 23),
      /offset must lie strictly between -size and size \(-10 < offset < 10\); received 23; pass 3/,
    );
    assert.throws(
      () => sliding(10, 5, -7),
      /between -slide and slide \(-5 < offset < 5\); received -7; pass 3/,
    );
  });
});

describe('valid offsets', () => {
  it('a negative offset gives the same windows as the offset plus the size', () => {
    assert.deepEqual(tumbling(10, -3), tumbling(10, 7));
    assert.deepEqual(sliding(10, 5, -1), sliding(10, 5, 4));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), (size, o) => {
        const offset = o % size;
        assert.deepEqual(tumbling(size, offset - size === -size ? 0 : offset - size), tumbling(size, offset));
      }),
    );
  });

  it('windows follow the offset: tumbling(10, -3) groups [7, 17), [17, 27)', async () => {
    const p = new Pipeline();
    const out = collectSink<Windowed<string, number>>();
    p.source('in', arraySource<Ev>([5, 7, 16, 17, 26].map((ts) => ({ key: 'k', ts }))), {
      timestamp: (e) => e.ts,
    })
      .keyBy((e) => e.key)
      .window(tumbling(10, -3))
      .count()
      .sink(out);
    await p.run();
    assert.deepEqual(
      out.values.map((w) => [w.window.start, w.window.end, w.value]),
      [
        [-3, 7, 1],
        [7, 17, 2],
        [17, 27, 2],
      ],
    );
  });
});
