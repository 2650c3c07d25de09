/**
 * A task runs one operator instance: it counts what goes in and out, combines
 * the watermarks of its inputs (the minimum over inputs that are neither idle
 * nor ended), and moves the operator's buffered output downstream.
 *
 * Output is dispatched after the operator returns, never from inside it, so the
 * time measured per batch is the operator's own and the call stack stays as
 * deep as the graph, not as the data.
 */

import type { TaskWatermarks } from '../checkpoint/snapshot.ts';
import type { Batch } from '../core/batch.ts';
import type { Key } from '../core/key-groups.ts';
import type { StepCounters } from '../core/metrics.ts';
import type { Operator, OperatorContext, Output } from '../operators/operator.ts';

/** Where a task's output tag goes in the same subtask: a downstream task and which of its channels. */
export interface Edge {
  readonly task: Task;
  readonly input: number;
}

/** What an exchange delivers to: a task in this thread, or a proxy for one in another thread. */
export interface ChannelTarget {
  receive(batch: Batch, channel: number): void;
  receiveWatermark(channel: number, watermark: number): void;
  receiveIdle(channel: number, idle: boolean): void;
  receiveEnd(channel: number): void;
}

/**
 * An edge that crosses subtasks. `hash` sends each record to the subtask that
 * owns its key group (the records carry groups from their keyBy); `gather`
 * sends everything to subtask 0 (sinks that are not parallel); `split` sends
 * each record to one of two subtasks its key group names, the one this
 * subtask has sent fewer records to so far (partial key grouping, Nasir et
 * al., ICDE 2015: a hot key's records spread over two subtasks while every
 * key still touches at most two). Watermarks, idleness and the end go to every
 * target (`gather`: to subtask 0), each on this subtask's own channel, so the
 * consumer's watermark is the minimum over its upstream subtasks.
 */
export interface ExchangeEdge {
  readonly kind: 'hash' | 'gather' | 'split';
  /** The consumer's task in each subtask, filled in when the subtasks are wired together. */
  readonly targets: ChannelTarget[];
  /** The channel this subtask writes to on every target. */
  readonly channel: number;
  /** Key group → subtask (hash edges). */
  readonly workerOf: Int32Array;
  /** Split edges: the records this subtask sent to each target (its local estimate of their load). */
  readonly sent?: Float64Array;
  /**
   * Adaptive split edges (`preAggregate: 'auto'`): while `on` is false every
   * batch stays in this subtask (`self`), as local pre-aggregation; the
   * consumer combines and forwards partials either way, so results do not
   * depend on when it changes.
   */
  readonly spread?: { on: boolean; readonly self: number };
}

export type AnyEdge = Edge | ExchangeEdge;

function isExchange(e: AnyEdge): e is ExchangeEdge {
  return (e as ExchangeEdge).targets !== undefined;
}

/** Splits a keyed batch by subtask and hands each part to its target. */
function partition(e: ExchangeEdge, batch: Batch): void {
  const targets = e.targets;
  if (e.kind === 'gather' || targets.length === 1) {
    targets[0]!.receive(batch, e.channel);
    return;
  }
  const spread = e.spread;
  if (spread !== undefined && !spread.on) {
    targets[spread.self]!.receive(batch, e.channel);
    return;
  }
  const n = targets.length;
  const groups = batch.groups!;
  const keys = batch.keys!;
  const { values, times } = batch;
  const floors = batch.floors;
  const parts: { values: unknown[]; times: number[]; keys: Key[]; groups: number[]; floors?: number[] }[] =
    [];
  for (let t = 0; t < n; t++)
    parts.push(
      floors === undefined
        ? { values: [], times: [], keys: [], groups: [] }
        : { values: [], times: [], keys: [], groups: [], floors: [] },
    );
  const workerOf = e.workerOf;
  const sent = e.sent;
  for (let i = 0; i < values.length; i++) {
    const g = groups[i]!;
    const part = parts[sent === undefined ? workerOf[g]! : lessLoaded(sent, g, n)]!;
    part.values.push(values[i]);
    part.times.push(times[i]!);
    part.keys.push(keys[i]!);
    part.groups.push(g);
    if (floors !== undefined) part.floors!.push(floors[i]!);
  }
  for (let t = 0; t < n; t++) if (parts[t]!.values.length > 0) targets[t]!.receive(parts[t]!, e.channel);
}

/**
 * A split edge's choice for key group `g` among `n` subtasks: its two
 * candidates are `g mod n` and another subtask drawn from a hash of `g`
 * (never the same one), and it takes the one it has sent fewer records to.
 */
export function lessLoaded(sent: Float64Array, g: number, n: number): number {
  const first = g % n;
  const h = Math.imul(g ^ (g >>> 16), 0x45d9f3b) >>> 0;
  const second = (first + 1 + (h % (n - 1))) % n;
  const chosen = sent[first]! <= sent[second]! ? first : second;
  sent[chosen] = sent[chosen]! + 1;
  return chosen;
}

/** Calls `fn` with (task, channel) for every task an edge reaches with watermarks, idleness and the end. */
function eachTarget(e: AnyEdge, fn: (task: ChannelTarget, channel: number) => void): void {
  if (!isExchange(e)) fn(e.task, e.input);
  else if (e.kind === 'gather') fn(e.targets[0]!, e.channel);
  else for (const t of e.targets) fn(t, e.channel);
}

/** Collects backpressure promises from every task of a run; sources wait on them. */
export interface PressureSink {
  push(p: Promise<void>): void;
}

class TaskOutput implements Output {
  readonly #task: Task;
  readonly #edges: AnyEdge[][];
  readonly #values: unknown[][];
  readonly #times: number[][];
  // Per tag, made on the first record with a floor (see Batch.floors); -Infinity before it.
  readonly #floors: (number[] | undefined)[];
  readonly #batchSize: number;
  readonly #ready: { tag: number; batch: Batch }[] = [];
  #dispatching = false;

  constructor(task: Task, edges: AnyEdge[][], batchSize: number) {
    this.#task = task;
    this.#edges = edges;
    this.#batchSize = batchSize;
    this.#values = edges.map(() => []);
    this.#times = edges.map(() => []);
    this.#floors = edges.map(() => undefined);
  }

  emit(value: unknown, time: number): void {
    const values = this.#values[0]!;
    values.push(value);
    this.#times[0]!.push(time);
    if (values.length >= this.#batchSize) this.#seal(0);
  }

  emitTo(tag: number, value: unknown, time: number, floor?: number): void {
    const values = this.#values[tag];
    if (values === undefined) return; // a side output nobody consumes
    const floors = this.#floors[tag];
    if (floors !== undefined) floors.push(floor ?? Number.NEGATIVE_INFINITY);
    else if (floor !== undefined && floor > Number.NEGATIVE_INFINITY) {
      const made = new Array<number>(values.length).fill(Number.NEGATIVE_INFINITY);
      made.push(floor);
      this.#floors[tag] = made;
    }
    values.push(value);
    this.#times[tag]!.push(time);
    if (values.length >= this.#batchSize) this.#seal(tag);
  }

  emitBatch(batch: Batch, tag = 0): void {
    if (batch.values.length === 0 || this.#values[tag] === undefined) return;
    if (this.#values[tag]!.length > 0) this.#seal(tag);
    this.#ready.push({ tag, batch });
  }

  #seal(tag: number): void {
    const values = this.#values[tag]!;
    if (values.length === 0) return;
    const floors = this.#floors[tag];
    const times = this.#times[tag]!;
    this.#ready.push({ tag, batch: floors === undefined ? { values, times } : { values, times, floors } });
    this.#values[tag] = [];
    this.#times[tag] = [];
    this.#floors[tag] = undefined;
  }

  flush(): void {
    for (let tag = 0; tag < this.#values.length; tag++) this.#seal(tag);
    if (this.#dispatching) return; // the outer flush will pick these up
    this.#dispatching = true;
    try {
      const ready = this.#ready;
      for (let i = 0; i < ready.length; i++) {
        const { tag, batch } = ready[i]!;
        this.#task.dispatch(this.#edges[tag]!, batch, tag);
      }
      ready.length = 0;
    } finally {
      this.#dispatching = false;
    }
  }

  watermark(time: number): void {
    this.flush();
    this.#task.forwardWatermark(time);
  }
}

export class Task {
  readonly id: string;
  readonly operator: Operator;
  /** The counters of the (first) step this task runs. */
  readonly counters: StepCounters;
  readonly output: Output;
  // A chained task runs several steps: records out count for the last, the watermark for all.
  readonly #members: readonly StepCounters[];
  readonly #outCounters: StepCounters;
  readonly #edges: AnyEdge[][];
  // Channel → the operator's input: several upstream subtasks feed one input over their own channels.
  readonly #inputOf: ArrayLike<number>;
  readonly #pressure: PressureSink;
  readonly #inputWatermarks: number[];
  readonly #inputIdle: boolean[];
  readonly #inputEnded: boolean[];
  #endedCount = 0;
  #watermark = Number.NEGATIVE_INFINITY;
  #forwarded = Number.NEGATIVE_INFINITY;
  #idleForwarded = false;
  #ended = false;
  // Set when the subtask closes: anything arriving later (an async call completing, a timer) is dropped.
  #halted = false;
  #onEnded: (() => void) | undefined;
  #onEndFailed: ((error: unknown) => void) | undefined;
  readonly ended: Promise<void>;

  /** `inputOf[channel]` is the operator input a channel feeds; one channel per input without parallelism. */
  constructor(
    id: string,
    operator: Operator,
    inputOf: ArrayLike<number>,
    edges: AnyEdge[][],
    members: readonly StepCounters[],
    pressure: PressureSink,
    batchSize: number,
  ) {
    this.id = id;
    this.operator = operator;
    this.counters = members[0]!;
    this.#members = members;
    this.#outCounters = members.at(-1)!;
    this.#edges = edges;
    this.#inputOf = inputOf;
    this.#pressure = pressure;
    const inputs = inputOf.length;
    this.#inputWatermarks = new Array(inputs).fill(Number.NEGATIVE_INFINITY);
    this.#inputIdle = new Array(inputs).fill(false);
    this.#inputEnded = new Array(inputs).fill(false);
    this.output = new TaskOutput(this, edges, batchSize);
    this.ended = new Promise((resolve, reject) => {
      this.#onEnded = resolve;
      this.#onEndFailed = reject;
    });
    // Awaited by the executor (which fails the run with it); never an unhandled rejection here.
    this.ended.catch(() => {});
  }

  get watermark(): number {
    return this.#watermark;
  }

  /** How many input channels the task has. */
  get channels(): number {
    return this.#inputOf.length;
  }

  /** The watermarks to restore this task with after a crash. */
  snapshotWatermarks(): TaskWatermarks {
    return { watermark: this.#watermark, inputs: [...this.#inputWatermarks], forwarded: this.#forwarded };
  }

  /** Continues from a checkpoint's watermarks (before any record arrives). */
  restoreWatermarks(w: TaskWatermarks): void {
    this.#watermark = w.watermark;
    this.#forwarded = w.forwarded;
    // At another parallelism the channels differ: each starts at the task's combined watermark.
    const same = w.inputs.length === this.#inputWatermarks.length;
    for (let i = 0; i < this.#inputWatermarks.length; i++)
      this.#inputWatermarks[i] = same ? w.inputs[i]! : w.watermark;
    for (const m of this.#members) m.watermark = w.watermark;
  }

  async start(ctx: OperatorContext): Promise<void> {
    await this.operator.onStart?.(ctx);
  }

  /**
   * Stops the task for good, before the operators close: a close awaits each
   * operator in turn, and meanwhile an async call completing upstream must
   * not hand records to a sink that has already closed.
   */
  halt(): void {
    this.#halted = true;
  }

  /** Processes one batch; a backpressure promise from the operator goes to the pressure sink. */
  receive(batch: Batch, input: number): void {
    if (this.#halted) return;
    const c = this.counters;
    c.recordsIn += batch.values.length;
    c.batchesIn++;
    if (c.hotKeys !== undefined && batch.keys !== undefined) c.hotKeys.offer(batch.keys);
    const perGroup = c.keyGroupRecords;
    if (perGroup !== undefined && batch.groups !== undefined) {
      const groups = batch.groups;
      for (let i = 0; i < groups.length; i++) perGroup[groups[i]!]!++;
    }
    const t0 = performance.now();
    const wait = this.operator.processBatch(batch, this.#inputOf[input]!, this.output);
    c.recordBatchMicros((performance.now() - t0) * 1000);
    if (wait !== undefined) this.#pressure.push(wait);
    this.output.flush();
  }

  /** Sends a batch to every edge of a tag. Called by the output. */
  dispatch(edges: readonly AnyEdge[], batch: Batch, tag: number): void {
    if (tag === 0) this.#outCounters.recordsOut += batch.values.length;
    for (let i = 0; i < edges.length; i++) {
      const e = edges[i]!;
      if (isExchange(e)) partition(e, batch);
      else e.task.receive(batch, e.input);
    }
  }

  receiveWatermark(input: number, watermark: number): void {
    if (this.#halted) return;
    if (this.#inputEnded[input] || watermark <= this.#inputWatermarks[input]!) {
      if (this.#inputIdle[input]) this.receiveIdle(input, false);
      return;
    }
    this.#inputWatermarks[input] = watermark;
    if (this.#inputIdle[input]) this.#inputIdle[input] = false;
    this.#advance();
  }

  /** Input `input` went idle (no data for its idle timeout) or became active again. */
  receiveIdle(input: number, idle: boolean): void {
    if (this.#halted) return;
    if (this.#inputEnded[input] || this.#inputIdle[input] === idle) return;
    this.#inputIdle[input] = idle;
    this.#advance();
  }

  receiveEnd(input: number): void {
    if (this.#halted || this.#inputEnded[input]) return;
    this.#inputEnded[input] = true;
    this.#inputWatermarks[input] = Number.POSITIVE_INFINITY;
    this.#endedCount++;
    this.#advance();
    // An end that fails (a sink's last flush refused) rejects `ended`: the executor fails the run
    // with it, rather than the rejection going unhandled and the task never ending.
    if (this.#endedCount === this.#inputEnded.length)
      this.#finish().catch((e: unknown) => this.#onEndFailed?.(e));
  }

  async #finish(): Promise<void> {
    const wait = this.operator.onEnd?.(this.output);
    if (wait !== undefined) await wait;
    this.output.flush();
    this.forwardWatermark(Number.POSITIVE_INFINITY);
    this.#ended = true;
    for (const edges of this.#edges) for (const e of edges) eachTarget(e, (t, c) => t.receiveEnd(c));
    this.#onEnded?.();
  }

  #advance(): void {
    let min = Number.POSITIVE_INFINITY;
    let active = 0;
    for (let i = 0; i < this.#inputWatermarks.length; i++) {
      if (this.#inputIdle[i]) continue;
      active++;
      const w = this.#inputWatermarks[i]!;
      if (w < min) min = w;
    }
    if (active === 0) {
      this.#setIdle(true);
      return;
    }
    if (min <= this.#watermark) {
      this.#setIdle(false);
      return;
    }
    this.#watermark = min;
    for (const m of this.#members) m.watermark = min;
    const forward = this.operator.onWatermark ? this.operator.onWatermark(min, this.output) : min;
    this.output.flush();
    this.forwardWatermark(forward);
  }

  #setIdle(idle: boolean): void {
    if (this.#idleForwarded === idle || this.#ended) return;
    if (this.operator.onIdle !== undefined) {
      this.operator.onIdle(idle, this.output);
      this.output.flush();
    }
    this.#idleForwarded = idle;
    for (const edges of this.#edges) for (const e of edges) eachTarget(e, (t, c) => t.receiveIdle(c, idle));
  }

  forwardWatermark(watermark: number): void {
    if (watermark <= this.#forwarded || this.#ended) return;
    this.#forwarded = watermark;
    this.#idleForwarded = false;
    for (const edges of this.#edges)
      for (const e of edges) eachTarget(e, (t, c) => t.receiveWatermark(c, watermark));
  }
}
