/**
 * `eddy run <module> --kafka <brokers> --app-id <id>`: the same pipeline
 * module that runs embedded runs as one instance of a Kafka application
 * (`kafkaApp`: a consumer group, state in changelog topics, each partition's
 * output, offsets and state in one transaction). Start the command on several
 * machines with the same `--app-id` and they share the partitions; stop one
 * (SIGTERM or Ctrl-C) and it commits a savepoint and leaves the group.
 *
 * The module is built as it is embedded and run by `kafkaPipeline`
 * (`deploy/kafka/pipeline.ts`): one Kafka application per keyed stage, its
 * Kafka connectors made the application's (`deploy/kafka/deploy.ts`). This
 * file adds what a command line run has: signals, the progress line,
 * OpenTelemetry, the ops server and the summary.
 */
import type { Pipeline } from '../api/pipeline.ts';
import type { PipelineMetrics } from '../core/metrics.ts';
import { kafkaPipeline } from '../deploy/kafka/pipeline.ts';
import { type MessagingStep, messagingSteps, observeWithOpenTelemetry } from '../ops/otel.ts';
import type { RunOps } from '../ops/run-ops.ts';

export interface KafkaRunOptions {
  readonly file: string;
  readonly name: string;
  readonly build: () => Pipeline | Promise<Pipeline>;
  readonly brokers: readonly string[];
  readonly applicationId: string;
  readonly instanceId?: string;
  /** Where this instance answers state queries for the others (`KafkaAppOptions.endpoint`). */
  readonly endpoint?: string;
  /** How often each partition commits (ms); the application's default when undefined. */
  readonly commitIntervalMs?: number;
  /** Warm standby copies of each partition on other instances (`KafkaAppOptions.standbyReplicas`). */
  readonly standbyReplicas?: number;
  readonly progressMs: number;
  readonly quiet: boolean;
  /** Whether a SIGTERM came while eddy was loading: stop as soon as the application runs. */
  readonly terminatedEarly: boolean;
  /** The metrics server and health of the run (issue 17): given the application's metrics, assignments and commits. */
  readonly ops?: Pick<RunOps, 'attachKafka' | 'assigned' | 'onCheckpoint' | 'graph'>;
}

/** What `runOnKafka` saw: the partitions' merged metrics when it stopped, and restarts. */
export interface KafkaRunResult {
  readonly metrics: PipelineMetrics;
  readonly restarts: number;
  readonly seconds: number;
}

/**
 * Runs the module as one instance of the Kafka application until SIGTERM or
 * SIGINT, which stop it with a savepoint (each partition commits its state,
 * offsets and output without ending its input, then the instance leaves the
 * group); a second Ctrl-C exits at once (130). Rejects when the application
 * fails (its restart strategy gave up, or a misconfiguration).
 */
export async function runOnKafka(o: KafkaRunOptions): Promise<KafkaRunResult> {
  // A pipeline that keys a keyed stream again runs as one application per keyed stage (pipeline.ts).
  const kp = kafkaPipeline({
    applicationId: o.applicationId,
    brokers: o.brokers,
    ...(o.instanceId === undefined ? {} : { instanceId: o.instanceId }),
    ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
    ...(o.commitIntervalMs === undefined ? {} : { commitIntervalMs: o.commitIntervalMs }),
    ...(o.standbyReplicas === undefined ? {} : { standbyReplicas: o.standbyReplicas }),
  });
  const whole = await kp.plan(o.build);
  const apps = kp.apps;
  // The metrics server and dashboard see every stage, and the whole graph.
  o.ops?.attachKafka(kp.view());
  o.ops?.graph(whole.graph());
  const stop = new AbortController();
  const onStop = (signal: string) => () => {
    if (stop.signal.aborted) {
      if (signal === 'SIGINT') {
        process.stderr.write('\neddy: interrupted again — exiting at once\n');
        process.exit(130);
      }
      process.stderr.write('eddy: already stopping\n');
      return;
    }
    final = metrics(); // stopped partitions leave metrics(): their figures as of the stop
    process.stderr.write(
      `\neddy: ${signal} — each partition commits a savepoint (state, offsets, output), then this instance leaves the group${signal === 'SIGINT' ? ' (press again to exit at once)' : ''}\n`,
    );
    stop.abort();
  };
  // Every stage's steps; the input events are the first stage's.
  const metrics = (): PipelineMetrics => kp.metrics();
  let final = metrics();
  // The instance's figures (its partitions' together) through OpenTelemetry, as an embedded run's.
  // Its broker steps, known once the pipeline is built (on the first assignment).
  const brokers = new Map<string, MessagingStep>();
  const unobserve = observeWithOpenTelemetry(o.name, metrics, brokers);
  const onTerm = onStop('SIGTERM');
  const onInt = onStop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  if (o.terminatedEarly) onTerm();
  const started = performance.now();
  let last = { at: started, records: 0 };
  const ticker = o.quiet
    ? undefined
    : setInterval(() => {
        const m = metrics();
        const tasks = apps.flatMap((a) => a.metrics().tasks);
        const restarts = apps.reduce((n, a) => n + a.metrics().restarts, 0);
        const now = performance.now();
        const rate = Math.max(0, ((m.sourceRecords - last.records) * 1000) / (now - last.at));
        process.stderr.write(
          `eddy: ${((now - started) / 1000).toFixed(1)} s — ${m.sourceRecords.toLocaleString('en-US')} events on ${tasks.length === 0 ? 'no partitions yet' : tasks.join(' ')} (${Math.round(rate).toLocaleString('en-US')}/s)${restarts > 0 ? `; ${restarts} restarts` : ''}\n`,
        );
        last = { at: now, records: m.sourceRecords };
      }, o.progressMs);
  try {
    // Every stage runs until the stop; one that fails stops the others, and `run` rejects with it.
    await kp
      .run(o.build, {
        signal: stop.signal,
        onRestart: (reason) => process.stderr.write(`eddy: ${reason}\n`),
        onAssigned: (stage, partitions, generation) => {
          process.stderr.write(
            `eddy: ${o.name} (Kafka application ${stage.applicationId}) runs partitions ${partitions.length === 0 ? 'none' : partitions.join(', ')} (generation ${generation})\n`,
          );
          if (stage.index === 0) o.ops?.assigned(partitions, generation);
        },
        onBuilt: (p) => {
          for (const [step, target] of messagingSteps(p.scope.graph.nodes.values()))
            brokers.set(step, target);
        },
        ...(o.ops === undefined ? {} : { onCheckpoint: o.ops.onCheckpoint }),
      })
      .catch((e: unknown) => {
        if (!stop.signal.aborted) final = metrics();
        throw e;
      });
  } finally {
    unobserve();
    if (ticker !== undefined) clearInterval(ticker);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
  const now = metrics();
  return {
    metrics: now.sourceRecords >= final.sourceRecords ? now : final,
    restarts: apps.reduce((n, a) => n + a.metrics().restarts, 0),
    seconds: (performance.now() - started) / 1000,
  };
}
