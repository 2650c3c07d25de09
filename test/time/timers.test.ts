import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Key } from '../../src/core/key-groups.ts';
import { type Timer, TimerQueue } from '../../src/time/timers.ts';

type Op =
  | { op: 'register' | 'once' | 'cancel'; time: number; key: Key; ns: number }
  | { op: 'poll'; upTo: number };

const id = (o: { time: number; key: Key; ns: number }) => `${o.time}|${typeof o.key}:${o.key}|${o.ns}`;

/** The queue as a plain list: what TimerQueue must behave like. */
class Model {
  pending: (Timer & { once: boolean })[] = [];
  // Times with a registration not yet fired: a time whose timers were all cancelled still fires, empty.
  times = new Set<number>();
  // The deduplicated registrations not yet fired or cancelled (0 and -0 are one key, 1 and '1' two).
  once = new Set<string>();

  apply(o: Op): Timer[] | undefined {
    const same = (t: Timer, x: { time: number; key: Key; ns: number }) =>
      t.time === x.time &&
      Object.is(t.key === 0 ? 0 : t.key, x.key === 0 ? 0 : x.key) &&
      t.namespace === x.ns;
    switch (o.op) {
      case 'register':
        this.pending.push({ time: o.time, keyGroup: 0, key: o.key, namespace: o.ns, once: false });
        this.times.add(o.time);
        return undefined;
      case 'once':
        if (!this.once.has(id(o))) {
          this.once.add(id(o));
          this.pending.push({ time: o.time, keyGroup: 0, key: o.key, namespace: o.ns, once: true });
          this.times.add(o.time);
        }
        return undefined;
      case 'cancel': {
        if (!this.once.delete(id(o))) return undefined;
        // The first timer of that time, key and namespace goes (as in TimerQueue).
        const i = this.pending.findIndex((t) => same(t, o));
        this.pending.splice(i, 1);
        return undefined;
      }
      case 'poll': {
        if (this.times.size === 0) return undefined;
        const first = Math.min(...this.times);
        if (first > o.upTo) return undefined;
        this.times.delete(first);
        for (const x of [...this.once]) if (x.startsWith(`${first}|`)) this.once.delete(x);
        const due = this.pending.filter((t) => t.time === first);
        this.pending = this.pending.filter((t) => t.time !== first);
        return due.map(({ time, keyGroup, key, namespace }) => ({ time, keyGroup, key, namespace }));
      }
    }
  }
}

const keyArb = fc.constantFrom<Key>(0, -0, 1, '1', 'a', 2.5);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constantFrom('register' as const, 'once' as const, 'once' as const, 'cancel' as const),
    time: fc.integer({ min: 0, max: 4 }),
    key: keyArb,
    ns: fc.constantFrom(0, 1),
  }),
  fc.record({ op: fc.constant('poll' as const), upTo: fc.integer({ min: -1, max: 5 }) }),
);

describe('TimerQueue', () => {
  it('fires, deduplicates and cancels timers like a plain list does', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 80, size: 'max' }), (ops) => {
        const q = new TimerQueue();
        const model = new Model();
        for (const o of ops) {
          const expected = model.apply(o);
          if (o.op !== 'poll') {
            if (o.op === 'register') q.register(o.time, 0, o.key, o.ns);
            else if (o.op === 'once') q.registerOnce(o.time, 0, o.key, o.ns);
            else q.cancel(o.time, 0, o.key, o.ns);
          } else {
            const actual = q.pollDue(o.upTo);
            assert.deepEqual(
              actual?.map((t) => [t.time, t.key, t.namespace]),
              expected?.map((t) => [t.time, t.key, t.namespace]),
            );
          }
          assert.equal(q.size, model.pending.length);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('registers a timer again once the same one has fired', () => {
    const q = new TimerQueue();
    q.registerOnce(5, 0, 'k', 0);
    q.registerOnce(5, 0, 'k', 0);
    assert.equal(q.size, 1);
    assert.equal(q.pollDue(5)!.length, 1);
    q.registerOnce(5, 0, 'k', 0);
    assert.equal(q.size, 1);
  });

  it('keeps a number key and its string apart', () => {
    const q = new TimerQueue();
    q.registerOnce(5, 0, 1, 0);
    q.registerOnce(5, 0, '1', 0);
    q.registerOnce(5, 0, 1, 1);
    assert.equal(q.size, 3);
    q.cancel(5, 0, '1', 0);
    assert.deepEqual(
      q.pollDue(5)!.map((t) => [t.key, t.namespace]),
      [
        [1, 0],
        [1, 1],
      ],
    );
  });
});
