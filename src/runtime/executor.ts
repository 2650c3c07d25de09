/**
 * Runs a logical plan in this process: one task per step, source loops that
 * pull batches and wait whenever a step downstream asks them to (backpressure),
 * and completion once every source has ended and every step has drained.
 */
import { type DeadLetter, payloadText } from '../api/dead-letter.ts';
import type { Sink, SourceReader } from '../connectors/types.ts';
import { EddyError } from '../errors/index.ts';
import { ChainOperator } from '../operators/chain.ts';
import { SinkOperator } from '../operators/sink.ts';
import { PassThroughOperator } from '../operators/stateless.ts';
import { consumersOf, DEAD_LETTERS_ID, type LogicalGraph, type PlanNode } from '../plan/graph.ts';
import type { KeyedStateBackend } from '../state/backend.ts';
import { HeapStateBackend } from '../state/heap.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_LINGER_MS } from './batch.ts';
import { type Clock, systemClock } from './clock.ts';
import { type PipelineMetrics, StepCounters, type StepMetrics } from './metrics.ts';
import type { ErrorPolicy, Operator, OperatorContext } from './operator.ts';
import { type Edge, Task } from './task.ts';
import { SourceFeeder } from './timestamps.ts';

export interface ExecutorOptions {
  readonly clock?: Clock;
  readonly batchSize?: number;
  readonly lingerMs?: number;
  readonly errorPolicy?: ErrorPolicy;
  readonly maxParallelism: number;
  readonly stateBackend?: KeyedStateBackend;
  /** How long a source loop sleeps after an empty poll, in ms. */
  readonly pollIntervalMs?: number;
  /** Sources are not pulled; the caller feeds them through {@link Executor.input} (the test driver). */
  readonly manualSources?: boolean;
  /** Where dead letters go when no step reads `deadLetters()`. Default: standard error. */
  readonly defaultDeadLetters?: (letter: DeadLetter) => void;
  /** Replaces the sink of a sink step (the test driver captures outputs this way). */
  readonly sinkFor?: (stepId: string, sink: Sink<unknown>) => Sink<unknown>;
}

/** Yield to the event loop after this much uninterrupted work, so timers and I/O keep running. */
const SLICE_MS = 8;

export class Executor {
  readonly #graph: LogicalGraph;
  readonly #clock: Clock;
  readonly #batchSize: number;
  readonly #lingerMs: number;
  readonly #errorPolicy: ErrorPolicy;
  readonly #state: KeyedStateBackend;
  readonly #pollInterval: number;
  readonly #manual: boolean;
  readonly #tasks = new Map<string, Task>();
  readonly #counters = new Map<string, StepCounters>();
  readonly #maxParallelism: number;
  readonly #feeders = new Map<string, SourceFeeder>();
  readonly #pressure: Promise<void>[] = [];
  readonly #abort = new AbortController();
  readonly #cancels = new Set<() => void>();
  readonly #defaultDeadLetters: (letter: DeadLetter) => void;
  readonly #sinkFor: ((stepId: string, sink: Sink<unknown>) => Sink<unknown>) | undefined;
  #deadLetterBuffer: DeadLetter[] = [];
  #deadLetterTask!: Task;
  #afterDeadLetters = new Set<string>();
  #closed = false;
  #settle!: { resolve: () => void; reject: (e: unknown) => void };
  /** Settles when the run has finished (every step drained and closed) or failed. */
  readonly done: Promise<void>;

  constructor(graph: LogicalGraph, options: ExecutorOptions) {
    this.#graph = graph;
    this.#clock = options.clock ?? systemClock;
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.#lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.#errorPolicy = options.errorPolicy ?? 'dead-letter';
    this.#maxParallelism = options.maxParallelism;
    this.#state = options.stateBackend ?? new HeapStateBackend(options.maxParallelism);
    this.#pollInterval = options.pollIntervalMs ?? 10;
    this.#manual = options.manualSources ?? false;
    this.#defaultDeadLetters =
      options.defaultDeadLetters ?? ((l) => process.stderr.write(`eddy dead letter: ${JSON.stringify(l)}\n`));
    this.#sinkFor = options.sinkFor;
    this.done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.done.catch(() => {}); // observed through run(); avoid an unhandled rejection here
  }

  get state(): KeyedStateBackend {
    return this.#state;
  }

  /** Builds the tasks, starts every operator, then starts the sources. */
  async start(): Promise<void> {
    this.#build();
    try {
      for (const task of this.#tasks.values()) await task.start(this.#context(task));
    } catch (e) {
      await this.#fail(e);
      return;
    }
    const others = [...this.#tasks.values()].filter((t) => !this.#afterDeadLetters.has(t.id));
    void Promise.all(others.map((t) => t.ended)).then(() => {
      this.#flushDeadLetters();
      this.#deadLetterTask.receiveEnd(0);
    });
    void this.#deadLetterTask.ended.then(() => this.#finish());
    if (this.#manual) return;
    for (const node of this.#graph.ordered()) {
      if (node.kind === 'source') void this.#runSource(node);
    }
  }

  /** Stops pulling from sources; what was pulled drains through and the run finishes. */
  stop(): void {
    this.#abort.abort();
  }

  /** Feeds a source by hand (only with `manualSources`). */
  input(sourceId: string): SourceFeeder {
    const feeder = this.#feeders.get(sourceId);
    if (feeder === undefined) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `no source step "${sourceId}"; pass the id given to pipeline.source()`,
      );
    }
    return feeder;
  }

  /** The ids of the source steps. */
  sourceIds(): string[] {
    return [...this.#feeders.keys()];
  }

  /** Hands on dead letters buffered since the last call. */
  flushDeadLetters(): void {
    this.#flushDeadLetters();
  }

  /** Resolves once every backpressure promise raised so far has settled. */
  async drainPressure(): Promise<void> {
    while (this.#pressure.length > 0) await Promise.all(this.#pressure.splice(0));
  }

  metrics(): PipelineMetrics {
    const steps: Record<string, StepMetrics> = {};
    let sourceRecords = 0;
    let watermark = Number.POSITIVE_INFINITY;
    for (const [id, counters] of this.#counters) {
      const m = counters.snapshot();
      steps[id] = m;
      const node = this.#graph.nodes.get(id);
      if (node?.kind === 'source') sourceRecords += m.recordsOut;
      // Dead letters carry no event time: sinks fed by them do not hold the pipeline's watermark.
      if (node?.kind === 'sink' && !this.#afterDeadLetters.has(id) && m.watermark < watermark)
        watermark = m.watermark;
    }
    return {
      steps,
      sourceRecords,
      watermark: watermark === Number.POSITIVE_INFINITY ? Number.NaN : watermark,
    };
  }

  #build(): void {
    const nodes = this.#graph.ordered();
    let consumers = consumersOf(nodes);
    if (consumers.get(DEAD_LETTERS_ID)?.[0]?.length === 0) {
      const write = this.#defaultDeadLetters;
      nodes.push({
        id: 'dead-letters.default',
        kind: 'sink',
        inputs: [{ node: DEAD_LETTERS_ID, tag: 0 }],
        outputs: ['main'],
        keyed: false,
        sink: {
          kind: 'stderr',
          guarantee: 'best-effort',
          open: () => ({
            write: (values) => {
              for (const l of values) write(l as DeadLetter);
            },
          }),
        },
      });
      consumers = consumersOf(nodes);
    }
    // Everything fed by the dead-letter step must not be waited for before it ends.
    const afterDeadLetters = new Set<string>([DEAD_LETTERS_ID]);
    for (const node of nodes)
      if (node.inputs.some((r) => afterDeadLetters.has(r.node))) afterDeadLetters.add(node.id);
    this.#afterDeadLetters = afterDeadLetters;
    // Chaining: a stateless stage joins its input's chain when that input is a
    // stage (not a keyBy, which must end a chain) read by nothing else.
    const chains = new Map<string, PlanNode[]>();
    const headOf = new Map<string, string>();
    for (const node of nodes) {
      if (node.stage === undefined) continue;
      const parent = this.#graph.nodes.get(node.inputs[0]!.node)!;
      const parentHead = headOf.get(parent.id);
      if (
        parentHead !== undefined &&
        parent.stage!.kind !== 'keyBy' &&
        consumers.get(parent.id)![0]!.length === 1
      ) {
        chains.get(parentHead)!.push(node);
        headOf.set(node.id, parentHead);
      } else {
        chains.set(node.id, [node]);
        headOf.set(node.id, node.id);
      }
    }
    for (const node of nodes) this.#counters.set(node.id, new StepCounters(node.id, node.kind));
    // Downstream first, so every edge can point at an existing task.
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      if (headOf.has(node.id) && headOf.get(node.id) !== node.id) continue; // runs in its chain's task
      const members = chains.get(node.id) ?? [node];
      const last = members.at(-1)!;
      const edges: Edge[][] = consumers
        .get(last.id)!
        .map((list) => list.map(([consumer, input]) => ({ task: this.#tasks.get(consumer.id)!, input })));
      const counters = members.map((m) => this.#counters.get(m.id)!);
      const inputs = node.kind === 'source' || node.kind === 'dead-letters' ? 1 : node.inputs.length;
      const operator =
        node.stage === undefined
          ? this.#operatorOf(node)
          : new ChainOperator(
              members.map((m) => m.stage!),
              this.#maxParallelism,
              counters,
            );
      const task = new Task(node.id, operator, inputs, edges, counters, this.#pressure, this.#batchSize);
      this.#tasks.set(node.id, task);
      if (node.kind === 'dead-letters') this.#deadLetterTask = task;
      if (node.kind === 'source') {
        const options = node.source!.options;
        this.#feeders.set(
          node.id,
          new SourceFeeder(task, this.#clock, options, (value, error) =>
            this.#deadLetter(
              node.id,
              'EDDY_USER_FUNCTION_FAILED',
              `timestamp extractor failed: ${String(error)}`,
              value,
              Number.NaN,
            ),
          ),
        );
      }
    }
  }

  #operatorOf(node: PlanNode): Operator {
    if (node.kind === 'source' || node.kind === 'dead-letters') return new PassThroughOperator();
    if (node.kind === 'sink') return new SinkOperator(this.#sinkFor?.(node.id, node.sink!) ?? node.sink!);
    return node.operator!();
  }

  #context(task: Task): OperatorContext {
    const stepId = task.id;
    return {
      stepId,
      clock: this.#clock,
      state: this.#state,
      metrics: task.counters,
      errorPolicy: this.#errorPolicy,
      batchSize: this.#batchSize,
      lingerMs: this.#lingerMs,
      deadLetter: (code, reason, payload, time, step = stepId) => {
        (this.#counters.get(step) ?? task.counters).deadLetters++;
        this.#deadLetter(step, code, reason, payload, time);
      },
      scheduleProcessingTime: (at, fn) =>
        this.#schedule(at, () => {
          fn();
          task.output.flush();
        }),
      fail: (error) => void this.#fail(error),
    };
  }

  #schedule(at: number, fn: () => void): () => void {
    let cancel: (() => void) | undefined;
    const wrapped = () => {
      if (cancel !== undefined) this.#cancels.delete(cancel);
      if (this.#closed) return;
      try {
        fn();
        this.#flushDeadLetters();
      } catch (e) {
        void this.#fail(e);
      }
    };
    const inner = this.#clock.schedule(at, wrapped);
    cancel = () => {
      this.#cancels.delete(cancel!);
      inner();
    };
    this.#cancels.add(cancel);
    return cancel;
  }

  #deadLetter(step: string, code: string, reason: string, payload: unknown, time: number): void {
    this.#deadLetterBuffer.push({
      step,
      code,
      reason,
      payload: payloadText(payload),
      eventTime: time,
      at: this.#clock.now(),
    });
  }

  #flushDeadLetters(): void {
    const letters = this.#deadLetterBuffer;
    if (letters.length === 0) return;
    this.#deadLetterBuffer = [];
    this.#deadLetterTask.receive({ values: letters, times: letters.map((l) => l.at) }, 0);
  }

  async #runSource(node: PlanNode): Promise<void> {
    const feeder = this.#feeders.get(node.id)!;
    const task = this.#tasks.get(node.id)!;
    const signal = this.#abort.signal;
    let reader: SourceReader<unknown> | undefined;
    try {
      reader = await node.source!.source.open({
        stepId: node.id,
        clock: this.#clock,
        batchSize: node.source!.options.batchSize ?? this.#batchSize,
        signal,
        deadLetter: (code, reason, payload) => {
          task.counters.deadLetters++;
          this.#deadLetter(node.id, code, reason, payload, Number.NaN);
        },
      });
      const max = node.source!.options.batchSize ?? this.#batchSize;
      let slice = performance.now();
      while (!signal.aborted && !this.#closed) {
        if (this.#pressure.length > 0) await this.drainPressure();
        let polled = reader.poll(max);
        if (polled instanceof Promise) polled = await polled;
        if (polled === null || this.#closed) break;
        if (polled.values.length === 0) {
          if (polled.split !== undefined) feeder.register(polled.split);
          this.#flushDeadLetters();
          feeder.noData();
          await sleep(this.#pollInterval, signal);
          slice = performance.now();
          continue;
        }
        feeder.feed(polled.values, polled.times, polled.split);
        this.#flushDeadLetters();
        if (performance.now() - slice > SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          slice = performance.now();
        }
      }
      await reader.close?.();
      if (this.#closed) return;
      await this.drainPressure();
      this.#flushDeadLetters();
      feeder.end();
    } catch (e) {
      await reader?.close?.();
      await this.#fail(e);
    }
  }

  async #finish(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.drainPressure();
      await this.#close();
      this.#settle.resolve();
    } catch (e) {
      this.#settle.reject(e);
    }
  }

  async #fail(error: unknown): Promise<void> {
    if (this.#closed) return;
    this.#abort.abort();
    await this.#close().catch(() => {});
    this.#settle.reject(error);
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const cancel of [...this.#cancels]) cancel();
    for (const task of this.#tasks.values()) await task.operator.onClose?.();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
