/**
 * A job whose subtasks run in worker threads, one per core: subtask 0 in this
 * thread (where sinks run), subtask k in worker k. Each thread builds the same
 * pipeline from its module, so user functions never cross threads; records do,
 * in batches, over a direct link between every two subtasks. Keyed records go
 * to the subtask that owns their key group, exactly as between in-thread
 * subtasks, so results are the same at any parallelism.
 *
 * Checkpoints use the same coordinator as in-thread subtasks
 * (`checkpoint/coordinator.ts`): this thread drives each worker's phases by
 * messages, and quiescence includes every link being empty (messages sent =
 * received at the other end).
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { Participant } from '../../checkpoint/coordinator.ts';
import type { SubtaskMeta } from '../../checkpoint/snapshot.ts';
import type { CheckpointStore, Chunk, LoadedCheckpoint } from '../../checkpoint/storage.ts';
import { systemClock } from '../../core/clock.ts';
import { keyGroupOf, validAssignment, workerForKeyGroup } from '../../core/key-groups.ts';
import { type KeyState, mergeScans, type PipelineMetrics, type StateScan } from '../../core/metrics.ts';
import { EddyError } from '../../errors/index.ts';
import { WatermarkAlignment } from '../alignment.ts';
import { type CheckpointInfo, localParticipant } from '../checkpoints.ts';
import { JobController } from '../controller.ts';
import { newAttempt } from '../executor.ts';
import type { Attempt } from '../supervisor.ts';
import type { ControlMessage, ReportMessage, WorkerData } from './protocol.ts';
import { adaptiveSpread, type SpreadSettings, threadSamples } from './spread.ts';
import { setUpSubtask, type ThreadedPipeline } from './subtask.ts';

/**
 * What a worker thread runs first, as plain JavaScript (a TypeScript entry
 * would load the type stripper before anything could be cached): it turns on
 * Node's on-disk compile cache, which keeps compiled code and, from source,
 * the stripped TypeScript in the OS temp directory, then loads the worker.
 * Silently without the cache where its directory cannot be written or
 * `NODE_DISABLE_COMPILE_CACHE` is set. From source the worker is TypeScript;
 * from the built package, its JavaScript.
 */
const BOOT = `require('node:module').enableCompileCache?.();
import(${JSON.stringify(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url).href)});`;

export interface ThreadedOptions {
  readonly parallelism: number;
  readonly checkpoints?: { readonly storage: CheckpointStore; readonly intervalMs: number };
  readonly restoreFrom?: LoadedCheckpoint;
  readonly onCheckpoint?: (info: CheckpointInfo) => void;
  readonly hotKeys?: boolean;
  /** Which subtask owns each key group (default: contiguous ranges). */
  readonly assignment?: Int32Array;
  /** Keyed steps count their records per key group (`StepMetrics.keyGroupRecords`), for rebalancing. */
  readonly countKeyGroups?: boolean;
  /** `preAggregate: 'auto'`: how the spreading is judged (default `SPREAD_DEFAULTS`). */
  readonly spread?: Partial<SpreadSettings>;
}

/** A threaded attempt, which can also stop at a checkpoint of its storage (to start again from it). */
export interface ThreadedAttempt extends Attempt {
  stopWithCheckpoint(): Promise<CheckpointInfo>;
}

/** A worker's subtask as a checkpoint participant: each phase is a message and its answer. */
class RemoteParticipant implements Participant {
  readonly #worker: Worker;
  readonly #waiting = new Map<string, ((m: ReportMessage) => void)[]>();

  constructor(worker: Worker) {
    this.#worker = worker;
  }

  /** Called with every report of the worker; resolves the request waiting for it. */
  answer(m: ReportMessage): boolean {
    const queue = this.#waiting.get(m.t);
    const next = queue?.shift();
    if (next === undefined) return false;
    next(m);
    return true;
  }

  #ask<T extends ReportMessage['t']>(m: ControlMessage, reply: T): Promise<Extract<ReportMessage, { t: T }>> {
    return new Promise((resolve) => {
      let queue = this.#waiting.get(reply);
      if (queue === undefined) this.#waiting.set(reply, (queue = []));
      queue.push(resolve as (m: ReportMessage) => void);
      this.#worker.postMessage(m);
    });
  }

  async park(): Promise<void> {
    await this.#ask({ t: 'cp-park' }, 'cp-parked');
  }

  async drain() {
    const r = await this.#ask({ t: 'cp-drain' }, 'cp-drained');
    return { busy: r.busy, sent: r.sent, received: r.received };
  }

  async snapshot(id: number): Promise<void> {
    await this.#ask({ t: 'cp-snapshot', id }, 'cp-snapshotted');
  }

  openGate(): void {
    this.#worker.postMessage({ t: 'cp-open' } satisfies ControlMessage);
  }

  async collect(): Promise<{ meta: SubtaskMeta; chunks: Chunk[]; entries: number }> {
    const r = await this.#ask({ t: 'cp-collect' }, 'cp-collected');
    return { meta: r.meta as SubtaskMeta, chunks: r.chunks as Chunk[], entries: r.entries };
  }

  async complete(id: number): Promise<void> {
    await this.#ask({ t: 'cp-complete', id }, 'cp-completed');
  }
}

/**
 * Runs `pipeline` (built from the module at `moduleUrl` with `values`) on
 * `options.parallelism` threads.
 */
export async function startThreaded(
  pipeline: ThreadedPipeline,
  moduleUrl: string,
  values: Record<string, unknown>,
  options: ThreadedOptions,
): Promise<ThreadedAttempt> {
  const n = options.parallelism;
  if (!Number.isInteger(n) || n < 2) {
    throw new EddyError('EDDY_CONFIG_INVALID', `threaded runs need parallelism >= 2; received ${n}`);
  }
  const max = pipeline.options.maxParallelism;
  if (options.assignment !== undefined && !validAssignment(options.assignment, max, n)) {
    throw new EddyError(
      'EDDY_CONFIG_INVALID',
      `assignment must give each of the ${max} key groups a subtask from 0 to ${n - 1}; leave it out for contiguous ranges`,
    );
  }
  const checkpointing = options.checkpoints !== undefined;
  const restoreDir = options.restoreFrom?.dir;
  const jobStart = systemClock.now();
  const attempt = newAttempt();
  // The watermark alignment board, shared by every thread's subtask.
  const alignment = new WatermarkAlignment(pipeline.physicalPlan(n).splittable, n).buffer;
  // A link between every two subtasks.
  const ports: Record<number, MessagePort>[] = Array.from({ length: n }, () => ({}));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const { port1, port2 } = new MessageChannel();
      ports[a]![b] = port1;
      ports[b]![a] = port2;
    }
  }
  const controller = new JobController({
    parallelism: n,
    maxParallelism: pipeline.options.maxParallelism,
    pipeline: pipeline.name,
    checkpoints: options.checkpoints,
    restoredFrom: options.restoreFrom?.manifest.id,
    onCheckpoint: options.onCheckpoint,
  });
  const workers: Worker[] = [];
  /** Queries of state in worker threads, by id, waiting for their answer. */
  // KeyState for a query, StateScan for a scan.
  const queries = new Map<number, { resolve: (s: never) => void; reject: (e: unknown) => void }>();
  let queryId = 0;
  const remotes: RemoteParticipant[] = [];
  const latest: (PipelineMetrics | undefined)[] = [];
  let ready = 0;
  let drained = 0;
  let closed = 0;
  let onReady!: () => void;
  // Rejected by a failure before every thread is ready, so start-up reports it instead of waiting forever.
  let onNotReady!: (e: unknown) => void;
  const allReady = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onNotReady = reject;
  });
  allReady.catch(() => {}); // awaited below; a failure while this thread still sets up is not "unhandled"
  let onClosed!: () => void;
  const allClosed = new Promise<void>((resolve) => {
    onClosed = resolve;
  });
  let failed = false;
  /** Stops every thread at once (a failure). */
  const abort = async () => {
    clearInterval(poll);
    for (const w of workers) void w.terminate();
    await setup?.executor.cancel();
  };
  const fail = (e: unknown) => {
    if (failed) return;
    failed = true;
    for (const q of queries.values()) q.reject(e);
    queries.clear();
    onNotReady(e);
    // Before the controller knows the subtasks (a thread failing at start-up), stop them here.
    if (setup === undefined) void abort();
    void controller.fail(e);
  };
  const send = (m: ControlMessage) => {
    for (const w of workers) w.postMessage(m);
  };
  let setup: Awaited<ReturnType<typeof setUpSubtask>> | undefined;
  let ownDrained = false;
  const maybeFinish = () => {
    if (ownDrained && drained === n - 1) void controller.finish();
  };
  for (let k = 1; k < n; k++) {
    const data: WorkerData = {
      module: moduleUrl,
      values,
      subtask: k,
      parallelism: n,
      jobStart,
      attempt,
      ports: ports[k]!,
      checkpointing,
      restoreDir,
      alignment,
      hotKeys: options.hotKeys === true,
      assignment: options.assignment,
      countKeyGroups: options.countKeyGroups === true,
    };
    const worker = new Worker(BOOT, { eval: true, workerData: data, transferList: Object.values(ports[k]!) });
    const remote = new RemoteParticipant(worker);
    workers.push(worker);
    remotes.push(remote);
    worker.on('error', fail);
    worker.on('message', (m: ReportMessage) => {
      if (remote.answer(m)) return;
      switch (m.t) {
        case 'ready':
          if (++ready === n - 1) onReady();
          return;
        case 'drained':
          drained++;
          maybeFinish();
          return;
        case 'metrics':
          latest[k] = m.m as PipelineMetrics;
          return;
        case 'queried': {
          const answer = queries.get(m.id);
          queries.delete(m.id);
          if (m.error !== undefined) answer?.reject(new EddyError('EDDY_CONFIG_INVALID', m.error));
          else answer?.resolve(m.state as never);
          return;
        }
        case 'error':
          fail(new EddyError('EDDY_INTERNAL', `subtask ${k} failed: ${m.message}`, { cause: m.stack }));
          return;
        case 'closed':
          if (++closed === n - 1) onClosed();
          return;
      }
    });
  }
  const poll = setInterval(() => send({ t: 'metrics' }), 500);
  try {
    setup = await setUpSubtask(pipeline, {
      subtask: 0,
      parallelism: n,
      jobStart,
      attempt,
      ports: ports[0]!,
      checkpointing,
      restoreDir,
      alignment,
      hotKeys: options.hotKeys === true,
      assignment: options.assignment,
      countKeyGroups: options.countKeyGroups === true,
      onFail: fail,
    });
    await allReady;
  } catch (e) {
    fail(e);
    throw e;
  }
  const { executor, links } = setup;
  /** Closes (after the end) or cancels (after a savepoint) every thread in order, answering for its metrics first. */
  const closeAll = async (how: 'close' | 'cancel') => {
    // Final figures first: each worker answers before it handles the close.
    send({ t: 'metrics' });
    send({ t: how });
    await allClosed;
    clearInterval(poll);
    for (const q of queries.values())
      q.reject(new EddyError('EDDY_CONFIG_INVALID', 'the run ended before its state was read'));
    queries.clear();
    if (how === 'close') await executor.close();
    else await executor.cancel();
    for (const link of links.values()) link.close();
  };
  controller.attach({
    participants: [localParticipant(executor, links), ...remotes],
    metrics: () => [executor.metrics(), ...latest.slice(1).filter((x) => x !== undefined)],
    close: () => closeAll('close'),
    cancel: (why) => (why === 'savepoint' ? closeAll('cancel') : abort()),
  });
  void executor.drained.then(() => {
    ownDrained = true;
    maybeFinish();
  });
  const spread = adaptiveSpread(pipeline.physicalPlan(n), options.spread, {
    samples: () => threadSamples([executor.metrics(), ...latest.slice(1)]),
    set: (on) => {
      executor.setSpread(on);
      send({ t: 'spread', on });
    },
  });
  void controller.done.then(spread.stop, spread.stop);
  send({ t: 'start' });
  executor.startSources();
  return {
    metrics: () => spread.figures(controller.metrics()),
    stop: () => {
      executor.stop();
      send({ t: 'stop' });
    },
    stopWithSavepoint: (dir) => controller.stopWithSavepoint(dir),
    stopWithCheckpoint: () => controller.stopWithCheckpoint(),
    checkpoint: () => controller.triggerCheckpoint(),
    queryState: async (step, key) => {
      const g = keyGroupOf(key, max);
      const k = options.assignment?.[g] ?? workerForKeyGroup(max, n, g);
      if (k === 0) return executor.queryState(step, key);
      const id = ++queryId;
      const answered = new Promise<KeyState>((resolve, reject) => queries.set(id, { resolve, reject }));
      workers[k - 1]!.postMessage({ t: 'query', id, step, key } satisfies ControlMessage);
      return answered;
    },
    scanState: async (step, o = {}) => {
      const scans: Promise<StateScan>[] = [Promise.resolve(executor.scanState(step, o))];
      for (const w of workers) {
        const id = ++queryId;
        scans.push(new Promise<StateScan>((resolve, reject) => queries.set(id, { resolve, reject })));
        w.postMessage({ t: 'query', id, step, key: '', scan: o } satisfies ControlMessage);
      }
      return mergeScans(step, await Promise.all(scans), o);
    },
    done: controller.done,
  };
}
