/**
 * Splitting a pipeline into keyed stages for a Kafka application (issue 13):
 * which steps go to which stage, what is refused (naming the step and the
 * fix), and what each cut keeps. The stages running on the broker:
 * test/cli/kafka-stages.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sink, Source } from '../../../src/core/connector.ts';
import { cutStage, planStages, stageNames } from '../../../src/deploy/kafka/stages.ts';
import { collectSink, Pipeline } from '../../../src/index.ts';
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
