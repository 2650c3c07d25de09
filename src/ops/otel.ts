/**
 * A run's figures through OpenTelemetry (issue 17): the same per-step
 * counters the Prometheus endpoint exports, as observable instruments of the
 * meter `eddy` from `@opentelemetry/api`. Every run of `Pipeline.start` and
 * `eddy run` (embedded or threaded) registers them; whatever meter provider
 * the application registered before the run reads them at its own export
 * interval. With none registered the API hands out its no-op meter, whose
 * callbacks are never called: no cost.
 *
 * Names follow OpenTelemetry's conventions (dots, units in `unit`, no
 * `_total`); attributes are the pipeline and the step, never a key. Dead
 * letters carry `error.type` (the eddy error code), as the semantic
 * conventions name an error's class. Broker sources and sinks (those that
 * declare `messaging`) also report the messaging conventions' client
 * metrics: `messaging.client.consumed.messages` (what a source received:
 * its records and its dead letters) and `messaging.client.sent.messages`
 * (what a sink was handed, less what it dead-lettered), with
 * `messaging.system`, `messaging.destination.name` and
 * `messaging.operation.name` (`receive`, `send`).
 *
 * @example
 * ```ts
 * // The application's own set-up, before the pipeline starts:
 * metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter })] }));
 * await pipeline.run();   // eddy.step.records.in etc. reach the exporter
 * ```
 */
import { type Attributes, metrics, type ObservableCounter, type ObservableGauge } from '@opentelemetry/api';
import type { MessagingTarget, Sink, Source } from '../core/connector.ts';
import type { PipelineMetrics } from '../core/metrics.ts';

/** A broker step: what it reads or writes, and which way. */
export interface MessagingStep extends MessagingTarget {
  readonly operation: 'receive' | 'send';
}

/** The broker steps among a pipeline's steps (those whose connector declares `messaging`). */
export function messagingSteps(
  steps: Iterable<{
    readonly id: string;
    readonly source?: { readonly source: Source<unknown> };
    readonly sink?: Sink<unknown>;
  }>,
): Map<string, MessagingStep> {
  const out = new Map<string, MessagingStep>();
  for (const s of steps) {
    const m = s.source?.source.messaging;
    if (m !== undefined) out.set(s.id, { ...m, operation: 'receive' });
    const k = s.sink?.messaging;
    if (k !== undefined) out.set(s.id, { ...k, operation: 'send' });
  }
  return out;
}

/** Registers the run's instruments; call the result when the run has ended. */
export function observeWithOpenTelemetry(
  pipeline: string,
  read: () => PipelineMetrics,
  brokers: ReadonlyMap<string, MessagingStep> = new Map(),
): () => void {
  const meter = metrics.getMeter('eddy');
  const counter = (name: string, description: string, unit: string): ObservableCounter =>
    meter.createObservableCounter(name, { description, unit });
  const gauge = (name: string, description: string, unit: string): ObservableGauge =>
    meter.createObservableGauge(name, { description, unit });
  const recordsIn = counter('eddy.step.records.in', 'Records the step received.', '{record}');
  const recordsOut = counter(
    'eddy.step.records.out',
    'Records the step emitted on its main output.',
    '{record}',
  );
  const busy = counter('eddy.step.busy.time', 'Time the step spent processing batches.', 's');
  const backpressure = counter(
    'eddy.step.backpressure.time',
    'Time a source waited on downstream backpressure before reading again.',
    's',
  );
  const late = counter(
    'eddy.step.late_records',
    'Records after their window’s allowed lateness.',
    '{record}',
  );
  const dead = counter('eddy.step.dead_letters', 'Records the step sent to the dead letters.', '{record}');
  const lag = gauge(
    'eddy.watermark.lag',
    'Wall-clock time minus the pipeline’s watermark (how far event time is behind).',
    's',
  );
  const checkpoints = counter('eddy.checkpoints', 'Checkpoints completed and failed.', '{checkpoint}');
  const hotShare = gauge(
    'eddy.step.hot_key.share',
    'Keyed steps with hot keys on: the heaviest key’s share of the step’s load.',
    '1',
  );
  const stateEntries = gauge('eddy.step.state.entries', 'Entries in the step’s state tables.', '{entry}');
  const stateBytes = gauge(
    'eddy.step.state.size',
    'Encoded size of the step’s state in the last checkpoint.',
    'By',
  );
  const consumed = counter(
    'messaging.client.consumed.messages',
    'Messages a broker source received (records and dead letters).',
    '{message}',
  );
  const sent = counter(
    'messaging.client.sent.messages',
    'Messages handed to a broker sink to send (less those it dead-lettered).',
    '{message}',
  );
  const observables = [
    consumed,
    sent,
    recordsIn,
    recordsOut,
    busy,
    backpressure,
    late,
    dead,
    lag,
    checkpoints,
    hotShare,
    stateEntries,
    stateBytes,
  ];
  const callback = (result: {
    observe(observable: ObservableCounter | ObservableGauge, value: number, attributes?: Attributes): void;
  }) => {
    const m = read();
    for (const s of Object.values(m.steps)) {
      const a = { 'eddy.pipeline': pipeline, 'eddy.step': s.id, 'eddy.step.kind': s.kind };
      result.observe(recordsIn, s.recordsIn, a);
      result.observe(recordsOut, s.recordsOut, a);
      result.observe(busy, s.busyMicros / 1e6, a);
      if (s.kind === 'source') result.observe(backpressure, s.backpressureMs / 1e3, a);
      if (s.lateRecords > 0) result.observe(late, s.lateRecords, a);
      for (const [code, n] of Object.entries(s.deadLettersByCode))
        result.observe(dead, n, { ...a, 'error.type': code });
      if (s.stateEntries > 0) result.observe(stateEntries, s.stateEntries, a);
      if (s.stateBytes !== undefined && s.stateBytes > 0) result.observe(stateBytes, s.stateBytes, a);
      if (s.hotKeysTotal > 0 && s.hotKeys[0] !== undefined)
        result.observe(hotShare, s.hotKeys[0].count / s.hotKeysTotal, a);
      const broker = brokers.get(s.id);
      if (broker !== undefined) {
        const m = {
          ...a,
          'messaging.system': broker.system,
          'messaging.destination.name': broker.destination,
          'messaging.operation.name': broker.operation,
        };
        if (broker.operation === 'receive') result.observe(consumed, s.recordsOut + s.deadLetters, m);
        else result.observe(sent, s.recordsIn - s.deadLetters, m);
      }
    }
    if (Number.isFinite(m.watermark))
      result.observe(lag, Math.max(0, (Date.now() - m.watermark) / 1e3), { 'eddy.pipeline': pipeline });
    if (m.checkpoints !== undefined) {
      result.observe(checkpoints, m.checkpoints.completed, {
        'eddy.pipeline': pipeline,
        'eddy.result': 'completed',
      });
      result.observe(checkpoints, m.checkpoints.failed, {
        'eddy.pipeline': pipeline,
        'eddy.result': 'failed',
      });
    }
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
