/**
 * The keyed window aggregation. Accumulators live in the state table "acc",
 * namespaced by window start (tumbling, sliding) or, for sessions, as a sorted
 * list of sessions per key in the table "sessions". Timers fire a window at
 * `end - 1` (on-time result) and drop its state at `end - 1 + allowedLateness`
 * (sessions: `+ gap` more, see #addToSession).
 *
 * A record is late when every window it belongs to is past that cleanup time,
 * judged against the higher of this step's watermark and the record's floor
 * (`Batch.floors`, so the same at any parallelism); it goes to side output 1
 * (the late output) and is counted, never dropped.
 *
 * A window gets its on-time timer only while the watermark has not reached
 * its end: a record that opens (or, for sessions, grows) a window the
 * watermark already passed is emitted at once as `late`, and must not be
 * emitted again as `on-time` by a timer in the past (issue 19).
 */

import type { Batch } from '../core/batch.ts';
import type { Key } from '../core/key-groups.ts';
import { type Aggregator, alignedStart, type Timing, type WindowAssigner } from '../core/windows.ts';
import type { StateTable } from '../state/backend.ts';
import { TimerQueue } from '../time/timers.ts';
import type { Operator, OperatorContext, Output } from './operator.ts';
import { userFunctionFailed } from './user-errors.ts';
import { PARTIALS_TAG } from './window-combine.ts';

export const LATE_TAG = 1;

export interface WindowOptions {
  readonly allowedLateness: number;
  /** Emit early results for changed windows every this many ms of processing time; 0 = never. */
  readonly earlyEvery: number;
}

interface Session<A> {
  start: number;
  end: number;
  acc: A;
}

export class WindowOperator implements Operator {
  readonly #assigner: WindowAssigner;
  readonly #agg: Aggregator<unknown, unknown, unknown>;
  readonly #lateness: number;
  readonly #earlyEvery: number;
  readonly #timers = new TimerQueue();
  #ctx!: OperatorContext;
  #acc!: StateTable<unknown>;
  #sessions!: StateTable<Session<unknown>[]>;
  #watermark = Number.NEGATIVE_INFINITY;
  // Whether values read from state are copies (a durable backend): then a value changed in place must be put back.
  #putBack = false;
  // Only with early results: windows changed since the last early emission, ns -> key -> key group.
  #dirty: Map<number, Map<Key, number>> | undefined;
  #out!: Output;
  #cancelEarly: (() => void) | undefined;

  constructor(assigner: WindowAssigner, agg: Aggregator<unknown, unknown, unknown>, options: WindowOptions) {
    this.#assigner = assigner;
    this.#agg = agg;
    this.#lateness = options.allowedLateness;
    this.#earlyEvery = options.earlyEvery;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    this.#acc = ctx.state.table(ctx.stepId, 'acc');
    this.#sessions = ctx.state.table(ctx.stepId, 'sessions');
    this.#putBack = ctx.state.kind !== 'heap';
    if (ctx.restored !== undefined) this.#restoreTimers(ctx.restored.watermark);
    if (this.#earlyEvery > 0) {
      this.#dirty = new Map();
      this.#scheduleEarly();
    }
  }

  /**
   * Timers are not snapshotted: every window in state has exactly the timers
   * its end and the lateness give, so they are registered again from the
   * restored state (saving one timer per key and window in each checkpoint).
   * Timers at or before the restored watermark already fired.
   */
  #restoreTimers(watermark: number): void {
    this.#watermark = watermark;
    const lateness = this.#lateness;
    const timers = this.#timers;
    const register = (time: number, g: number, key: Key, ns: number, once: boolean) => {
      if (time <= watermark) return;
      if (once) timers.registerOnce(time, g, key, ns);
      else timers.register(time, g, key, ns);
    };
    if (this.#assigner.kind === 'session') {
      const gap = this.#assigner.gap;
      for (const g of [...this.#sessions.keyGroups()]) {
        for (const [key, , list] of this.#sessions.entries(g)) {
          for (const s of list) {
            register(s.end - 1, g, key, 0, true);
            register(s.end - 1 + lateness + gap, g, key, 0, true);
          }
        }
      }
      return;
    }
    const size = (this.#assigner as { size: number }).size;
    for (const g of [...this.#acc.keyGroups()]) {
      for (const [key, start] of this.#acc.entries(g)) {
        register(start + size - 1, g, key, start, false);
        if (lateness > 0) register(start + size - 1 + lateness, g, key, start, false);
      }
    }
  }

  processBatch(batch: Batch, input: number, out: Output): void {
    this.#out = out;
    if (input === PARTIALS_TAG) {
      this.#mergePartials(batch);
      return;
    }
    const { values, times, floors } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const a = this.#assigner;
    if (a.kind === 'tumbling' && this.#dirty === undefined) {
      this.#tumbling(batch, a.size, a.offset, out);
      return;
    }
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const t = times[i]!;
      const floor = floors === undefined ? Number.NEGATIVE_INFINITY : floors[i]!;
      try {
        let accepted: boolean;
        if (a.kind === 'tumbling')
          accepted = this.#addTo(alignedStart(t, a.size, a.offset), a.size, keys[i]!, groups[i]!, v, floor);
        else if (a.kind === 'sliding') {
          accepted = false;
          const last = alignedStart(t, a.slide, a.offset);
          for (let start = last; start > t - a.size; start -= a.slide) {
            if (this.#addTo(start, a.size, keys[i]!, groups[i]!, v, floor)) accepted = true;
          }
        } else accepted = this.#addToSession(t, a.gap, keys[i]!, groups[i]!, v, floor);
        if (!accepted) {
          this.#ctx.metrics.lateRecords++;
          out.emitTo(LATE_TAG, v, t, floor);
        }
      } catch (e) {
        userFunctionFailed(this.#ctx, e, v, t);
      }
    }
  }

  /** The common case (tumbling, no early results): one window per record, no branching on the assigner. */
  #tumbling(batch: Batch, size: number, offset: number, out: Output): void {
    const { values, times, floors } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const t = times[i]!;
      const floor = floors === undefined ? Number.NEGATIVE_INFINITY : floors[i]!;
      try {
        if (this.#addTo(alignedStart(t, size, offset), size, keys[i]!, groups[i]!, v, floor)) continue;
      } catch (e) {
        userFunctionFailed(this.#ctx, e, v, t);
        continue;
      }
      this.#ctx.metrics.lateRecords++;
      out.emitTo(LATE_TAG, v, t, floor);
    }
  }

  /**
   * Adds record `v` (or, with `partial`, merges the accumulator `v` a combiner
   * sent) to window [start, start+size) of `key`; false if that window is past
   * its allowed lateness by this step's watermark or the record's `floor`.
   */
  #addTo(
    start: number,
    size: number,
    key: Key,
    group: number,
    v: unknown,
    floor: number,
    partial = false,
  ): boolean {
    const end = start + size;
    const wm = this.#watermark;
    if (end - 1 + this.#lateness <= Math.max(floor, wm)) return false;
    const table = this.#acc;
    const before = table.get(group, key, start);
    const agg = this.#agg;
    let after: unknown;
    if (before === undefined) {
      after = partial ? v : agg.add(agg.create(), v);
      table.put(group, key, start, after);
      // A window the watermark already passed fired (or never will on time): no on-time timer.
      if (end - 1 > wm) this.#timers.register(end - 1, group, key, start);
      if (this.#lateness > 0) this.#timers.register(end - 1 + this.#lateness, group, key, start);
    } else {
      after = partial ? agg.merge!(before, v) : agg.add(before, v);
      if (after !== before || this.#putBack) table.put(group, key, start, after);
    }
    if (end - 1 <= wm) this.#emit(key, start, end, after, 'late');
    else if (this.#dirty !== undefined) this.#markDirty(start, key, group);
    return true;
  }

  /**
   * Input 1, with a `WindowCombiner` before the exchange: partial accumulators
   * of (key, window start = record time), merged into the window's state.
   */
  #mergePartials(batch: Batch): void {
    const { values, times } = batch;
    const keys = batch.keys!;
    const groups = batch.groups!;
    const size = (this.#assigner as { size: number }).size;
    for (let i = 0; i < values.length; i++) {
      const start = times[i]!;
      try {
        if (this.#addTo(start, size, keys[i]!, groups[i]!, values[i], Number.NEGATIVE_INFINITY, true))
          continue;
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], start);
        continue;
      }
      // The combiner sends a partial before its watermark can fire the window; one past the
      // window's lateness means that broke (a bug in eddy). Never dropped: it goes to the dead letters.
      this.#ctx.metrics.lateRecords++;
      this.#ctx.deadLetter(
        'EDDY_INTERNAL',
        `a pre-aggregated partial of window [${start}, ${start + size}) arrived after the window's state was dropped (watermark ${this.#watermark}); please report this`,
        values[i],
        start,
      );
    }
  }

  /**
   * Adds a record at `t` to the sessions of `key`. Late when the session the
   * record alone would open, [t, t + gap), is past the allowed lateness — not
   * the merged session: whether a session it would merge with is still in
   * state depends on when the watermark passed, and merging with it or not
   * would give different results at different speeds. For the same reason a
   * session's state is kept `gap` longer than its lateness: any record that
   * is not late and would merge with it finds it (its end is at most `gap`
   * past the record's own session's), so sessions are always those of a
   * batch sessionization of the accepted records.
   */
  #addToSession(t: number, gap: number, key: Key, group: number, v: unknown, floor: number): boolean {
    const wm = this.#watermark;
    const lateness = this.#lateness;
    if (t + gap - 1 + lateness <= Math.max(floor, wm)) return false;
    const agg = this.#agg;
    let start = t;
    let end = t + gap;
    const sessions = this.#sessions.get(group, key, 0) ?? [];
    // Sessions are sorted and disjoint, so the ones the new one overlaps are one run [lo, hi):
    // skip those that end before it starts, then absorb while the next starts before its end.
    // Replaced in place, so an in-order record (the common case) costs no copy of the list and no sort.
    let lo = 0;
    while (lo < sessions.length && sessions[lo]!.end <= start) lo++;
    // The common case: the record falls into one open session and reaches no other. It is added to
    // that session's accumulator in place (no accumulator, session object or splice per record);
    // its timers are pending already (see below).
    const one = sessions[lo];
    if (one !== undefined && one.start < end && one.end - 1 > wm) {
      const grown = Math.max(one.end, end);
      const next = sessions[lo + 1];
      if (next === undefined || next.start >= grown) {
        one.acc = agg.add(one.acc, v);
        if (t < one.start) one.start = t;
        one.end = grown;
        this.#sessions.put(group, key, 0, sessions);
        if (this.#dirty !== undefined) this.#markDirty(one.start, key, group);
        return true;
      }
    }
    let acc = agg.add(agg.create(), v);
    let hi = lo;
    // Whether a session this one absorbs is still open: its timers (or earlier ones) are pending.
    let pending = false;
    if (hi < sessions.length && sessions[hi]!.start < end) {
      const merge = agg.merge!;
      do {
        const s = sessions[hi]!;
        if (s.start < start) start = s.start;
        if (s.end > end) end = s.end;
        if (s.end - 1 > wm) pending = true;
        acc = merge(s.acc, acc);
        hi++;
      } while (hi < sessions.length && sessions[hi]!.start < end);
    }
    sessions.splice(lo, hi - lo, { start, end, acc });
    this.#sessions.put(group, key, 0, sessions);
    // Timers are chained: a session that grows out of an open one keeps that one's pending
    // timers, which come due no later than its own would and register its new end then
    // (#fireSession). So a record that extends a session — most records — registers nothing;
    // registering its end at every record cost two timer-queue entries per record. No on-time
    // timer for a session the watermark already passed: it is emitted as late below, once.
    // An open session needs only its on-time timer: the cleanup timer is set when that fires.
    if (!pending) {
      if (end - 1 > wm) this.#timers.registerOnce(end - 1, group, key, 0);
      else this.#timers.registerOnce(end - 1 + lateness + gap, group, key, 0);
    }
    if (end - 1 <= wm) this.#emit(key, start, end, acc, 'late');
    else if (this.#dirty !== undefined) this.#markDirty(start, key, group);
    return true;
  }

  onWatermark(watermark: number, out: Output): number {
    this.#out = out;
    this.#watermark = watermark;
    const timers = this.#timers;
    for (let due = timers.pollDue(watermark); due !== undefined; due = timers.pollDue(watermark)) {
      for (const timer of due) {
        if (this.#assigner.kind === 'session') this.#fireSession(timer.time, timer.keyGroup, timer.key);
        else this.#fireWindow(timer.time, timer.keyGroup, timer.key, timer.namespace);
      }
    }
    return watermark;
  }

  #fireWindow(time: number, group: number, key: Key, start: number): void {
    const a = this.#assigner as { size: number };
    const end = start + a.size;
    const acc = this.#acc.get(group, key, start);
    if (acc === undefined) return;
    if (time === end - 1) {
      this.#dirty?.get(start)?.delete(key);
      this.#emit(key, start, end, acc, 'on-time');
    }
    if (time === end - 1 + this.#lateness) this.#acc.remove(group, key, start);
  }

  #fireSession(time: number, group: number, key: Key): void {
    const sessions = this.#sessions.get(group, key, 0);
    if (sessions === undefined) return;
    for (const s of sessions) {
      if (time === s.end - 1) {
        this.#dirty?.get(s.start)?.delete(key);
        this.#emit(key, s.start, s.end, s.acc, 'on-time');
      }
    }
    // Kept `gap` past the lateness (see #addToSession).
    const keep = this.#lateness + (this.#assigner as { gap: number }).gap;
    let left = 0;
    const timers = this.#timers;
    for (const s of sessions) {
      if (s.end - 1 + keep <= time) continue;
      left++;
      // The chain goes on (see #addToSession): a session still open (it grew since this timer was
      // set) gets its on-time timer now — a time the watermark already passed fires in the same
      // onWatermark loop — and one that has fired gets its cleanup timer.
      if (s.end - 1 > time) timers.registerOnce(s.end - 1, group, key, 0);
      else timers.registerOnce(s.end - 1 + keep, group, key, 0);
    }
    if (left === 0) this.#sessions.remove(group, key, 0);
    else if (left !== sessions.length)
      this.#sessions.put(
        group,
        key,
        0,
        sessions.filter((s) => s.end - 1 + keep > time),
      );
  }

  /**
   * Emits a window's result. A throwing `result()` dead-letters the window
   * (its key, bounds and timing) like any other user function, instead of
   * failing the run (issue 19); the window's state stays, so a later update
   * may still emit.
   */
  #emit(key: Key, start: number, end: number, acc: unknown, timing: Timing): void {
    let value: unknown;
    try {
      value = this.#agg.result(acc);
    } catch (e) {
      userFunctionFailed(this.#ctx, e, { key, window: { start, end }, timing }, end - 1);
      return;
    }
    this.#out.emit({ key, window: { start, end }, value, timing }, end - 1);
  }

  #markDirty(start: number, key: Key, group: number): void {
    let keys = this.#dirty!.get(start);
    if (keys === undefined) this.#dirty!.set(start, (keys = new Map()));
    keys.set(key, group);
  }

  #scheduleEarly(): void {
    const clock = this.#ctx.clock;
    this.#cancelEarly = this.#ctx.scheduleProcessingTime(clock.now() + this.#earlyEvery, () => {
      this.#emitEarly();
      this.#scheduleEarly();
    });
  }

  #emitEarly(): void {
    const dirty = this.#dirty!;
    if (this.#out === undefined) return;
    for (const [start, keys] of dirty) {
      for (const [key, group] of keys) {
        if (this.#assigner.kind === 'session') {
          const s = this.#sessions.get(group, key, 0)?.find((x) => x.start === start);
          if (s !== undefined) this.#emit(key, s.start, s.end, s.acc, 'early');
        } else {
          const acc = this.#acc.get(group, key, start);
          const size = (this.#assigner as { size: number }).size;
          if (acc !== undefined) this.#emit(key, start, start + size, acc, 'early');
        }
      }
    }
    dirty.clear();
  }

  onEnd(): void {
    this.#cancelEarly?.();
  }

  onClose(): void {
    this.#cancelEarly?.();
  }
}
