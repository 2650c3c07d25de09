/**
 * Physical planning (src/plan/physical.ts, issue 13: planning happens once,
 * in one place): which stages run chained in one task, where a combiner
 * pre-aggregates a window aggregation, how each vertex's inputs arrive at a
 * parallelism, the sink added for unread dead letters and what ends after
 * the dead letters, and the plan's sets of steps, sources and splittable
 * sources. Plans are made from pipelines built with the DSL, as
 * `Pipeline.physicalPlan` does for a run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatorSource } from '../../src/connectors/generator/index.ts';
import type { Sink } from '../../src/core/connector.ts';
import { DEFAULT_MAX_PARALLELISM } from '../../src/core/key-groups.ts';
import type { Aggregator } from '../../src/core/windows.ts';
import {
  arraySource,
  collectSink,
  type KeyedStream,
  Pipeline,
  type PipelineOptions,
  type Stream,
  session,
  tumbling,
} from '../../src/index.ts';
import { DEFAULT_DEAD_LETTERS_ID, physicalPlan } from '../../src/plan/physical.ts';
import type { PhysicalPlan, Vertex } from '../../src/runtime/physical.ts';

/** A pipeline over `in`, three numbers with event times, and what `build` adds to it. */
function plan(
  parallelism: number,
  build: (input: Stream<number>, p: Pipeline) => void,
  options: Omit<PipelineOptions, 'name'> = {},
): PhysicalPlan {
  const p = new Pipeline({ name: 'plan', ...options });
  build(p.source('in', arraySource<number>([1, 2, 3], [0, 1, 2])), p);
  return p.physicalPlan(parallelism);
}

function vertex(plan: PhysicalPlan, id: string): Vertex {
  const v = plan.vertices.find((x) => x.id === id);
  assert.ok(
    v !== undefined,
    `no vertex "${id}"; the vertices are ${plan.vertices.map((x) => x.id).join(', ')}`,
  );
  return v;
}

/** Each vertex as [id, its steps' ids, role]. */
function tasks(plan: PhysicalPlan): [string, string[], string][] {
  return plan.vertices.map((v) => [v.id, v.steps.map((s) => s.id), v.role]);
}

const keyed = (s: Stream<number>): KeyedStream<number, number> => s.keyBy((x) => x % 2);

/** A sum whose partials merge (so a combiner may pre-aggregate it). */
const sum: Aggregator<number, number, number> = {
  create: () => 0,
  add: (a, v) => a + v,
  result: (a) => a,
  merge: (a, b) => a + b,
};
const { merge: _merge, ...sumWithoutMerge } = sum;

describe('physical plan: chaining', () => {
  it('fuses stateless stages up to and including a keyBy into one task; a keyBy ends its chain', () => {
    const pp = plan(1, (s) =>
      keyed(s.map((x) => x * 2).filter((x) => x > 0))
        .map((x) => x + 1)
        .filter((x) => x > 1)
        .sink(collectSink(), 'out'),
    );
    assert.deepEqual(tasks(pp), [
      ['dead-letters', ['dead-letters'], 'dead-letters'],
      ['in', ['in'], 'source'],
      ['map-1', ['map-1', 'filter-2', 'keyBy-3'], 'chain'],
      ['map-4', ['map-4', 'filter-5'], 'chain'],
      ['out', ['out'], 'sink'],
      [DEFAULT_DEAD_LETTERS_ID, [DEFAULT_DEAD_LETTERS_ID], 'sink'],
    ]);
    assert.equal(vertex(pp, 'map-1').chain?.length, 3, 'one stage per chained step');
    assert.deepEqual(
      vertex(pp, 'map-1').chain?.map((st) => st.kind),
      ['map', 'filter', 'keyBy'],
    );
    // Each task's output goes to the head of the next chain.
    assert.deepEqual(vertex(pp, 'in').outputs, [[{ vertex: 'map-1', input: 0 }]]);
    assert.deepEqual(vertex(pp, 'map-1').outputs, [[{ vertex: 'map-4', input: 0 }]]);
  });

  it('a stage read by two steps ends its chain; each reader heads a chain of its own', () => {
    const pp = plan(1, (s) => {
      const doubled = s.map((x) => x * 2, 'doubled');
      doubled.filter((x) => x > 2, 'big').sink(collectSink(), 'a');
      doubled.map((x) => -x, 'negated').sink(collectSink(), 'b');
    });
    assert.deepEqual(vertex(pp, 'doubled').steps, [{ id: 'doubled', kind: 'map' }]);
    assert.deepEqual(vertex(pp, 'big').steps, [{ id: 'big', kind: 'filter' }]);
    assert.deepEqual(vertex(pp, 'negated').steps, [{ id: 'negated', kind: 'map' }]);
    assert.deepEqual(vertex(pp, 'doubled').outputs, [
      [
        { vertex: 'big', input: 0 },
        { vertex: 'negated', input: 0 },
      ],
    ]);
  });

  it('a stage after an operator heads a new chain; operators and the inputs of a union are their own vertices', () => {
    const pp = plan(1, (s, p) => {
      const other = p.source('other', arraySource<number>([4], [3]));
      s.map((x) => x, 'left')
        .union(other.map((x) => x, 'right'))
        .map((x) => x + 1, 'after')
        .sink(collectSink(), 'out');
    });
    const union = pp.vertices.find((v) => v.steps[0]!.kind === 'union')!;
    assert.equal(union.role, 'operator');
    assert.equal(typeof union.operator, 'function');
    assert.equal(union.inputs, 2);
    assert.deepEqual(vertex(pp, 'left').outputs, [[{ vertex: union.id, input: 0 }]]);
    assert.deepEqual(vertex(pp, 'right').outputs, [[{ vertex: union.id, input: 1 }]]);
    assert.deepEqual(union.outputs, [[{ vertex: 'after', input: 0 }]]);
    assert.deepEqual(vertex(pp, 'after').steps, [{ id: 'after', kind: 'map' }]);
  });
});

describe('physical plan: exchanges', () => {
  const build = (s: Stream<number>) => {
    const counts = keyed(s).window(tumbling(10)).count('counts');
    counts.sink(collectSink(), 'gathered');
    counts.sink({ ...collectSink(), parallel: true } as Sink<unknown>, 'parallel');
  };

  it('parallelism 1: every input arrives in its own subtask', () => {
    const pp = plan(1, build);
    assert.equal(pp.parallelism, 1);
    assert.deepEqual(
      pp.vertices.map((v) => v.arrival),
      pp.vertices.map(() => 'local'),
    );
  });

  it('parallelism 2: a keyed step by hash, a sink gathered into subtask 0 unless parallel, the rest local', () => {
    const pp = plan(2, build, { preAggregate: false });
    const arrivals = Object.fromEntries(pp.vertices.map((v) => [v.id, v.arrival]));
    assert.deepEqual(arrivals, {
      'dead-letters': 'local',
      in: 'local',
      'keyBy-1': 'local',
      counts: 'hash',
      gathered: 'gather',
      parallel: 'local',
      [DEFAULT_DEAD_LETTERS_ID]: 'gather',
    });
    assert.equal(vertex(pp, 'counts').keyed, true);
    assert.equal(vertex(pp, 'keyBy-1').keyed, false);
    assert.equal(pp.maxParallelism, DEFAULT_MAX_PARALLELISM);
  });
});

describe('physical plan: combiners', () => {
  const windowed = (
    assigner = tumbling(10),
    agg: Aggregator<number, number, number> = sum,
    earlyEvery?: number,
    name = 'sums',
  ) =>
    ((s: Stream<number>) => {
      keyed(s)
        .window(assigner, earlyEvery === undefined ? {} : { earlyEvery })
        .aggregate(agg, name)
        .sink(collectSink(), 'out');
    }) as (s: Stream<number>) => void;

  it('at parallelism > 1, a window aggregation whose aggregator merges gets `<id>.local` before its exchange', () => {
    const pp = plan(2, windowed(), { preAggregate: true });
    assert.deepEqual(
      tasks(pp).map(([id]) => id),
      ['dead-letters', 'in', 'keyBy-1', 'sums.local', 'sums', 'out', DEFAULT_DEAD_LETTERS_ID],
    );
    const local = vertex(pp, 'sums.local');
    assert.equal(local.role, 'operator');
    assert.equal(local.arrival, 'local', 'it runs in the subtasks of its input');
    assert.equal(local.keyed, false);
    // Its records (tag 0) and partials (tag 1) are the window step's inputs 0 and 1, both by hash.
    assert.deepEqual(local.outputs, [[{ vertex: 'sums', input: 0 }], [{ vertex: 'sums', input: 1 }]]);
    assert.equal(vertex(pp, 'sums').inputs, 2);
    assert.equal(vertex(pp, 'sums').arrival, 'hash');
    assert.deepEqual([...pp.combinerOf], [['sums.local', 'sums']]);
    assert.equal(pp.steps.has('sums.local'), false, 'a combiner is no logical step');
    assert.equal(local.operator!().constructor.name, 'WindowCombiner');
  });

  it("with preAggregate: 'split', the combiner's input arrives by a split exchange", () => {
    const pp = plan(2, windowed(), { preAggregate: 'split' });
    assert.equal(vertex(pp, 'sums.local').arrival, 'split');
    assert.equal(vertex(pp, 'sums').arrival, 'hash');
    assert.equal(vertex(pp, 'sums.local').adaptive, undefined);
  });

  it("with preAggregate: 'auto' (the default), the same split exchange, marked adaptive (it starts local)", () => {
    const pp = plan(3, windowed(), { preAggregate: 'auto' });
    const shape = (x: PhysicalPlan) => x.vertices.map((v) => [v.id, v.arrival, v.adaptive ?? false]);
    assert.deepEqual(shape(plan(3, windowed())), shape(pp), "'auto' is the default");
    assert.equal(vertex(pp, 'sums.local').arrival, 'split');
    assert.equal(vertex(pp, 'sums.local').adaptive, true);
    assert.equal(vertex(pp, 'sums').arrival, 'hash');
    assert.ok(!pp.vertices.some((v) => v.id !== 'sums.local' && v.adaptive === true));
    assert.deepEqual([...plan(1, windowed(), { preAggregate: 'auto' }).combinerOf], []);
  });

  it('none at parallelism 1, with preAggregate false, for sessions, with early results, or without merge', () => {
    const none = (pp: PhysicalPlan, why: string) => {
      assert.deepEqual([...pp.combinerOf], [], why);
      assert.equal(vertex(pp, 'sums').inputs, 1, why);
      assert.ok(!pp.vertices.some((v) => v.id.endsWith('.local')), why);
    };
    none(plan(1, windowed()), 'parallelism 1');
    none(plan(2, windowed(), { preAggregate: false }), 'preAggregate: false');
    none(plan(2, windowed(session(5))), 'session windows');
    none(plan(2, windowed(tumbling(10), sum, 1000)), 'early results');
    none(plan(2, windowed(tumbling(10), sumWithoutMerge as Aggregator<number, number, number>)), 'no merge');
  });

  it('takes the next free id when `<id>.local` is a step already', () => {
    const pp = plan(2, (s) => {
      keyed(s.map((x) => x, 'sums.local'))
        .window(tumbling(10))
        .aggregate(sum, 'sums')
        .sink(collectSink(), 'out');
    });
    assert.deepEqual([...pp.combinerOf], [['sums.local-2', 'sums']]);
    assert.equal(vertex(pp, 'sums.local').role, 'chain');
  });
});

describe('physical plan: dead letters and the plan', () => {
  it('adds a default sink (no writer: the runtime gives it one) when nothing reads the dead letters', () => {
    const pp = plan(1, (s) => s.sink(collectSink(), 'out'));
    const d = vertex(pp, DEFAULT_DEAD_LETTERS_ID);
    assert.equal(d.role, 'sink');
    assert.equal(d.sink, undefined);
    assert.deepEqual(vertex(pp, 'dead-letters').outputs, [[{ vertex: DEFAULT_DEAD_LETTERS_ID, input: 0 }]]);
    assert.equal(vertex(pp, 'dead-letters').inputs, 1, 'fed by the runtime');
    assert.deepEqual([...pp.afterDeadLetters], ['dead-letters', DEFAULT_DEAD_LETTERS_ID]);
  });

  it('adds none when a step reads them; everything fed by them, directly or not, ends after the rest', () => {
    const pp = plan(1, (s, p) => {
      s.sink(collectSink(), 'out');
      p.deadLetters()
        .map((l) => l.reason, 'reasons')
        .sink(collectSink(), 'letters');
    });
    assert.ok(!pp.vertices.some((v) => v.id === DEFAULT_DEAD_LETTERS_ID));
    assert.deepEqual([...pp.afterDeadLetters], ['dead-letters', 'reasons', 'letters']);
    assert.equal(pp.afterDeadLetters.has('out'), false);
  });

  it('knows its logical steps, its sources, and which of them split their input', () => {
    const pp = plan(1, (s, p) => {
      const g = p.source(
        'gen',
        generatorSource({ count: 10, startTime: 0, eventsPerSecond: 1000, make: (i) => i }),
      );
      s.union(g).sink(collectSink(), 'out');
    });
    assert.deepEqual([...pp.sources], ['in', 'gen']);
    assert.deepEqual(pp.splittable, ['gen']);
    assert.deepEqual([...pp.steps], ['dead-letters', 'in', 'gen', 'union-1', 'out']);
    // Every vertex after the ones it reads.
    const seen = new Set<string>();
    for (const v of pp.vertices) {
      for (const list of v.outputs)
        for (const o of list) assert.ok(!seen.has(o.vertex), `${v.id} → ${o.vertex}`);
      seen.add(v.id);
    }
  });

  it('physicalPlan over a logical graph is what Pipeline.physicalPlan gives, and leaves the graph as it was', () => {
    const p = new Pipeline({ name: 'plan' });
    keyed(p.source('in', arraySource<number>([1], [0])))
      .window(tumbling(10))
      .aggregate(sum, 'sums')
      .sink(collectSink(), 'out');
    const graph = p.scope.graph;
    const before = [...graph.nodes.keys()];
    const direct = physicalPlan(graph, 2, DEFAULT_MAX_PARALLELISM, true);
    assert.deepEqual(tasks(direct), tasks(p.physicalPlan(2)));
    assert.deepEqual([...graph.nodes.keys()], before, 'no combiner or default sink added to the graph');
  });
});
