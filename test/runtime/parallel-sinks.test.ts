/**
 * Parallel sinks (issue 15): a sink that says `parallel` gets a writer per
 * subtask, each writing the records of its own subtask (after a keyBy, each
 * key's records in order, from the one subtask that holds the key); any other
 * sink still gets one writer, in subtask 0. Both see every record once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arraySource, Pipeline, type Sink } from '../../src/index.ts';

interface Rec {
  readonly key: string;
  readonly seq: number;
}

/** A sink recording, per writer it opened, what that writer got. */
function recording(parallel: boolean): Sink<Rec> & { readonly writers: Rec[][] } {
  const writers: Rec[][] = [];
  return {
    kind: 'recording',
    guarantee: 'best-effort',
    parallel,
    writers,
    open() {
      const got: Rec[] = [];
      writers.push(got);
      return { write: (values) => void got.push(...values) };
    },
  };
}

describe('parallel sinks', () => {
  it('a parallel sink writes from every subtask, each key in order; a gathered one has a single writer', async () => {
    const input: Rec[] = [];
    for (let seq = 0; seq < 200; seq++)
      for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) input.push({ key, seq });
    const parallel = recording(true);
    const gathered = recording(false);
    const p = new Pipeline({ name: 'parallel-sinks', batchSize: 16 });
    const keyed = p
      .source('in', arraySource(input))
      .keyBy((r) => r.key)
      .process(
        {
          processElement(r, ctx) {
            ctx.emit(r);
          },
        },
        { name: 'pass' },
      );
    keyed.sink(parallel, 'parallel');
    keyed.sink(gathered, 'gathered');
    assert.deepEqual(
      p
        .physicalPlan(2)
        .vertices.filter((v) => v.role === 'sink' && v.id !== 'dead-letters.default')
        .map((v) => [v.id, v.arrival]),
      [
        ['parallel', 'local'],
        ['gathered', 'gather'],
      ],
    );
    await p.run({ parallelism: 2 });

    assert.equal(parallel.writers.length, 2, 'a writer per subtask');
    assert.ok(
      parallel.writers.every((w) => w.length > 0),
      'both subtasks wrote',
    );
    const all = parallel.writers.flat();
    assert.equal(all.length, input.length);
    for (const key of new Set(input.map((r) => r.key))) {
      const holders = parallel.writers.filter((w) => w.some((r) => r.key === key));
      assert.equal(holders.length, 1, `key ${key} written by one subtask`);
      assert.deepEqual(
        holders[0]!.filter((r) => r.key === key).map((r) => r.seq),
        Array.from({ length: 200 }, (_, i) => i),
        `key ${key} in order`,
      );
    }
    const active = gathered.writers.filter((w) => w.length > 0);
    assert.equal(active.length, 1, 'the gathered sink writes from subtask 0 only');
    assert.equal(active[0]!.length, input.length);
  });
});
