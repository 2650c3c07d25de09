/**
 * `eddy run --kafka` refuses what it cannot run before it touches a broker:
 * flags that do not go together, and pipelines a Kafka application cannot run
 * yet (deployOnKafka), each in one line naming the value and the fix. And a
 * source that cannot replay runs, with a line that says what a crash loses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deployOnKafka, repartitionKey } from '../../src/deploy/kafka/deploy.ts';
import { type KafkaApp, kafkaApp, kafkaSink, kafkaSource } from '../../src/deploy/kafka/index.ts';
import { stagesView } from '../../src/deploy/kafka/pipeline.ts';
import { generatorSource, Pipeline } from '../../src/index.ts';
import { eddy } from '../helpers/cli.ts';
import { nullSink } from '../helpers/sinks.ts';

const _bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const clicks = new URL('../../examples/clickstream/pipeline.ts', import.meta.url).pathname;
const push = new URL('./fixtures/push.ts', import.meta.url).pathname;

const app = () => kafkaApp({ applicationId: 'flags-test', brokers: ['127.0.0.1:1'] });
const source = () =>
  kafkaSource<{ k: string; n: number }>({ topics: ['in'], groupId: 'g', brokers: ['127.0.0.1:1'] });

describe('eddy run --kafka: refused before any broker is touched', () => {
  it('flags that do not go together, each named with the fix', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--app-id', 'a'],
        /--app-id, --instance-id and --endpoint run a Kafka application: add --kafka <brokers>/,
      ],
      [
        ['--endpoint', 'http://127.0.0.1:9464'],
        /--app-id, --instance-id and --endpoint run a Kafka application: add --kafka <brokers>/,
      ],
      [['--kafka', 'localhost'], /--kafka takes host:port\[,host:port\.\.\.\]; received "localhost"/],
      [['--kafka', '127.0.0.1:9092'], /--kafka needs --app-id <id>.*received none/],
      [['--kafka', '127.0.0.1:9092', '--app-id', 'a b'], /--kafka needs --app-id <id>.*received "a b"/],
      [['--kafka', '127.0.0.1:9092', '--app-id', 'a', '--resume'], /--resume is for the embedded runtime/],
      [
        ['--kafka', '127.0.0.1:9092', '--app-id', 'a', '--parallelism', '2'],
        /--parallelism is for the embedded runtime/,
      ],
      [['--standby-replicas', '1'], /add --kafka <brokers>.*\(--standby-replicas too\)/],
      [
        ['--kafka', '127.0.0.1:9092', '--app-id', 'a', '--instance-id', 'a b'],
        /--instance-id must be 1-200 letters, digits.*received "a b"/,
      ],
      [
        ['--kafka', '127.0.0.1:9092', '--app-id', 'a', '--standby-replicas', '17'],
        /--standby-replicas takes a whole number from 0 to 16.*received "17"/,
      ],
      [
        ['--kafka', '127.0.0.1:9092', '--app-id', 'a', '--standby-replicas', 'one'],
        /--standby-replicas takes a whole number from 0 to 16.*received "one"/,
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await eddy(['run', clicks, ...flags]);
      assert.equal(r.code, 2, `${flags.join(' ')}: exit 2\n${r.stderr}`);
      assert.match(r.stderr, message, flags.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${flags.join(' ')}: one line\n${r.stderr}`);
    }
  });

  it('a source that is not Kafka, two keyBys, and a flatMap before the keyBy', () => {
    const generator = new Pipeline({ name: 'g' });
    generator.source('numbers', generatorSource({ count: 1, make: (i) => i })).sink(nullSink());
    assert.throws(
      () => deployOnKafka(generator, app()),
      /step "numbers" reads a "generator" source.*kafkaSource/,
    );

    const twice = new Pipeline({ name: 't' });
    twice
      .source('in', source())
      .keyBy((e) => e.k)
      .reduce((a, b) => ({ k: a.k, n: a.n + b.n }))
      .keyBy((e) => String(e.n))
      .reduce((a) => a)
      .sink(kafkaSink({ topic: 'out', brokers: ['127.0.0.1:1'] }));
    assert.throws(() => deployOnKafka(twice, app()), /keys its records 2 times.*one keyed stage/);

    const flat = new Pipeline({ name: 'f' });
    flat
      .source('in', source())
      .flatMap((e) => [e, e])
      .keyBy((e) => e.k)
      .reduce((a) => a)
      .sink(nullSink());
    assert.throws(
      () => deployOnKafka(flat, app()),
      /has a flatMap step.*only map and filter steps may come before its keyBy/,
    );
  });

  it('keys each record as the pipeline would: map and filter applied, dropped or failing records unkeyed', () => {
    const a = app();
    const p = new Pipeline({ name: 'k' });
    p.source('in', source())
      .filter((e) => e.n >= 0)
      .map((e) => {
        if (e.n === 13) throw new Error('unlucky');
        return { ...e, k: e.k.toUpperCase() };
      })
      .keyBy((e) => e.k)
      .reduce((x) => x)
      .sink(kafkaSink({ topic: 'out', brokers: ['127.0.0.1:1'] }));
    const keyBy = repartitionKey(p, 'in')!;
    deployOnKafka(p, a);
    assert.equal(
      p.scope.graph.nodes.get('in')!.source!.source.kind,
      'kafka-app',
      'the source is the application',
    );
    const sinks = [...p.scope.graph.nodes.values()].filter((n) => n.sink !== undefined && n.kind === 'sink');
    assert.deepEqual(
      sinks.map((n) => n.sink!.kind),
      ['kafka-app'],
      'the Kafka sink writes in the application',
    );
    assert.equal(keyBy({ k: 'x', n: 1 }), 'X');
    assert.equal(keyBy({ k: 'x', n: -1 }), undefined, 'filtered out: no key');
    assert.equal(keyBy({ k: 'x', n: 13 }), undefined, 'a map that throws: no key (the step dead-letters it)');
  });
});

describe('eddy run: a source that cannot replay', () => {
  it('runs, and says what a crash can lose', async () => {
    const r = await eddy(['run', push, '--quiet', '--checkpoint-dir', `/tmp/eddy-push-${process.pid}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /source "pushed" \(push\) cannot replay its input: .*at-most-once/);
    assert.match(r.stdout, /100 events/);
  });

  it('the ops server sees a several-stage application as one: metrics together, state queries by step', async () => {
    const fake = (n: number, split: string) =>
      ({
        metrics: () => ({
          restarts: n,
          moved: 0,
          rebalances: 1,
          loadBalance: { leader: false, probes: 0, loads: {} },
          commits: { count: 10 * n, failed: 0, lastMs: n, maxMs: 5 * n },
          tasks: [split],
          pipelines: { [split]: { sourceRecords: 100 * n } },
          restores: [],
          standbys: [],
          warmingUp: false,
          lag: { [split]: { lag: n, buffered: 0, end: 0, next: 0 } },
        }),
        queryState: async (step: string) => ({ from: n, step }),
      }) as unknown as KafkaApp;
    const view = stagesView(
      [fake(1, 'in:0'), fake(2, 'app-by-size-stage:0')],
      [
        { keyBy: '', parent: -1, steps: new Set(['in', 'sum']) },
        { keyBy: 'by-size', parent: 0, steps: new Set(['by-size', 'max']) },
      ],
    );
    const m = view.metrics();
    assert.deepEqual(m.tasks, ['in:0', 'app-by-size-stage:0']);
    assert.deepEqual(Object.keys(m.pipelines), ['in:0', 'app-by-size-stage:0']);
    assert.deepEqual([m.restarts, m.rebalances, m.commits.count, m.commits.maxMs], [3, 2, 30, 10]);
    assert.deepEqual(Object.keys(m.lag), ['in:0', 'app-by-size-stage:0']);
    assert.deepEqual(await view.queryState('max', 'k'), { from: 2, step: 'max' });
    assert.deepEqual(await view.queryState('sum', 'k'), { from: 1, step: 'sum' });
  });
});
