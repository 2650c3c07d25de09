/**
 * Local pre-aggregation before a keyed window exchange (the combiner of
 * MapReduce, Flink's local-global aggregation). With parallelism above 1 every
 * record of a keyed window would cross to the subtask that owns its key —
 * between threads that costs more per record than the whole aggregation. When
 * the aggregator can `merge`, each subtask instead adds its own records into
 * partial accumulators per (key, window) and sends one partial per key and
 * window when its watermark reaches the window's end; the window step merges
 * the partials (its input 1) and fires as before. With 10,000 keys and 10 s
 * windows that is one message per key, window and subtask instead of every
 * record.
 *
 * Results are exactly those without it, because a partial is sent before this
 * subtask forwards the watermark that could fire its window, and the window
 * step's watermark is the minimum over subtasks. A record whose window this
 * subtask's watermark has already reached goes on unchanged (output 0), so the
 * window step judges it late or not, and late records reach the late output
 * as themselves. Nothing is held across a checkpoint: every partial is sent at
 * the barrier, so a snapshot (and rescaling) never sees this step's buffers.
 *
 * Idle inputs break the watermark argument (the window step's watermark may
 * pass this subtask's while it is idle), so the first time the input goes idle
 * every partial is sent and from then on records go on unchanged.
 */

import { type Batch, effectiveWatermark } from '../core/batch.ts';
import type { Key } from '../core/key-groups.ts';
import { type Aggregator, alignedStart, type WindowAssigner } from '../core/windows.ts';
import { EddyError } from '../errors/index.ts';
import type { Operator, OperatorContext, Output } from './operator.ts';
import { userFunctionFailed } from './user-errors.ts';

/** The local step's outputs: records passed on as they were, and partial accumulators. */
export const RAW_TAG = 0;
export const PARTIALS_TAG = 1;

/** Send everything once this many (key, window) partials are held, to bound memory. */
const MAX_PARTIALS = 100_000;

class Slot {
  acc: unknown;
  readonly group: number;
  constructor(acc: unknown, group: number) {
    this.acc = acc;
    this.group = group;
  }
}

export class WindowCombiner implements Operator {
  readonly #size: number;
  readonly #slide: number;
  readonly #offset: number;
  readonly #agg: Aggregator<unknown, unknown, unknown>;
  readonly #stepId: string;
  // window start -> key -> partial
  readonly #windows = new Map<number, Map<Key, Slot>>();
  #held = 0;
  #lastStart = Number.NaN;
  #lastWindow: Map<Key, Slot> | undefined;
  #watermark = Number.NEGATIVE_INFINITY;
  #passThrough = false;
  #ctx!: OperatorContext;

  /** `stepId`: the window step, which dead letters of the aggregator's functions name. */
  constructor(assigner: WindowAssigner, agg: Aggregator<unknown, unknown, unknown>, stepId: string) {
    if (assigner.kind === 'session')
      throw new EddyError(
        'EDDY_INTERNAL',
        'session windows are not pre-aggregated; the planner must not add a combiner',
      );
    this.#size = assigner.size;
    this.#slide = assigner.kind === 'sliding' ? assigner.slide : assigner.size;
    this.#offset = assigner.offset;
    this.#agg = agg;
    this.#stepId = stepId;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    // Restored: windows the run had reached are not pre-aggregated again.
    if (ctx.restored !== undefined) this.#watermark = ctx.restored.watermark;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    if (this.#passThrough) {
      out.emitBatch(batch, RAW_TAG);
      return;
    }
    const { values, times, floors } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const size = this.#size;
    const slide = this.#slide;
    const offset = this.#offset;
    const wm = this.#watermark;
    let raw: number[] | undefined;
    for (let i = 0; i < values.length; i++) {
      const t = times[i]!;
      const last = alignedStart(t, slide, offset);
      // The record's earliest window ends first: if the watermark (or the record's floor, which the
      // window step judges lateness by too) reached it, send the record as it is.
      let first = last;
      while (first - slide > t - size) first -= slide;
      if (first + size - 1 <= effectiveWatermark(floors, i, wm)) {
        (raw ??= []).push(i);
        continue;
      }
      const v = values[i];
      try {
        for (let start = last; start >= first; start -= slide) this.#add(start, keys[i]!, groups[i]!, v);
      } catch (e) {
        userFunctionFailed(this.#ctx, e, v, t, this.#stepId);
      }
    }
    if (raw !== undefined) out.emitBatch(pickRecords(batch, raw), RAW_TAG);
    if (this.#held > MAX_PARTIALS) this.#sendAll(out);
  }

  #add(start: number, key: Key, group: number, v: unknown): void {
    let window = this.#lastWindow;
    if (start !== this.#lastStart) {
      window = this.#windows.get(start);
      if (window === undefined) this.#windows.set(start, (window = new Map()));
      this.#lastStart = start;
      this.#lastWindow = window;
    }
    const slot = window!.get(key);
    const agg = this.#agg;
    if (slot === undefined) {
      // Added before it is kept: a throwing add leaves no empty accumulator behind.
      window!.set(key, new Slot(agg.add(agg.create(), v), group));
      this.#held++;
    } else slot.acc = agg.add(slot.acc, v);
  }

  onWatermark(watermark: number, out: Output): number {
    this.#watermark = watermark;
    for (const start of this.#windows.keys()) {
      if (start + this.#size - 1 <= watermark) this.#send(start, out);
    }
    return watermark;
  }

  onBarrier(out: Output): void {
    this.#sendAll(out);
  }

  onIdle(idle: boolean, out: Output): void {
    if (!idle) return;
    this.#sendAll(out);
    this.#passThrough = true;
  }

  #sendAll(out: Output): void {
    for (const start of [...this.#windows.keys()]) this.#send(start, out);
  }

  /** Sends one window's partials (time = the window's start) and forgets them. */
  #send(start: number, out: Output): void {
    const window = this.#windows.get(start)!;
    this.#windows.delete(start);
    if (window === this.#lastWindow) {
      this.#lastWindow = undefined;
      this.#lastStart = Number.NaN;
    }
    this.#held -= window.size;
    const max = this.#ctx.batchSize;
    let values: unknown[] = [];
    let keys: Key[] = [];
    let groups: number[] = [];
    for (const [key, slot] of window) {
      values.push(slot.acc);
      keys.push(key);
      groups.push(slot.group);
      if (values.length === max) {
        out.emitBatch({ values, times: new Array(values.length).fill(start), keys, groups }, PARTIALS_TAG);
        values = [];
        keys = [];
        groups = [];
      }
    }
    if (values.length > 0)
      out.emitBatch({ values, times: new Array(values.length).fill(start), keys, groups }, PARTIALS_TAG);
  }
}

/** The records of a keyed batch at `indices`, with their keys, groups and floors. */
export function pickRecords(batch: Batch, indices: readonly number[]): Batch {
  const keys = batch.keys!;
  const groups = batch.groups!;
  const floors = batch.floors;
  const picked = {
    values: indices.map((i) => batch.values[i]),
    times: indices.map((i) => batch.times[i]!),
    keys: indices.map((i) => keys[i]!),
    groups: indices.map((i) => groups[i]!),
  };
  return floors === undefined ? picked : { ...picked, floors: indices.map((i) => floors[i]!) };
}
