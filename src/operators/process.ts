/**
 * The low-level keyed operator: user code with keyed state and event-time and
 * processing-time timers (Flink's KeyedProcessFunction). Rolling `reduce` and
 * `aggregate` on a keyed stream are built on the same cursor-and-table pattern.
 */

import type { Batch } from '../core/batch.ts';
import { type Key, keyGroupOf } from '../core/key-groups.ts';
import type { Aggregator } from '../core/windows.ts';
import type { StateTable } from '../state/backend.ts';
import { type KeyCursor, makeHandles, type StateHandles, type StateSpec } from '../state/handles.ts';
import { TimerQueue } from '../time/timers.ts';
import type { Operator, OperatorContext, OperatorSnapshot, Output } from './operator.ts';
import { userFunctionFailed } from './user-errors.ts';

/** Registers and deletes timers for the current key. Times are epoch ms. */
export interface TimerService {
  /** Calls `onTimer` once the watermark reaches `time`. Registering the same time twice fires once. */
  registerEventTime(time: number): void;
  /** Calls `onTimer` once processing time reaches `time`. */
  registerProcessingTime(time: number): void;
  deleteEventTime(time: number): void;
  deleteProcessingTime(time: number): void;
}

/** A named side output of a process step; read it with `stream.sideOutput(tag)`. */
export interface OutputTag<T> {
  readonly name: string;
  /** Phantom: carries the record type; never set. */
  readonly _type?: T;
}

/**
 * Makes a side-output tag.
 *
 * @example
 * ```ts
 * const alerts = outputTag<Alert>('alerts');
 * const main = keyed.process(fn, { sideOutputs: [alerts] });
 * main.sideOutput(alerts).sink(consoleSink());
 * ```
 */
export function outputTag<T>(name: string): OutputTag<T> {
  return { name };
}

export interface ProcessContext<K extends Key, S extends StateSpec, R> {
  /** The key of the record or timer. */
  readonly key: K;
  /** The event time of the record, or the timer's time in `onTimer`. */
  readonly timestamp: number;
  /** The current event-time watermark. */
  readonly watermark: number;
  /** The current processing time. */
  now(): number;
  readonly state: StateHandles<S>;
  readonly timers: TimerService;
  /** Emits a result; its event time defaults to `timestamp`. */
  emit(value: R, time?: number): void;
  /** Emits to a side output declared in the step's options. */
  output<X>(tag: OutputTag<X>, value: X, time?: number): void;
}

/**
 * A keyed process function.
 *
 * @example
 * ```ts
 * const spike: ProcessFunction<Reading, string, { last: StateDescriptor<ValueState<number>> }, string> = {
 *   processElement(r, ctx) {
 *     const last = ctx.state.last.get();
 *     if (last !== undefined && r.temp - last > 10) ctx.emit(`spike on ${ctx.key}`);
 *     ctx.state.last.set(r.temp);
 *   },
 * };
 * ```
 */
export interface ProcessFunction<T, K extends Key, S extends StateSpec, R> {
  processElement(value: T, ctx: ProcessContext<K, S, R>): void;
  /** A timer fired; `ctx.timestamp` is its time and `domain` says which clock. */
  onTimer?(time: number, domain: 'event-time' | 'processing-time', ctx: ProcessContext<K, S, R>): void;
}

export class ProcessOperator implements Operator {
  readonly #fn: ProcessFunction<unknown, Key, StateSpec, unknown>;
  readonly #spec: StateSpec;
  readonly #tags: Map<string, number>;
  readonly #eventTimers = new TimerQueue();
  readonly #procTimers = new TimerQueue();
  readonly #cursor: KeyCursor = { keyGroup: 0, key: '' };
  #ctx!: OperatorContext;
  #out!: Output;
  #timestamp = 0;
  #watermark = Number.NEGATIVE_INFINITY;
  #procArmed = Number.POSITIVE_INFINITY;
  #cancelProc: (() => void) | undefined;
  #cancelSweep: (() => void) | undefined;
  #userCtx!: ProcessContext<Key, StateSpec, unknown>;

  constructor(
    fn: ProcessFunction<unknown, Key, StateSpec, unknown>,
    spec: StateSpec,
    sideOutputs: readonly string[],
  ) {
    this.#fn = fn;
    this.#spec = spec;
    this.#tags = new Map(sideOutputs.map((name, i) => [name, i + 1]));
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    const cursor = this.#cursor;
    const state = makeHandles(
      this.#spec,
      (name) => ctx.state.table(ctx.stepId, `state.${name}`),
      cursor,
      ctx.clock,
    );
    const self = this;
    const timers: TimerService = {
      registerEventTime: (t) => self.#eventTimers.registerOnce(t, cursor.keyGroup, cursor.key, 0),
      deleteEventTime: (t) => self.#eventTimers.cancel(t, cursor.keyGroup, cursor.key, 0),
      registerProcessingTime(t) {
        self.#procTimers.registerOnce(t, cursor.keyGroup, cursor.key, 0);
        self.#armProcessingTime();
      },
      deleteProcessingTime: (t) => self.#procTimers.cancel(t, cursor.keyGroup, cursor.key, 0),
    };
    this.#userCtx = {
      get key() {
        return cursor.key;
      },
      get timestamp() {
        return self.#timestamp;
      },
      get watermark() {
        return self.#watermark;
      },
      now: () => ctx.clock.now(),
      state,
      timers,
      emit: (value, time) => self.#out.emit(value, time ?? self.#timestamp),
      output: (tag, value, time) => {
        const index = self.#tags.get(tag.name);
        if (index === undefined) {
          throw new Error(
            `side output "${tag.name}" is not declared; pass it in the step's sideOutputs option`,
          );
        }
        self.#out.emitTo(index, value, time ?? self.#timestamp);
      },
    };
    const restored = ctx.restored;
    if (restored !== undefined) {
      this.#out = ctx.output;
      const max = ctx.state.maxParallelism;
      this.#watermark = restored.watermark;
      this.#eventTimers.restore(restored.keyed.get('event') ?? [], (k) => keyGroupOf(k, max), true);
      this.#procTimers.restore(restored.keyed.get('processing') ?? [], (k) => keyGroupOf(k, max), true);
      if (this.#procTimers.peekTime() !== Number.POSITIVE_INFINITY) this.#armProcessingTime();
    }
    const ttls = Object.values(this.#spec)
      .map((d) => d.ttl)
      .filter((t) => t > 0);
    if (ttls.length > 0) this.#scheduleSweep(Math.max(1000, Math.min(...ttls) / 2));
  }

  onCheckpoint(): OperatorSnapshot {
    return { keyed: [...this.#eventTimers.snapshot('event'), ...this.#procTimers.snapshot('processing')] };
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    this.#out = out;
    const { values, times } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const cursor = this.#cursor;
    const fn = this.#fn;
    const uctx = this.#userCtx;
    for (let i = 0; i < values.length; i++) {
      cursor.key = keys[i]!;
      cursor.keyGroup = groups[i]!;
      this.#timestamp = times[i]!;
      try {
        fn.processElement(values[i], uctx);
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], times[i]!);
      }
    }
  }

  onWatermark(watermark: number, out: Output): number {
    this.#out = out;
    this.#watermark = watermark;
    this.#fire(this.#eventTimers, watermark, 'event-time');
    return watermark;
  }

  #fire(queue: TimerQueue, upTo: number, domain: 'event-time' | 'processing-time'): void {
    const onTimer = this.#fn.onTimer;
    for (let due = queue.pollDue(upTo); due !== undefined; due = queue.pollDue(upTo)) {
      if (onTimer === undefined) continue;
      for (const t of due) {
        this.#cursor.key = t.key;
        this.#cursor.keyGroup = t.keyGroup;
        this.#timestamp = t.time;
        try {
          onTimer.call(this.#fn, t.time, domain, this.#userCtx);
        } catch (e) {
          userFunctionFailed(this.#ctx, e, { timer: t.time, key: t.key }, t.time);
        }
      }
    }
  }

  #armProcessingTime(): void {
    const next = this.#procTimers.peekTime();
    if (next >= this.#procArmed) return;
    this.#cancelProc?.();
    this.#procArmed = next;
    this.#cancelProc = this.#ctx.scheduleProcessingTime(next, () => {
      this.#procArmed = Number.POSITIVE_INFINITY;
      this.#fire(this.#procTimers, this.#ctx.clock.now(), 'processing-time');
      if (this.#procTimers.peekTime() !== Number.POSITIVE_INFINITY) this.#armProcessingTime();
    });
  }

  #scheduleSweep(every: number): void {
    this.#cancelSweep = this.#ctx.scheduleProcessingTime(this.#ctx.clock.now() + every, () => {
      this.#sweepExpired();
      this.#scheduleSweep(every);
    });
  }

  /** Drops entries whose TTL passed without being read, so unread state does not grow without bound. */
  #sweepExpired(): void {
    const now = this.#ctx.clock.now();
    for (const [name, d] of Object.entries(this.#spec)) {
      if (d.ttl === 0) continue;
      const table = this.#ctx.state.table<{ expires: number }>(this.#ctx.stepId, `state.${name}`);
      for (const g of [...table.keyGroups()]) {
        for (const [key, ns, v] of [...table.entries(g)]) if (v.expires <= now) table.remove(g, key, ns);
      }
    }
  }

  onEnd(): void {
    this.#stopTimers();
  }

  onClose(): void {
    this.#stopTimers();
  }

  #stopTimers(): void {
    this.#cancelProc?.();
    this.#cancelSweep?.();
  }
}

/** Rolling aggregation per key: each record updates the key's accumulator and emits the new result. */
export class RollingAggregateOperator implements Operator {
  readonly #agg: Aggregator<unknown, unknown, unknown>;
  readonly #withKey: boolean;
  #ctx!: OperatorContext;
  #table!: StateTable<unknown>;

  /** With `withKey`, results are emitted as `{ key, value }`. */
  constructor(agg: Aggregator<unknown, unknown, unknown>, withKey: boolean) {
    this.#agg = agg;
    this.#withKey = withKey;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    this.#table = ctx.state.table(ctx.stepId, 'acc');
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    const { values, times } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const agg = this.#agg;
    const table = this.#table;
    for (let i = 0; i < values.length; i++) {
      const key = keys[i]!;
      const g = groups[i]!;
      try {
        const before = table.get(g, key, 0);
        const after = agg.add(before === undefined ? agg.create() : before, values[i]);
        table.put(g, key, 0, after);
        const result = agg.result(after);
        out.emit(this.#withKey ? { key, value: result } : result, times[i]!);
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], times[i]!);
      }
    }
  }
}

/** Makes a rolling reduce an aggregator whose accumulator is the reduced value. */
export function reduceAggregator<T>(fn: (a: T, b: T) => T): Aggregator<T, T | typeof NONE, T> {
  return {
    create: () => NONE,
    add: (acc, v) => (acc === NONE ? v : fn(acc as T, v)),
    result: (acc) => acc as T,
    merge: (a, b) => (a === NONE ? b : b === NONE ? a : fn(a as T, b as T)),
  };
}

/** The empty accumulator of a reduce; a symbol so that `undefined` and `null` stay valid values. */
export const NONE: unique symbol = Symbol('eddy.none');
