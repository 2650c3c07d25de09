/**
 * A job whose subtasks run in worker threads, one per core: subtask 0 in this
 * thread (where sinks run), subtask k in worker k. Each thread builds the same
 * pipeline from its module, so user functions never cross threads; records do,
 * in batches, over a direct link between every two subtasks. Keyed records go
 * to the subtask that owns their key group, exactly as between in-thread
 * subtasks, so results are the same at any parallelism.
 *
 * Not yet here: checkpoints and savepoints across threads (use in-thread
 * parallelism or parallelism 1 for those; `start` fails fast if asked).
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { Pipeline } from '../../api/pipeline.ts';
import { EddyError } from '../../errors/index.ts';
import { systemClock } from '../clock.ts';
import { Executor } from '../executor.ts';
import type { PipelineMetrics, StepMetrics } from '../metrics.ts';
import { Link } from './link.ts';
import type { ControlMessage, ReportMessage, WorkerData } from './protocol.ts';

export interface ThreadedRun {
  metrics(): PipelineMetrics;
  stop(): void;
  readonly done: Promise<void>;
}

/**
 * Runs `pipeline` (built from the module at `moduleUrl` with `values`) on
 * `parallelism` threads.
 */
export async function startThreaded(
  pipeline: Pipeline,
  moduleUrl: string,
  values: Record<string, unknown>,
  parallelism: number,
): Promise<ThreadedRun> {
  if (!Number.isInteger(parallelism) || parallelism < 2) {
    throw new EddyError(
      'EDDY_CONFIG_INVALID',
      `threaded runs need parallelism >= 2; received ${parallelism}`,
    );
  }
  const jobStart = systemClock.now();
  // A link between every two subtasks.
  const ports: Record<number, MessagePort>[] = Array.from({ length: parallelism }, () => ({}));
  for (let a = 0; a < parallelism; a++) {
    for (let b = a + 1; b < parallelism; b++) {
      const { port1, port2 } = new MessageChannel();
      ports[a]![b] = port1;
      ports[b]![a] = port2;
    }
  }
  const executor = new Executor(pipeline.scope.graph, {
    ...pipeline.executorOptions(),
    stateBackend: await pipeline.stateBackendFor(0),
    subtask: 0,
    parallelism,
    jobStart,
    onFail: (e) => fail(e),
  });
  executor.build();
  const links = new Map<number, Link>();
  for (const [k, p] of Object.entries(ports[0]!)) links.set(Number(k), new Link(p, executor));
  executor.wireTo((k, consumer) => (k === 0 ? executor.task(consumer)! : links.get(k)!.target(consumer)));

  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => {});
  let finished = false;
  const workers: Worker[] = [];
  const latest: (PipelineMetrics | undefined)[] = [];
  const waiting = { ready: 0, drained: 0, closed: 0 };
  let onReady!: () => void;
  const allReady = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const fail = (e: unknown) => {
    if (finished) return;
    finished = true;
    clearInterval(poll);
    for (const w of workers) void w.terminate();
    void executor.cancel();
    settle.reject(e);
  };
  const send = (m: ControlMessage) => {
    for (const w of workers) w.postMessage(m);
  };
  for (let k = 1; k < parallelism; k++) {
    const data: WorkerData = {
      module: moduleUrl,
      values,
      subtask: k,
      parallelism,
      jobStart,
      ports: ports[k]!,
    };
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: data,
      transferList: Object.values(ports[k]!),
    });
    workers.push(worker);
    worker.on('error', fail);
    worker.on('message', (m: ReportMessage) => {
      switch (m.t) {
        case 'ready':
          if (++waiting.ready === parallelism - 1) onReady();
          return;
        case 'drained':
          waiting.drained++;
          maybeClose();
          return;
        case 'metrics':
          latest[k] = m.m as PipelineMetrics;
          return;
        case 'error':
          fail(new EddyError('EDDY_INTERNAL', `subtask ${k} failed: ${m.message}`, { cause: m.stack }));
          return;
        case 'closed':
          if (++waiting.closed === parallelism - 1) void finish();
          return;
      }
    });
  }
  let ownDrained = false;
  const maybeClose = () => {
    if (ownDrained && waiting.drained === parallelism - 1 && !finished) {
      // Final figures first: each worker answers before it handles the close.
      send({ t: 'metrics' });
      send({ t: 'close' });
    }
  };
  const finish = async () => {
    if (finished) return;
    finished = true;
    clearInterval(poll);
    await executor.close();
    for (const link of links.values()) link.close();
    settle.resolve();
  };
  const poll = setInterval(() => send({ t: 'metrics' }), 500);
  try {
    await executor.startOperators();
    await allReady;
  } catch (e) {
    fail(e);
    return { metrics: () => executor.metrics(), stop: () => {}, done };
  }
  void executor.drained.then(() => {
    ownDrained = true;
    maybeClose();
  });
  send({ t: 'start' });
  executor.startSources();
  return {
    metrics: () => merge([executor.metrics(), ...latest.slice(1).filter((m) => m !== undefined)]),
    stop: () => {
      executor.stop();
      send({ t: 'stop' });
    },
    done,
  };
}

/** Sums step counters over subtasks (watermark: the lowest of those that saw data). */
function merge(all: readonly PipelineMetrics[]): PipelineMetrics {
  const first = all[0]!;
  const steps: Record<string, StepMetrics> = {};
  for (const [id, m] of Object.entries(first.steps)) {
    const parts = all.map((x) => x.steps[id]).filter((p) => p !== undefined);
    steps[id] = {
      ...m,
      recordsIn: parts.reduce((n, p) => n + p.recordsIn, 0),
      recordsOut: parts.reduce((n, p) => n + p.recordsOut, 0),
      batchesIn: parts.reduce((n, p) => n + p.batchesIn, 0),
      lateRecords: parts.reduce((n, p) => n + p.lateRecords, 0),
      deadLetters: parts.reduce((n, p) => n + p.deadLetters, 0),
    };
  }
  return { ...first, steps, sourceRecords: all.reduce((n, x) => n + x.sourceRecords, 0) };
}
