/**
 * Two-input keyed joins. Input 0 is the left stream, input 1 the right; both
 * arrive keyed by the same key type, and the task's watermark is the lower of
 * the two inputs'.
 *
 * - Window join: both sides buffered per key and window; the window's pairs are
 *   emitted when it closes. Records after the window's allowed lateness go to
 *   the late output (tag 1).
 * - Interval join: a left record at `t` meets right records in
 *   `[t + lower, t + upper]`; each side is buffered until the watermark proves
 *   no partner can still arrive (and dropped at the next clean-up step,
 *   `cleanupStep`).
 * - Table join: the right input is a changelog that keeps the latest value per
 *   key; each left record is joined with the table as it is when the record
 *   arrives.
 */

import { type Batch, effectiveWatermark } from '../core/batch.ts';
import { type Key, keyGroupOf } from '../core/key-groups.ts';
import { alignedStart, type WindowAssigner } from '../core/windows.ts';
import type { StateTable } from '../state/backend.ts';
import { TimerQueue } from '../time/timers.ts';
import type { Operator, OperatorContext, OperatorSnapshot, Output } from './operator.ts';
import { userFunctionFailed } from './user-errors.ts';
import { LATE_TAG } from './window.ts';

type Entry = [value: unknown, time: number];
type JoinFn = (left: unknown, right: unknown, key: Key) => unknown;

/** The buffered records of each side, per key (and window, as the namespace). */
function sideTables(ctx: OperatorContext): [StateTable<Entry[]>, StateTable<Entry[]>] {
  return [ctx.state.table(ctx.stepId, 'left'), ctx.state.table(ctx.stepId, 'right')];
}

/** Registers the timers of a restored snapshot; returns the watermark to resume with. */
function restoreTimers(ctx: OperatorContext, timers: TimerQueue, once: boolean, watermark: number): number {
  const restored = ctx.restored;
  if (restored === undefined) return watermark;
  const max = ctx.state.maxParallelism;
  timers.restore(restored.keyed.get('timers') ?? [], (k) => keyGroupOf(k, max), once);
  return restored.watermark;
}

/** Emits one joined pair; a throwing join function dead-letters the pair. */
function emitPair(
  ctx: OperatorContext,
  out: Output,
  fn: JoinFn,
  left: unknown,
  right: unknown,
  key: Key,
  time: number,
): void {
  try {
    out.emit(fn(left, right, key), time);
  } catch (e) {
    userFunctionFailed(ctx, e, { left, right }, time);
  }
}

export class WindowJoinOperator implements Operator {
  readonly #assigner: Extract<WindowAssigner, { kind: 'tumbling' | 'sliding' }>;
  readonly #fn: JoinFn;
  readonly #lateness: number;
  readonly #timers = new TimerQueue();
  #ctx!: OperatorContext;
  #sides!: [StateTable<Entry[]>, StateTable<Entry[]>];
  #watermark = Number.NEGATIVE_INFINITY;

  constructor(
    assigner: Extract<WindowAssigner, { kind: 'tumbling' | 'sliding' }>,
    fn: JoinFn,
    allowedLateness: number,
  ) {
    this.#assigner = assigner;
    this.#fn = fn;
    this.#lateness = allowedLateness;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    this.#sides = sideTables(ctx);
    this.#watermark = restoreTimers(ctx, this.#timers, false, this.#watermark);
  }

  onCheckpoint(): OperatorSnapshot {
    return { keyed: this.#timers.snapshot('timers') };
  }

  processBatch(batch: Batch, input: number, out: Output): void {
    const { values, times, floors } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const a = this.#assigner;
    const step = a.kind === 'sliding' ? a.slide : a.size;
    for (let i = 0; i < values.length; i++) {
      const t = times[i]!;
      const floor = floors === undefined ? Number.NEGATIVE_INFINITY : floors[i]!;
      let accepted = false;
      for (let start = alignedStart(t, step, a.offset); start > t - a.size; start -= step) {
        if (this.#add(input, start, keys[i]!, groups[i]!, values[i], t, floor, out)) accepted = true;
      }
      if (!accepted) {
        this.#ctx.metrics.lateRecords++;
        out.emitTo(LATE_TAG, values[i], t, floor);
      }
    }
  }

  #add(
    input: number,
    start: number,
    key: Key,
    group: number,
    v: unknown,
    t: number,
    floor: number,
    out: Output,
  ): boolean {
    const end = start + this.#assigner.size;
    const wm = this.#watermark;
    if (end - 1 + this.#lateness <= Math.max(floor, wm)) return false;
    const mine = this.#sides[input]!;
    const list = mine.get(group, key, start);
    if (list === undefined) {
      mine.put(group, key, start, [[v, t]]);
      const other = this.#sides[1 - input]!;
      // One timer pair per (key, window): registered by whichever side arrives first. No on-time
      // timer once the watermark passed the window's end: its pairs are emitted below as they
      // arrive, and a timer in the past would emit them all again (issue 19).
      if (other.get(group, key, start) === undefined) {
        if (end - 1 > wm) this.#timers.register(end - 1, group, key, start);
        if (this.#lateness > 0) this.#timers.register(end - 1 + this.#lateness, group, key, start);
      }
    } else {
      list.push([v, t]);
      mine.put(group, key, start, list); // a durable backend hands out copies
    }
    if (end - 1 <= this.#watermark) {
      // Late but within lateness: the window already fired, so emit only the new pairs.
      const partners = this.#sides[1 - input]!.get(group, key, start) ?? [];
      for (const [p] of partners)
        emitPair(this.#ctx, out, this.#fn, input === 0 ? v : p, input === 0 ? p : v, key, end - 1);
    }
    return true;
  }

  onWatermark(watermark: number, out: Output): number {
    this.#watermark = watermark;
    const [left, right] = this.#sides;
    for (
      let due = this.#timers.pollDue(watermark);
      due !== undefined;
      due = this.#timers.pollDue(watermark)
    ) {
      for (const { time, keyGroup, key, namespace: start } of due) {
        const end = start + this.#assigner.size;
        if (time === end - 1) {
          const ls = left.get(keyGroup, key, start);
          const rs = right.get(keyGroup, key, start);
          if (ls !== undefined && rs !== undefined) {
            for (const [l] of ls)
              for (const [r] of rs) emitPair(this.#ctx, out, this.#fn, l, r, key, end - 1);
          }
        }
        if (time === end - 1 + this.#lateness) {
          left.remove(keyGroup, key, start);
          right.remove(keyGroup, key, start);
        }
      }
    }
    return watermark;
  }
}

/**
 * How finely an interval join's clean-up timers are kept, for a bound width
 * of `width` ms: the largest power of two at most 1/64 of it (at least 1 ms).
 * A buffered record is dropped at the first multiple of it at or after its
 * horizon, so a key gets one timer per step rather than one per record (a
 * timer, its time's bucket and dedup entries per record were most of the
 * long-lived objects of a long join, which every major collection walks),
 * and the buffer holds at most 1/64 of its width longer. Results do not
 * depend on it: partners are matched by their bounds, not by what is kept.
 */
export function cleanupStep(width: number): number {
  let step = 1;
  while (step * 2 <= width / 64) step *= 2;
  return step;
}

export class IntervalJoinOperator implements Operator {
  readonly #lower: number;
  readonly #upper: number;
  readonly #step: number;
  readonly #fn: JoinFn;
  readonly #timers = new TimerQueue();
  #ctx!: OperatorContext;
  #sides!: [StateTable<Entry[]>, StateTable<Entry[]>];
  #watermark = Number.NEGATIVE_INFINITY;

  constructor(lower: number, upper: number, fn: JoinFn) {
    this.#lower = lower;
    this.#upper = upper;
    this.#step = cleanupStep(upper - lower);
    this.#fn = fn;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    this.#sides = sideTables(ctx);
    this.#watermark = restoreTimers(ctx, this.#timers, true, this.#watermark);
  }

  onCheckpoint(): OperatorSnapshot {
    return { keyed: this.#timers.snapshot('timers') };
  }

  processBatch(batch: Batch, input: number, out: Output): void {
    const { values, times, floors } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const lower = this.#lower;
    const upper = this.#upper;
    const step = this.#step;
    for (let i = 0; i < values.length; i++) {
      const t = times[i]!;
      const v = values[i];
      const key = keys[i]!;
      const g = groups[i]!;
      // Judged against the record's floor too (Batch.floors): then a partner it could meet is
      // still buffered whatever the speed of the other inputs, and results are the same at any parallelism.
      if (t <= effectiveWatermark(floors, i, this.#watermark)) {
        this.#ctx.metrics.lateRecords++;
        out.emitTo(LATE_TAG, v, t, floors?.[i]);
        continue;
      }
      // The latest time a partner still to come can have: buffer the record until the watermark passes it.
      const horizon = input === 0 ? t + upper : t - lower;
      if (horizon > this.#watermark) {
        const mine = this.#sides[input]!;
        const list = mine.get(g, key, 0);
        if (list === undefined) mine.put(g, key, 0, [[v, t]]);
        else {
          list.push([v, t]);
          mine.put(g, key, 0, list); // a durable backend hands out copies
        }
        this.#timers.registerOnce(Math.ceil(horizon / step) * step, g, key, input);
      }
      const partners = this.#sides[1 - input]!.get(g, key, 0);
      if (partners === undefined) continue;
      if (input === 0) {
        for (const [r, rt] of partners)
          if (rt >= t + lower && rt <= t + upper)
            emitPair(this.#ctx, out, this.#fn, v, r, key, Math.max(t, rt));
      } else {
        for (const [l, lt] of partners)
          if (t >= lt + lower && t <= lt + upper)
            emitPair(this.#ctx, out, this.#fn, l, v, key, Math.max(lt, t));
      }
    }
  }

  onWatermark(watermark: number): number {
    this.#watermark = watermark;
    for (
      let due = this.#timers.pollDue(watermark);
      due !== undefined;
      due = this.#timers.pollDue(watermark)
    ) {
      for (const { keyGroup, key, namespace: side } of due) {
        const table = this.#sides[side]!;
        const list = table.get(keyGroup, key, 0);
        if (list === undefined) continue;
        const lower = this.#lower;
        const upper = this.#upper;
        const kept = list.filter(([, t]) => (side === 0 ? t + upper : t - lower) > watermark);
        if (kept.length === 0) table.remove(keyGroup, key, 0);
        else if (kept.length !== list.length) table.put(keyGroup, key, 0, kept);
      }
    }
    return watermark;
  }
}

/** The marker a table's changelog uses to delete a key. */
export const TOMBSTONE = null;

export class TableJoinOperator implements Operator {
  readonly #fn: (value: unknown, row: unknown, key: Key) => unknown;
  readonly #inner: boolean;
  readonly #rowOf: ((value: unknown) => unknown) | undefined;
  #ctx!: OperatorContext;
  #table!: StateTable<unknown>;

  constructor(
    fn: (value: unknown, row: unknown, key: Key) => unknown,
    inner: boolean,
    rowOf?: (value: unknown) => unknown,
  ) {
    this.#fn = fn;
    this.#inner = inner;
    this.#rowOf = rowOf;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    this.#table = ctx.state.table(ctx.stepId, 'table');
  }

  processBatch(batch: Batch, input: number, out: Output): void {
    const { values, times } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const table = this.#table;
    if (input === 1) {
      const rowOf = this.#rowOf;
      for (let i = 0; i < values.length; i++) {
        let v: unknown;
        try {
          v = rowOf === undefined ? values[i] : rowOf(values[i]);
        } catch (e) {
          userFunctionFailed(this.#ctx, e, values[i], times[i]!);
          continue;
        }
        if (v === TOMBSTONE || v === undefined) table.remove(groups[i]!, keys[i]!, 0);
        else table.put(groups[i]!, keys[i]!, 0, v);
      }
      return;
    }
    for (let i = 0; i < values.length; i++) {
      const row = table.get(groups[i]!, keys[i]!, 0);
      if (row === undefined && this.#inner) continue;
      try {
        out.emit(this.#fn(values[i], row, keys[i]!), times[i]!);
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], times[i]!);
      }
    }
  }
}
