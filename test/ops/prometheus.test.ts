import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gauge } from 'prom-client';
import type { PipelineMetrics, StepMetrics } from '../../src/core/metrics.ts';
import { RunHealth } from '../../src/ops/health.ts';
import { RunExporter } from '../../src/ops/prometheus.ts';
import { parseExposition } from './exposition.ts';

const step = (id: string, kind: string, recordsIn: number, watermark: number): StepMetrics => ({
  id,
  kind,
  recordsIn,
  recordsOut: recordsIn,
  batchesIn: 2,
  watermark,
  lateRecords: 1,
  deadLetters: 0,
  deadLettersByCode: {},
  lastDeadLetter: undefined,
  subtaskBusyMicros: [2500],
  hotKeys: [],
  hotKeysTotal: 0,
  stateEntries: 0,
  stateBytes: undefined,
  alignmentWaitMs: 0,
  backpressureMs: 1500,
  busyMicros: 2500,
  batchMicros: { count: 2, p50: 1000, p99: 1500, max: 1500 },
});

const pipeline = (records: number, watermark: number): PipelineMetrics => ({
  steps: {
    src: step('src', 'source', records, watermark),
    'win-1': step('win-1', 'window', records, watermark),
  },
  sourceRecords: records,
  watermark,
});

describe('Prometheus exporter (issue 17)', () => {
  it('a Kafka application: its counters, and each task’s figures labelled by partition', async () => {
    const health = new RunHealth();
    const exporter = new RunExporter({
      pipeline: 'orders',
      runId: 'k1',
      mode: 'kafka',
      health,
      processMetrics: false,
    });
    let app = {
      restarts: 2,
      moved: 1,
      tasks: ['in:0', 'in:1', 'orders-repartition:0'],
      pipelines: {} as Record<string, PipelineMetrics>,
      rebalances: 3,
      restores: [
        { partition: 0, ms: 900, records: 115, standby: false },
        { partition: 1, ms: 40, records: 2, standby: false },
        { partition: 0, ms: 8, records: 0, standby: true },
      ],
      restoring: [
        { partition: 2, at: 1_700_000_000_000, records: 250, offset: 250, end: 1000, standby: false },
        { partition: 3, at: 1_700_000_001_500, records: 0, offset: -1, end: -1, standby: true },
      ],
    };
    exporter.attachKafka(() => app);
    health.unready('starting: waiting for partitions');
    let m = parseExposition(await exporter.scrape());
    assert.equal(m.get('eddy_ready'), 0);
    assert.equal(m.get('eddy_kafka_tasks'), 3);
    assert.equal(m.get('eddy_kafka_restarts_total'), 2);
    assert.equal(m.get('eddy_kafka_tasks_moved_total'), 1);
    assert.equal(m.get('eddy_kafka_task_info', { partition: 'in:1' }), 1);
    assert.equal(m.get('eddy_kafka_rebalances_total'), 3);
    // The last restore of each partition: 0 came back from the warm standby.
    assert.equal(m.get('eddy_kafka_last_restore_seconds', { partition: '0', standby: 'true' }), 0.008);
    assert.equal(m.get('eddy_kafka_last_restore_seconds', { partition: '0', standby: 'false' }), undefined);
    assert.equal(m.get('eddy_kafka_last_restore_records', { partition: '1' }), 2);
    // Restores under way: read so far, what is left once the read has begun, and when each began.
    assert.equal(m.get('eddy_kafka_restore_in_progress_records', { partition: '2' }), 250);
    assert.equal(m.get('eddy_kafka_restore_in_progress_records', { partition: '3' }), 0);
    assert.equal(m.get('eddy_kafka_restore_in_progress_remaining_offsets', { partition: '2' }), 750);
    assert.equal(m.get('eddy_kafka_restore_in_progress_remaining_offsets', { partition: '3' }), undefined);
    assert.equal(
      m.get('eddy_kafka_restore_in_progress_start_time_seconds', { partition: '3' }),
      1_700_000_001.5,
    );
    assert.equal(m.get('eddy_restarts_total'), undefined);

    app = {
      ...app,
      pipelines: {
        'orders-repartition:0': pipeline(10, 5000),
        'orders-repartition:1': pipeline(7, Number.NEGATIVE_INFINITY),
      },
      restoring: [],
    };
    health.running();
    m = parseExposition(await exporter.scrape());
    assert.equal(m.get('eddy_ready'), 1);
    // The restores have finished: nothing under way is left behind.
    assert.equal(m.get('eddy_kafka_restore_in_progress_records', { partition: '2' }), undefined);
    assert.equal(
      m.get('eddy_step_records_in_total', {
        partition: 'orders-repartition:0',
        step: 'win-1',
        kind: 'window',
      }),
      10,
    );
    assert.equal(m.get('eddy_step_records_in_total', { partition: 'orders-repartition:1', step: 'src' }), 7);
    assert.equal(m.get('eddy_source_records_total', { partition: 'orders-repartition:1' }), 7);
    assert.equal(m.get('eddy_step_watermark_seconds', { partition: 'orders-repartition:0', step: 'src' }), 5);
    // No watermark yet: no sample (not -Inf).
    assert.equal(
      m.get('eddy_step_watermark_seconds', { partition: 'orders-repartition:1', step: 'src' }),
      undefined,
    );
    assert.equal(
      m.get('eddy_step_backpressure_seconds_total', { partition: 'orders-repartition:0', step: 'src' }),
      1.5,
    );
    assert.equal(
      m.get('eddy_step_backpressure_seconds_total', { partition: 'orders-repartition:0', step: 'win-1' }),
      undefined,
    );
    assert.equal(
      m.get('eddy_step_batch_duration_seconds', {
        partition: 'orders-repartition:0',
        step: 'src',
        quantile: '0.99',
      }),
      0.0015,
    );
    assert.equal(
      m.get('eddy_step_batch_duration_seconds_sum', { partition: 'orders-repartition:0', step: 'src' }),
      0.0025,
    );
    assert.equal(
      m.get('eddy_step_batch_duration_seconds_count', { partition: 'orders-repartition:0', step: 'src' }),
      2,
    );

    exporter.observeCheckpoint({ kind: 'checkpoint', bytes: 5000, alignmentMs: 2, durationMs: 30 });
    exporter.observeCheckpoint({
      kind: 'checkpoint',
      bytes: 0,
      alignmentMs: 0,
      durationMs: 1,
      error: new Error('x'),
    });
    m = parseExposition(await exporter.scrape());
    assert.equal(m.get('eddy_checkpoint_duration_seconds_count', { kind: 'checkpoint' }), 1);
    assert.equal(m.get('eddy_checkpoint_duration_seconds_bucket', { kind: 'checkpoint', le: '0.025' }), 0);
    assert.equal(m.get('eddy_checkpoint_duration_seconds_bucket', { kind: 'checkpoint', le: '0.05' }), 1);
    assert.equal(m.get('eddy_checkpoint_size_bytes_sum', { kind: 'checkpoint' }), 5000);
  });

  it('no per-key labels: only step, kind, partition, quantile, le and the run’s own', async () => {
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    exporter.attach(() => ({ ...pipeline(3, 1000), restarts: 1 }));
    exporter.observeCheckpoint({ kind: 'savepoint', bytes: 10, alignmentMs: 1, durationMs: 2 });
    const m = parseExposition(await exporter.scrape());
    const names = new Set(m.samples.flatMap((s) => Object.keys(s.labels)));
    assert.deepEqual([...names].sort(), ['kind', 'le', 'mode', 'pipeline', 'quantile', 'run_id', 'step']);
    assert.equal(m.get('eddy_restarts_total'), 1);
    for (const name of m.types.keys()) assert.match(name, /^eddy_[a-z_]+$/);
  });

  it('spells NaN as the exposition format does (prom-client writes "Nan")', async () => {
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    new Gauge({ name: 'eddy_test_not_a_number', help: 'a NaN sample', registers: [exporter.registry] }).set(
      Number.NaN,
    );
    const text = await exporter.scrape();
    assert.match(text, /^eddy_test_not_a_number NaN$/m);
    assert.ok(Number.isNaN(parseExposition(text).get('eddy_test_not_a_number')));
  });

  it("preAggregate: 'auto': whether it spreads now and how often it changed", async () => {
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    const spread = {
      on: true,
      switches: 3,
      probes: 2,
      localMicrosPerRecord: 4,
      spreadMicrosPerRecord: 2.5,
    };
    exporter.attach(() => ({ ...pipeline(3, 1000), spread }));
    const m = parseExposition(await exporter.scrape());
    assert.equal(m.get('eddy_spread'), 1);
    assert.equal(m.get('eddy_spread_switches_total'), 3);
    const without = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    without.attach(() => pipeline(3, 1000));
    // Without it, 0 as every labelless gauge the run does not set (prom-client's default).
    const n = parseExposition(await without.scrape());
    assert.equal(n.get('eddy_spread'), 0);
    assert.equal(n.get('eddy_spread_switches_total'), 0);
  });

  it('scrapes arriving together read the run once', async () => {
    let reads = 0;
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    exporter.attach(() => {
      reads++;
      return pipeline(1, 1);
    });
    const texts = await Promise.all([exporter.scrape(), exporter.scrape(), exporter.scrape()]);
    assert.equal(reads, 1);
    assert.equal(new Set(texts).size, 1);
  });
});
