/**
 * Splitting a pipeline into keyed stages for a Kafka application (issue 13):
 * which steps go to which stage, what is refused (naming the step and the
 * fix), and what each cut keeps. The stages running on the broker:
 * test/cli/kafka-stages.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sink, Source } from '../../../src/core/connector.ts';
import { decodePartial, encodePartial } from '../../../src/deploy/kafka/pre-aggregate.ts';
import { cutStage, planStages, stageNames } from '../../../src/deploy/kafka/stages.ts';
import { collectSink, Pipeline, session, tumbling } from '../../../src/index.ts';
import { nullSink } from '../../helpers/sinks.ts';

interface E {
  readonly k: string;
  readonly n: number;
}

const input: Source<E> = { kind: 'test', open: () => ({ poll: () => null }) };

/** by user, then by tier, with a side branch in each stage and a dead-letter sink. */
function build(): Pipeline {
  const p = new Pipeline({ name: 's' });
  const keyed = p
    .source('in', input)
    .filter((e) => e.n >= 0, 'valid')
    .keyBy((e) => e.k, 'by-k')
    .reduce((a, b) => ({ k: a.k, n: a.n + b.n }), 'sum');
  keyed.sink(nullSink(), 'sums');
  keyed
    .map((r) => ({ ...r }), 'value')
    .keyBy((e) => (e.n > 10 ? 'big' : 'small'), 'by-size')
    .reduce((a, b) => ({ k: a.k, n: Math.max(a.n, b.n) }), 'max')
    .sink(collectSink(), 'maxima');
  p.deadLetters().sink(nullSink(), 'dlq');
  return p;
}

describe('planStages / cutStage', () => {
  it('a keyBy of a keyed stream starts a stage; the first keyBy partitions the input', () => {
    const stages = planStages(build());
    assert.deepEqual(
      stages.map((s) => ({ keyBy: s.keyBy, parent: s.parent, steps: [...s.steps] })),
      [
        { keyBy: '', parent: -1, steps: ['in', 'valid', 'by-k', 'sum', 'sums', 'value'] },
        { keyBy: 'by-size', parent: 0, steps: ['by-size', 'max', 'maxima'] },
      ],
    );
    assert.deepEqual(stageNames('shop', 'by-size'), {
      applicationId: 'shop-by-size',
      topic: 'shop-by-size-stage',
    });
  });

  it('cuts each stage: the first ends in a sink to the next, the next reads a source before its keyBy', () => {
    const stages = planStages(build());
    const keys: unknown[] = [];
    const to: Sink<unknown> = {
      kind: 'to-stage',
      guarantee: 'exactly-once',
      open: () => ({ write: () => {} }),
    };
    const from: Source<unknown> = { kind: 'from-stage', open: () => ({ poll: () => null }) };
    const first = build();
    cutStage(first, stages, 0, {
      sinkFor: (keyBy, key) => {
        keys.push(keyBy, key({ k: 'x', n: 11 }), key({ k: 'x', n: 1 }));
        return to;
      },
    });
    const g1 = first.scope.graph.nodes;
    assert.deepEqual(
      [...g1.keys()],
      ['dead-letters', 'in', 'valid', 'by-k', 'sum', 'sums', 'value', 'dlq', 'by-size-stage'],
    );
    assert.equal(g1.get('by-size-stage')!.sink, to);
    assert.deepEqual(g1.get('by-size-stage')!.inputs, [{ node: 'value', tag: 0 }]);
    assert.deepEqual(keys, ['by-size', 'big', 'small']);
    const second = build();
    cutStage(second, stages, 1, { source: from, sinkFor: () => to });
    const g2 = second.scope.graph.nodes;
    assert.deepEqual([...g2.keys()], ['by-size-stage', 'dead-letters', 'by-size', 'max', 'maxima', 'dlq']);
    assert.equal(g2.get('by-size-stage')!.source!.source, from);
    assert.deepEqual(g2.get('by-size')!.inputs, [{ node: 'by-size-stage', tag: 0 }]);
  });

  it('refuses a step that reads two stages, and an input keyed two ways, naming the steps and the fix', () => {
    const p = new Pipeline({ name: 'u' });
    const a = p.source('in', input).keyBy((e) => e.k, 'by-k');
    const b = a
      .reduce((x, y) => ({ k: x.k, n: x.n + y.n }), 'sum')
      .map((r) => ({ ...r }), 'v')
      .keyBy((e) => String(e.n), 'by-n');
    b.process<E>({ processElement: (e, ctx) => ctx.emit(e) }, { name: 'p' })
      .union(a.process<E>({ processElement: (e, ctx) => ctx.emit(e) }, { name: 'q' }))
      .sink(nullSink());
    assert.throws(
      () => planStages(p),
      /step "union-\d+" \(union\) reads streams of different keyed stages.*key both streams the same way/,
    );

    const two = new Pipeline({ name: 't' });
    const s = two.source('in', input);
    s.keyBy((e) => e.k, 'one')
      .reduce((x) => x, 'r1')
      .sink(nullSink());
    s.keyBy((e) => String(e.n), 'two')
      .reduce((x) => x, 'r2')
      .sink(nullSink());
    assert.throws(
      () => planStages(two),
      /keyed 2 ways \(steps "one", "two"\).*partitions its input by one key/,
    );
  });
});

/** Counts per key and window after the first keyBy, then a second keyed stage; with `preAggregate`. */
function windowed(preAggregate: boolean | 'split' | 'auto'): Pipeline {
  const p = new Pipeline({ name: 'w', preAggregate });
  p.source('in', input, { timestamp: (e) => e.n })
    .keyBy((e) => e.k, 'by-k')
    .window(tumbling(1000))
    .count('cnt')
    .map((w) => ({ k: w.key, n: w.value }), 'rows')
    .keyBy((r) => (r.n > 10 ? 'big' : 'small'), 'by-size')
    .reduce((a, b) => ({ k: a.k, n: a.n + b.n }), 'total')
    .sink(nullSink(), 'out');
  return p;
}

describe('planStages / cutStage with preAggregate on Kafka (issue 18)', () => {
  it("true or 'split': the window step and what follows it go to a merge stage; 'auto' and false keep one stage", () => {
    for (const option of [true, 'split'] as const) {
      const stages = planStages(windowed(option));
      assert.deepEqual(
        stages.map((s) => ({
          keyBy: s.keyBy,
          parent: s.parent,
          merge: s.merge === true,
          steps: [...s.steps],
        })),
        [
          { keyBy: '', parent: -1, merge: false, steps: ['in', 'by-k'] },
          { keyBy: 'cnt', parent: 0, merge: true, steps: ['cnt', 'rows'] },
          { keyBy: 'by-size', parent: 1, merge: false, steps: ['by-size', 'total', 'out'] },
        ],
      );
    }
    for (const option of ['auto', false] as const)
      assert.deepEqual(
        planStages(windowed(option)).map((s) => s.keyBy),
        ['', 'by-size'],
      );
  });

  it('cuts the input stage to a combiner writing envelopes by key, and the merge stage to keys, partials and the window step', () => {
    const stages = planStages(windowed(true));
    const to: Sink<unknown> = {
      kind: 'to-stage',
      guarantee: 'exactly-once',
      open: () => ({ write: () => {} }),
    };
    const from: Source<unknown> = { kind: 'from-stage', open: () => ({ poll: () => null }) };
    const keys: unknown[] = [];
    const first = windowed(true);
    cutStage(first, stages, 0, {
      sinkFor: (stage, key) => {
        keys.push(stage, key({ k: 'hot', p: 'AAAA' }), key({ k: 7, r: { k: 'x' } }));
        return to;
      },
    });
    const g0 = first.scope.graph.nodes;
    assert.deepEqual([...g0.keys()], ['dead-letters', 'in', 'by-k', 'cnt.local', 'cnt-stage']);
    assert.deepEqual(g0.get('cnt.local')!.inputs, [{ node: 'by-k', tag: 0 }]);
    assert.deepEqual(g0.get('cnt-stage')!.inputs, [{ node: 'cnt.local', tag: 0 }]);
    assert.deepEqual(keys, ['cnt', 'hot', 7]);

    const merge = windowed(true);
    cutStage(merge, stages, 1, { source: from, sinkFor: () => to });
    const g1 = merge.scope.graph.nodes;
    assert.deepEqual(
      [...g1.keys()],
      ['cnt-stage', 'cnt.keys', 'cnt.partials', 'dead-letters', 'cnt', 'rows', 'by-size-stage'],
    );
    assert.equal(g1.get('cnt-stage')!.source!.source, from);
    assert.equal(g1.get('cnt.keys')!.kind, 'keyBy');
    assert.equal(g1.get('cnt.keys')!.stage!.fn({ k: 'hot', p: 'AAAA' }), 'hot');
    assert.deepEqual(g1.get('cnt')!.inputs, [
      { node: 'cnt.partials', tag: 0 },
      { node: 'cnt.partials', tag: 1 },
    ]);
  });

  it('refuses what cannot be pre-aggregated, naming the step and the fix', () => {
    const fix = /leave preAggregate at its default \('auto'\) or false on Kafka/;
    const twoReaders = new Pipeline({ name: 'a', preAggregate: true });
    const k = twoReaders.source('in', input, { timestamp: (e) => e.n }).keyBy((e) => e.k, 'by-k');
    k.window(tumbling(10)).count('c1').sink(nullSink());
    k.window(tumbling(20)).count('c2').sink(nullSink());
    assert.throws(
      () => planStages(twoReaders),
      new RegExp(`but 2 steps read it \\("c1", "c2"\\).*${fix.source}`),
    );

    const reduce = new Pipeline({ name: 'b', preAggregate: true });
    reduce
      .source('in', input)
      .keyBy((e) => e.k, 'by-k')
      .reduce((a) => a, 'sum')
      .sink(nullSink());
    assert.throws(() => planStages(reduce), /keyBy "by-k".*read by a reduce step \("sum"\)/);

    const sessions = new Pipeline({ name: 'c', preAggregate: true });
    sessions
      .source('in', input, { timestamp: (e) => e.n })
      .keyBy((e) => e.k, 'by-k')
      .window(session(10))
      .count('s')
      .sink(nullSink());
    assert.throws(() => planStages(sessions), /"s" has session windows/);

    const noMerge = new Pipeline({ name: 'd', preAggregate: true });
    noMerge
      .source('in', input, { timestamp: (e) => e.n })
      .keyBy((e) => e.k, 'by-k')
      .window(tumbling(10))
      .aggregate({ create: () => 0, add: (a: number) => a + 1, result: (a: number) => a }, 'agg')
      .sink(nullSink());
    assert.throws(() => planStages(noMerge), /the aggregator of window step "agg" has no merge/);
  });

  it('a partial crosses the stage topic as JSON whatever its accumulator holds (the state codec, base64)', () => {
    const acc = {
      n: 3,
      min: Number.POSITIVE_INFINITY,
      max: Number.NEGATIVE_INFINITY,
      seen: new Map([['a', 1]]),
      none: undefined,
    };
    const envelope = JSON.parse(JSON.stringify({ k: 'hot', p: encodePartial('hot', acc) })) as {
      k: string;
      p: string;
    };
    assert.equal(envelope.k, 'hot');
    assert.deepEqual(decodePartial(envelope.p), acc);
  });
});
