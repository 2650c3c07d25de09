/**
 * The live dashboard's server side (issue 17, `eddy run --ui`): once a second
 * it reads the run's metrics, turns counters into rates and busy fractions
 * over the interval, keeps five minutes of history and the last checkpoints,
 * and pushes the result to every page that listens (Server-Sent Events). A
 * page gets an `init` message (graph, history, state) when it connects, then
 * a `state` message a second. Nothing is sampled while no page listens
 * except the cheap counters the history needs.
 *
 * The page itself is `web/dashboard/` (plain TypeScript, dagre for the job
 * graph's layout, uPlot for the charts), bundled into `web/dist/` by
 * `npm run build:ui`; the bundle is committed so a fresh `npm ci` serves it.
 *
 * @example
 * ```ts
 * const dash = new Dashboard({ pipeline: 'iot', runId: 'r1', mode: 'embedded', parallelism: 1, health });
 * dash.setGraph(pipeline.graph());
 * dash.attach(() => running.metrics());
 * // metrics-server.ts routes GET /api/events to dash.subscribe(res)
 * dash.close();
 * ```
 */
import type { ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
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
import { mergeMetrics } from '../runtime/controller.ts';
import type {
  CheckpointView,
  DashboardInit,
  DashboardState,
  KafkaView,
  Sample,
  ScaleView,
  StepView,
} from './dashboard-state.ts';
import type { RunHealth } from './health.ts';
import type { CheckpointFigures, KafkaAppView } from './prometheus.ts';
import { recommend } from './scale.ts';

export interface DashboardOptions {
  readonly pipeline: string;
  readonly runId: string;
  readonly mode: 'embedded' | 'threads' | 'kafka';
  /** Subtasks per step (worker threads); 1 for embedded and Kafka runs (one thread). */
  readonly parallelism: number;
  readonly health: RunHealth;
  /** Sampling period; default 1000 ms. */
  readonly intervalMs?: number;
}

const HISTORY = 300;
const CHECKPOINTS = 30;
/** Pages listening at once; more get 503 (each costs one JSON encode a second). */
const MAX_LISTENERS = 16;
/** A page that does not read its events is dropped past this many buffered bytes. */
const MAX_BUFFERED = 1 << 20;

interface Previous {
  readonly at: number;
  readonly metrics: PipelineMetrics | undefined;
  readonly tasks: ReadonlyMap<string, number>;
}

export class Dashboard {
  readonly #o: DashboardOptions;
  #graph: JobGraph | null = null;
  #embedded: (() => PipelineMetrics) | undefined;
  #kafka: (() => KafkaAppView) | undefined;
  #query: ((step: string, key: Key) => Promise<KeyState>) | undefined;
  #scan: ((step: string, o: StateScanOptions) => Promise<StateScan>) | undefined;
  #locate: ((key: Key) => Promise<KeyLocation>) | undefined;
  #instances: (() => Promise<AppInstance[]>) | undefined;
  readonly #history: Sample[] = [];
  readonly #checkpoints: CheckpointView[] = [];
  #completed = 0;
  #failed = 0;
  #previous: Previous | undefined;
  #state: DashboardState;
  readonly #listeners = new Set<ServerResponse>();
  readonly #loop = monitorEventLoopDelay({ resolution: 10 });
  readonly #timer: NodeJS.Timeout;

  constructor(options: DashboardOptions) {
    this.#o = options;
    this.#loop.enable();
    this.#state = this.#sample();
    this.#timer = setInterval(() => this.#tick(), options.intervalMs ?? 1000);
    this.#timer.unref();
  }

  setGraph(graph: JobGraph): void {
    this.#graph = graph;
  }

  attach(read: () => PipelineMetrics): void {
    this.#embedded = read;
  }

  attachKafka(read: () => KafkaAppView): void {
    this.#kafka = read;
  }

  /** How `/state/<step>?prefix=` scans a step's keys (an embedded or threaded run's `scanState`). */
  attachScan(scan: (step: string, o: StateScanOptions) => Promise<StateScan>): void {
    this.#scan = scan;
  }

  /** A scan of a step's keys; undefined when the run cannot be scanned (a Kafka application). */
  async scan(step: string, o: StateScanOptions): Promise<StateScan | undefined> {
    return this.#scan === undefined ? undefined : this.#scan(step, o);
  }

  /** How `/api/query` reads a key's state (an embedded or threaded run's `queryState`). */
  attachQuery(query: (step: string, key: Key) => Promise<KeyState>): void {
    this.#query = query;
  }

  /**
   * How a Kafka application tells where a key's partition runs and which
   * instances it has (`KafkaApp.locate`, `KafkaApp.instances`): queries for
   * keys elsewhere are then redirected, and scans ask every instance.
   */
  attachInstances(locate: (key: Key) => Promise<KeyLocation>, instances: () => Promise<AppInstance[]>): void {
    this.#locate = locate;
    this.#instances = instances;
  }

  /** The application's instances, when the run is a Kafka application's. */
  instances(): Promise<AppInstance[]> | undefined {
    return this.#instances?.();
  }

  /**
   * A key's state in a step (`GET /api/query?step=&key=`): the key as a
   * string, or — when that has no state and it reads as a number — as a
   * number; `pinned` asks for one form only. In a Kafka application, a form
   * whose partition another instance runs is not read here: when no form
   * read here has state, the answer is where that form lives. Undefined
   * when the run cannot be queried.
   */
  async query(step: string, key: string, pinned?: Key): Promise<KeyState | KeyLocation | undefined> {
    const query = this.#query;
    if (query === undefined) return undefined;
    const forms: Key[] =
      pinned !== undefined ? [pinned] : /^-?\d+(\.\d+)?$/.test(key) ? [key, Number(key)] : [key];
    let first: KeyState | undefined;
    let away: KeyLocation | undefined;
    for (const form of forms) {
      if (this.#locate !== undefined) {
        const where = await this.#locate(form);
        if (!where.local) {
          away ??= where;
          continue;
        }
      }
      const state = await query(step, form);
      if (state.entries.length > 0) return state;
      first ??= state;
    }
    return away ?? first;
  }

  observeCheckpoint(info: CheckpointFigures): void {
    if (info.error === undefined) this.#completed++;
    else this.#failed++;
    this.#checkpoints.push({
      at: Date.now(),
      kind: info.kind,
      durationMs: info.durationMs,
      bytes: info.bytes,
      alignmentMs: info.alignmentMs,
      error: info.error === undefined ? null : String((info.error as Error)?.message ?? info.error),
    });
    if (this.#checkpoints.length > CHECKPOINTS) this.#checkpoints.shift();
  }

  /** What a page gets first. */
  init(): DashboardInit {
    return {
      pipeline: this.#o.pipeline,
      runId: this.#o.runId,
      mode: this.#o.mode,
      parallelism: this.#o.parallelism,
      graph: this.#graph,
      history: this.#history,
      state: this.#state,
    };
  }

  /** The latest state (`GET /api/state`). */
  state(): DashboardState {
    return this.#state;
  }

  /** Streams `init`, then every state, to `res` until the page goes away; false when too many listen. */
  subscribe(res: ServerResponse): boolean {
    if (this.#listeners.size >= MAX_LISTENERS) return false;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setTimeout(0);
    this.#listeners.add(res);
    res.on('close', () => this.#listeners.delete(res));
    res.write(`retry: 2000\nevent: init\ndata: ${JSON.stringify(this.init())}\n\n`);
    return true;
  }

  /** Ends every stream and stops sampling. */
  close(): void {
    clearInterval(this.#timer);
    this.#loop.disable();
    for (const res of this.#listeners) res.end();
    this.#listeners.clear();
  }

  #tick(): void {
    this.#state = this.#sample();
    if (this.#listeners.size === 0) return;
    const message = `event: state\ndata: ${JSON.stringify(this.#state)}\n\n`;
    for (const res of this.#listeners) {
      if (res.writableLength > MAX_BUFFERED) {
        res.destroy();
        this.#listeners.delete(res);
      } else res.write(message);
    }
  }

  #sample(): DashboardState {
    const at = Date.now();
    const app = this.#kafka?.();
    const perTask = app === undefined ? undefined : Object.entries(app.pipelines);
    const m: PipelineMetrics | undefined =
      app !== undefined ? mergeMetrics(perTask!.map(([, p]) => p)) : this.#embedded?.();
    const prev = this.#previous;
    const dt = prev === undefined ? 0 : (at - prev.at) / 1000;
    const rate = (now: number, before: number | undefined) =>
      dt > 0 && before !== undefined ? Math.max(0, (now - before) / dt) : 0;
    const threads = Math.max(1, this.#o.parallelism);
    const scale =
      m !== undefined && prev?.metrics !== undefined && dt > 0
        ? recommend(prev.metrics, m, { seconds: dt, parallelism: threads })
        : undefined;
    const scaled = new Map(scale?.steps.map((x) => [x.id, x]));
    const steps: StepView[] = [];
    let inRate = 0;
    let outRate = 0;
    for (const s of Object.values(m?.steps ?? {})) {
      const before = prev?.metrics?.steps[s.id];
      const ds2 = scaled.get(s.id);
      const view: StepView = {
        id: s.id,
        kind: s.kind,
        recordsIn: s.recordsIn,
        recordsOut: s.recordsOut,
        inRate: rate(s.recordsIn, before?.recordsIn),
        outRate: rate(s.recordsOut, before?.recordsOut),
        busy: fraction(s.busyMicros - (before?.busyMicros ?? s.busyMicros), dt * 1e6 * threads),
        backpressure: fraction(
          s.backpressureMs - (before?.backpressureMs ?? s.backpressureMs),
          dt * 1e3 * threads,
        ),
        watermark: Number.isFinite(s.watermark) ? s.watermark : null,
        lateRecords: s.lateRecords,
        deadLetters: s.deadLetters,
        deadLettersByCode: s.deadLettersByCode ?? {},
        lastDeadLetter: s.lastDeadLetter ?? null,
        p99Micros: s.batchMicros.p99,
        stateEntries: s.stateEntries ?? 0,
        stateBytes: s.stateBytes ?? null,
        hotKeys: (s.hotKeys ?? []).slice(0, 5).map((h) => ({
          key: String(h.key),
          share: s.hotKeysTotal > 0 ? h.count / s.hotKeysTotal : 0,
        })),
        // Keyed steps only: elsewhere subtasks idle by design (a gathered sink runs in subtask 0).
        skew: s.hotKeysTotal > 0 ? skew(s.subtaskBusyMicros, before?.subtaskBusyMicros) : null,
        trueRate: ds2?.trueRate ?? null,
        needed: ds2?.needed ?? null,
      };
      steps.push(view);
      if (s.kind === 'source') inRate += view.outRate;
      if (s.kind === 'sink') outRate += view.inRate;
    }
    const scaleView: ScaleView = {
      bottleneck: scale?.bottleneck ?? null,
      sustainableRate:
        scale === undefined || !Number.isFinite(scale.sustainableRate) ? null : scale.sustainableRate,
      parallelism: scale?.parallelism ?? threads,
    };
    const tasks = new Map<string, number>();
    let kafka: KafkaView | null = null;
    if (app !== undefined) {
      // Every task the instance runs: key-group tasks have pipelines, forwarding tasks only lag.
      const partitions = app.tasks.map((task) => {
        const records = app.pipelines[task]?.sourceRecords ?? 0;
        tasks.set(task, records);
        return {
          task,
          records,
          rate: rate(records, prev?.tasks.get(task)),
          lag: app.lag?.[task]?.lag ?? -1,
          buffered: app.lag?.[task]?.buffered ?? 0,
        };
      });
      kafka = {
        tasks: app.tasks,
        restarts: app.restarts,
        rebalances: app.rebalances ?? 0,
        partitions,
        restores: app.restores ?? [],
      };
    }
    this.#previous = { at, metrics: m, tasks };
    const mem = process.memoryUsage();
    const sample: Sample = {
      t: at / 1000,
      inRate,
      outRate,
      rssMb: mem.rss / 2 ** 20,
      heapMb: mem.heapUsed / 2 ** 20,
      loopP99Ms: this.#loop.count > 0 ? this.#loop.percentile(99) / 1e6 : 0,
    };
    this.#loop.reset();
    this.#history.push(sample);
    if (this.#history.length > HISTORY) this.#history.shift();
    const health = this.#o.health.liveness().body;
    return {
      at,
      phase: health.phase,
      reason: health.reason,
      sourceRecords: m?.sourceRecords ?? 0,
      restarts: m?.restarts ?? app?.restarts ?? 0,
      steps,
      checkpoints: [...this.#checkpoints],
      checkpointsCompleted: m?.checkpoints?.completed ?? this.#completed,
      checkpointsFailed: m?.checkpoints?.failed ?? this.#failed,
      kafka,
      scale: scaleView,
      sample,
    };
  }
}

/** Max ÷ mean of the subtasks' busy time over the interval; null with one subtask or no work. */
function skew(now: readonly number[] | undefined, before: readonly number[] | undefined): number | null {
  if (now === undefined || now.length < 2) return null;
  const spent = now.map((x, i) => x - (before?.[i] ?? x));
  const mean = spent.reduce((a, b) => a + b, 0) / spent.length;
  return mean > 0 ? Math.max(...spent) / mean : null;
}

function fraction(part: number, whole: number): number {
  return whole > 0 ? Math.min(1, Math.max(0, part / whole)) : 0;
}
