/**
 * A run's figures through OpenTelemetry (issue 17): with a meter provider
 * registered (the SDK, as an application would), the observable instruments
 * of meter `eddy` report the same counts as the run's `metrics()`; when the
 * run ends they are gone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { type DataPoint, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { arraySource, collectSink, Pipeline, type Sink, type Source } from '../../src/index.ts';
import { eventually } from './exposition.ts';
import { build, expected } from './fixtures/held-open.ts';

class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const reader = new TestReader();
const provider = new MeterProvider({ readers: [reader] });
metrics.setGlobalMeterProvider(provider);
after(async () => {
  metrics.disable();
  await provider.shutdown();
});

/** Every data point of `name`, read now. */
async function points(name: string): Promise<DataPoint<number>[]> {
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics
    .filter((s) => s.scope.name === 'eddy')
    .flatMap((s) => s.metrics)
    .filter((m) => m.descriptor.name === name)
    .flatMap((m) => m.dataPoints as DataPoint<number>[]);
}

const at = (ps: DataPoint<number>[], attrs: Record<string, string>) =>
  ps.filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)).map((p) => p.value);

describe('OpenTelemetry metrics (issue 17)', () => {
  it('report the run’s counts per step, dead letters by error.type, checkpoints, hot keys', {
    timeout: 60_000,
  }, async () => {
    const events = 5000;
    const { deadLetters, kept } = expected(events);
    const dir = mkdtempSync(join(tmpdir(), 'h7-otel-'));
    const running = await build(events).start({ checkpoints: { dir, intervalMs: 0 }, hotKeys: true });
    try {
      await eventually(
        async () =>
          (await points('eddy.step.records.in')).some(
            (p) => p.attributes['eddy.step'] === 'sum' && p.value === kept,
          )
            ? true
            : undefined,
        30_000,
        `${kept} records into "sum"`,
      );
      await running.checkpoint();
      const m = running.metrics();
      assert.deepEqual(
        at(await points('eddy.step.records.out'), { 'eddy.step': 'readings', 'eddy.step.kind': 'source' }),
        [events],
      );
      assert.deepEqual(
        at(await points('eddy.step.records.in'), { 'eddy.pipeline': 'held-open', 'eddy.step': 'check' }),
        [events],
      );
      assert.deepEqual(
        at(await points('eddy.step.dead_letters'), {
          'eddy.step': 'check',
          'error.type': 'EDDY_USER_FUNCTION_FAILED',
        }),
        [deadLetters],
      );
      assert.deepEqual(at(await points('eddy.checkpoints'), { 'eddy.result': 'completed' }), [
        m.checkpoints!.completed,
      ]);
      const busy = at(await points('eddy.step.busy.time'), { 'eddy.step': 'sum' });
      assert.equal(busy.length, 1);
      assert.ok(busy[0]! > 0);
      const share = at(await points('eddy.step.hot_key.share'), { 'eddy.step': 'sum' });
      assert.ok(Math.abs(share[0]! - 1 / 7) < 0.04, `hot key share ${share[0]}`);
    } finally {
      running.stop();
      await running.done;
      rmSync(dir, { recursive: true, force: true });
    }
    // The run ended and its callback is gone: what a collection still shows is the last value.
    const afterEnd = await points('eddy.step.records.in');
    assert.ok(afterEnd.every((p) => p.attributes['eddy.step'] !== 'sum' || p.value === kept));
  });

  it('broker sources and sinks report the messaging conventions’ client metrics', {
    timeout: 60_000,
  }, async () => {
    // Connectors declaring `messaging`, as the broker connectors do; no broker needed for the figures.
    const inner = arraySource(Array.from({ length: 100 }, (_, i) => ({ id: i, pad: i === 7 ? 'big' : '' })));
    const source: Source<{ id: number; pad: string }> = {
      ...inner,
      messaging: { system: 'kafka', destination: 'orders' },
      // Held open once read (the instruments report while the run runs).
      async open(ctx) {
        const r = await inner.open(ctx);
        return { ...r, poll: async (max) => (await r.poll(max)) ?? { values: [] } };
      },
    };
    const out = collectSink<{ id: number }>();
    const sink: Sink<{ id: number; pad: string }> = {
      kind: 'test-broker',
      guarantee: 'at-least-once',
      messaging: { system: 'rabbitmq', destination: 'orders-out' },
      async open(ctx) {
        const w = await out.open(ctx);
        return {
          write(values, times) {
            // One record refused for its size, as a broker sink does with refuse().
            for (const v of values)
              if (v.pad === 'big') ctx.deadLetter?.('EDDY_RECORD_REFUSED', 'too big', v);
            return w.write(
              values.filter((v) => v.pad !== 'big'),
              times,
            );
          },
        };
      },
    };
    const p = new Pipeline({ name: 'brokers' });
    p.source('orders', source).sink(sink, 'publish');
    p.deadLetters().sink(collectSink(), 'dead');
    const running = await p.start({ parallelism: 1 });
    const ours = async (name: string) =>
      (await points(name)).filter((q) => q.attributes['eddy.pipeline'] === 'brokers');
    await eventually(
      async () => ((await ours('messaging.client.sent.messages'))[0]?.value === 99 ? true : undefined),
      30_000,
      'the sink handed 99',
    );
    const consumed = await ours('messaging.client.consumed.messages');
    const sent = await ours('messaging.client.sent.messages');
    running.stop();
    await running.done;
    assert.deepEqual(
      consumed.map((q) => [q.value, q.attributes]),
      [
        [
          100,
          {
            'eddy.pipeline': 'brokers',
            'eddy.step': 'orders',
            'eddy.step.kind': 'source',
            'messaging.system': 'kafka',
            'messaging.destination.name': 'orders',
            'messaging.operation.name': 'receive',
          },
        ],
      ],
    );
    assert.deepEqual(
      sent.map((q) => [
        q.value,
        q.attributes['messaging.system'],
        q.attributes['messaging.destination.name'],
      ]),
      [[99, 'rabbitmq', 'orders-out']],
    );
  });
});
