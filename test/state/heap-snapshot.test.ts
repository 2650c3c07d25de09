import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decode } from '../../src/codec/chunks.ts';
import { HeapStateBackend } from '../../src/state/heap.ts';

type Op =
  | { kind: 'put'; g: number; key: string; ns: number; v: number }
  | { kind: 'push'; g: number; key: string; ns: number; v: number }
  | { kind: 'remove'; g: number; key: string; ns: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('put' as const),
    g: fc.nat(5),
    key: fc.constantFrom('a', 'b', 'c'),
    ns: fc.nat(2),
    v: fc.integer(),
  }),
  fc.record({
    kind: fc.constant('push' as const),
    g: fc.nat(5),
    key: fc.constantFrom('a', 'b', 'c'),
    ns: fc.nat(2),
    v: fc.integer(),
  }),
  fc.record({
    kind: fc.constant('remove' as const),
    g: fc.nat(5),
    key: fc.constantFrom('a', 'b', 'c'),
    ns: fc.nat(2),
  }),
);

/** Applies an op; `push` changes the stored array in place, as window accumulators and join buffers do. */
function apply(backend: HeapStateBackend, o: Op): void {
  const t = backend.table<number[]>('step', 'acc');
  if (o.kind === 'put') t.put(o.g, o.key, o.ns, [o.v]);
  else if (o.kind === 'remove') t.remove(o.g, o.key, o.ns);
  else {
    const list = t.get(o.g, o.key, o.ns);
    if (list === undefined) t.put(o.g, o.key, o.ns, [o.v]);
    else list.push(o.v);
  }
}

function contents(backend: HeapStateBackend): string[] {
  const t = backend.table<number[]>('step', 'acc');
  const out: string[] = [];
  for (const g of t.keyGroups())
    for (const [k, ns, v] of t.entries(g)) out.push(JSON.stringify([g, k, ns, v]));
  return out.sort();
}

describe('heap backend snapshots (copy on access)', () => {
  it('a snapshot holds exactly the state at its barrier, whatever changes (in place too) while it completes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 60 }),
        fc.array(op, { maxLength: 60 }),
        async (before, after) => {
          const backend = new HeapStateBackend(8);
          for (const o of before) apply(backend, o);
          const expected = contents(backend);
          const snapshot = backend.snapshot();
          // Changes after the barrier: before the background encoding starts, and between its slices.
          let i = 0;
          while (i < after.length / 2) apply(backend, after[i++]!);
          const chunks = await snapshot.complete(async () => {
            if (i < after.length) apply(backend, after[i++]!);
          });
          while (i < after.length) apply(backend, after[i++]!);
          const got: string[] = [];
          for (const c of chunks) {
            const flat = decode(c.bytes) as unknown[];
            for (let j = 0; j < flat.length; j += 3)
              got.push(JSON.stringify([c.keyGroup, flat[j], flat[j + 1], flat[j + 2]]));
          }
          assert.deepEqual(got.sort(), expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
