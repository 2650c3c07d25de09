/**
 * What `eddy run` adds around a run for operating it (issue 17), in one
 * object the CLI holds: the log, the health of the run, and — with
 * `--metrics-port` — the Prometheus exporter and the HTTP server, started
 * before the run (so `/readyz` answers 503 while state is restored) and
 * closed when it ends. prom-client is loaded only when a port is given.
 *
 * @example
 * ```ts
 * const ops = await startRunOps(options, { pipeline: 'iot', mode: 'embedded' });
 * const running = await pipeline.start({ onCheckpoint: ops.onCheckpoint }).catch(ops.fail);
 * ops.attach(running);
 * await running.done.catch(ops.fail);
 * await ops.end();
 * ```
 */
import { randomUUID } from 'node:crypto';
import type { Key } from '../core/key-groups.ts';
import type {
  AppInstance,
  KeyLocation,
  KeyState,
  PipelineMetrics,
  StateScan,
  StateScanOptions,
} from '../core/metrics.ts';
import type { JobGraph } from '../plan/job-graph.ts';
import type { Dashboard } from './dashboard.ts';
import { RunHealth } from './health.ts';
import { type RunLog, runLog } from './log.ts';
import type { MetricsServer } from './metrics-server.ts';
import type { OpsOptions } from './options.ts';
import type { CheckpointFigures, KafkaAppView, RunExporter } from './prometheus.ts';
import { type PartitionProgress, StallWatch } from './stall.ts';

export interface RunOps {
  readonly runId: string;
  readonly log: RunLog;
  readonly health: RunHealth;
  /** The server's address, when one listens. */
  readonly url: string | undefined;
  /** The pipeline's steps, for the dashboard to draw (with `--ui`). */
  graph(graph: JobGraph): void;
  /** For `RunOptions.onCheckpoint` (and a Kafka application's commits). */
  readonly onCheckpoint: (info: CheckpointFigures) => void;
  /** The run started (state restored, sources open): ready, and scrapes read its metrics. */
  attach(running: {
    metrics(): PipelineMetrics;
    queryState?(step: string, key: Key): Promise<KeyState>;
    scanState?(step: string, o: StateScanOptions): Promise<StateScan>;
  }): void;
  /** A Kafka application runs: scrapes read its tasks; ready once partitions are assigned (see `assigned`). */
  attachKafka(app: {
    metrics(): KafkaAppView;
    queryState?(step: string, key: Key): Promise<KeyState>;
    scanState?(step: string, o: StateScanOptions): Promise<StateScan>;
    /** Where a key's partition runs, and the application's instances: state queries across instances. */
    locate?(key: Key): Promise<KeyLocation>;
    instances?(): Promise<AppInstance[]>;
  }): void;
  /** A Kafka application's partitions were assigned and their tasks restored. */
  assigned(partitions: readonly number[], generation: number): void;
  /** The run failed and restarts: not ready during the backoff; `line` is the CLI's line for it. */
  restarting(info: { error: unknown; restart: number; delayMs: number }, line: string): void;
  /** The run failed (for good): not live; the server closes. Rethrows `error`. */
  readonly fail: (error: unknown) => Promise<never>;
  /** The run ended (input done, or stopped with a savepoint: say so in `reason`): the server closes. */
  end(reason?: string): Promise<void>;
}

export async function startRunOps(
  options: OpsOptions,
  run: {
    readonly pipeline: string;
    readonly mode: 'embedded' | 'threads' | 'kafka';
    /** Subtasks per step (worker threads); default 1. */
    readonly parallelism?: number;
  },
): Promise<RunOps> {
  const runId = randomUUID().slice(0, 8);
  const log = await runLog({
    level: options.logLevel,
    format: options.logFormat,
    pipeline: run.pipeline,
    runId,
  });
  const health = new RunHealth();
  let exporter: RunExporter | undefined;
  let server: MetricsServer | undefined;
  let dashboard: Dashboard | undefined;
  if (options.metrics !== undefined) {
    const [{ RunExporter }, { startMetricsServer }, ui] = await Promise.all([
      import('./prometheus.ts'),
      import('./metrics-server.ts'),
      options.ui ? import('./dashboard.ts') : undefined,
    ]);
    exporter = new RunExporter({ pipeline: run.pipeline, runId, mode: run.mode, health });
    dashboard =
      ui === undefined
        ? undefined
        : new ui.Dashboard({
            pipeline: run.pipeline,
            runId,
            mode: run.mode,
            parallelism: run.parallelism ?? 1,
            health,
          });
    server = await startMetricsServer(options.metrics, exporter, health, dashboard).catch((e: unknown) => {
      dashboard?.close();
      throw e;
    });
    log.info(`eddy: metrics on ${server.url}/metrics (health: /healthz, /readyz)`, {
      url: server.url,
      mode: run.mode,
    });
    if (dashboard !== undefined)
      log.info(
        `eddy: dashboard on ${server.url}/${options.metrics.token === undefined ? '' : '?token=<your token>'}`,
        { url: `${server.url}/` },
      );
  }
  // Draining or writing a savepoint: no longer ready. The CLI's own handlers do the stopping.
  const onSignal = (signal: string) => () => health.stopping(`stopping: ${signal}`);
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  let stallTimer: ReturnType<typeof setInterval> | undefined;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      if (stallTimer !== undefined) clearInterval(stallTimer);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      dashboard?.close();
      await server?.close();
      log.flush();
    })();
    return closed;
  };
  return {
    runId,
    log,
    health,
    url: server?.url,
    graph: (graph) => dashboard?.setGraph(graph),
    onCheckpoint: (info) => {
      exporter?.observeCheckpoint(info);
      dashboard?.observeCheckpoint(info);
    },
    attach(running) {
      exporter?.attach(() => running.metrics());
      dashboard?.attach(() => running.metrics());
      const query = running.queryState?.bind(running);
      if (query !== undefined) dashboard?.attachQuery(query);
      const scan = running.scanState?.bind(running);
      if (scan !== undefined) dashboard?.attachScan(scan);
      health.running();
    },
    attachKafka(app) {
      exporter?.attachKafka(() => app.metrics());
      dashboard?.attachKafka(() => app.metrics());
      const query = app.queryState?.bind(app);
      if (query !== undefined) dashboard?.attachQuery(query);
      const scan = app.scanState?.bind(app);
      if (scan !== undefined) dashboard?.attachScan(scan);
      if (app.locate !== undefined && app.instances !== undefined)
        dashboard?.attachInstances(app.locate.bind(app), app.instances.bind(app));
      // Someone probes the instance: a partition with input that does not move makes it unhealthy.
      if (server !== undefined && options.stallTimeoutMs > 0) {
        const watch = new StallWatch(options.stallTimeoutMs);
        let said: string | undefined;
        stallTimer = setInterval(() => {
          const m = app.metrics();
          const progress: Record<string, PartitionProgress> = {};
          for (const [split, l] of Object.entries(m.lag ?? {}))
            progress[split] = { ...l, processed: m.pipelines[split]?.sourceRecords ?? 0 };
          const stuck = watch.observe(progress, Date.now());
          // Said once when it starts (the seconds in the reason move on) and once when it ends.
          const partition = stuck?.split(' ')[2];
          if (partition !== said) {
            if (stuck !== undefined) log.warn(`eddy: ${stuck}`, {});
            else log.info(`eddy: partition ${said} moves again`, {});
            said = partition;
          }
          health.stuck(stuck);
        }, 1000);
        stallTimer.unref();
      }
      health.unready('starting: joining the group, waiting for partitions and restoring their state');
    },
    assigned(partitions, generation) {
      health.running(
        `running: generation ${generation}, partitions ${partitions.length === 0 ? 'none' : partitions.join(', ')} assigned and restored`,
      );
    },
    restarting(info, line) {
      health.restarting(info.restart, info.delayMs, info.error);
      log.warn(line, { restart: info.restart, delayMs: info.delayMs });
    },
    fail: async (error) => {
      health.failed(error);
      if (log.json) log.error(`the run failed: ${String((error as Error)?.message ?? error)}`);
      await close();
      throw error;
    },
    async end(reason) {
      health.finished(reason);
      await close();
    },
  };
}
