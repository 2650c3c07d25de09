/**
 * Asynchronous enrichment with bounded concurrency. On a keyed stream, records
 * of one key are called one after another (per-key order), different keys run
 * concurrently; on an unkeyed stream results leave in input order.
 *
 * Watermarks never overtake records: each watermark closes an "epoch" and is
 * forwarded only once every record that arrived before it has been emitted.
 * When more records wait than can run, processBatch returns a promise, so the
 * source slows down instead of the queue growing.
 */

import type { Batch } from '../core/batch.ts';
import type { Key } from '../core/key-groups.ts';
import { EddyError } from '../errors/index.ts';
import type { Operator, OperatorContext, Output } from './operator.ts';
import { messageOf } from './user-errors.ts';

export interface MapAsyncOptions {
  readonly concurrency: number;
  /** Calls taking longer than this (ms) fail with a timeout; 0 = no limit. */
  readonly timeout: number;
}

interface Epoch {
  outstanding: number;
  watermark: number | undefined;
}

interface Entry {
  readonly value: unknown;
  readonly time: number;
  /** The record's floor (Batch.floors), passed on with its result. */
  readonly floor: number;
  readonly key: Key | undefined;
  readonly epoch: Epoch;
  done: boolean;
  result: unknown;
  error: unknown;
}

export class MapAsyncOperator implements Operator {
  readonly #fn: (value: unknown) => Promise<unknown> | unknown;
  readonly #concurrency: number;
  readonly #timeout: number;
  #ctx!: OperatorContext;
  #out!: Output;
  #inFlight = 0;
  // Records not started yet because every slot was busy (FIFO with a moving head).
  #waiting: Entry[] = [];
  #waitingHead = 0;
  // Keyed: the key is active while one of its records runs; later ones queue here in order.
  readonly #keyQueues = new Map<Key, Entry[]>();
  #queued = 0;
  // Unkeyed: every record in input order, emitted from the head once done.
  readonly #order: Entry[] = [];
  #orderHead = 0;
  #epochs: Epoch[] = [{ outstanding: 0, watermark: undefined }];
  #epochHead = 0;
  #room: (() => void) | undefined;
  #idle: (() => void) | undefined;
  #cancelLinger: (() => void) | undefined;
  #closed = false;

  constructor(fn: (value: unknown) => Promise<unknown> | unknown, options: MapAsyncOptions) {
    this.#fn = fn;
    this.#concurrency = options.concurrency;
    this.#timeout = options.timeout;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }

  processBatch(batch: Batch, _input: number, out: Output): void | Promise<void> {
    this.#out = out;
    const { values, times, keys, floors } = batch;
    const epoch = this.#epochs[this.#epochs.length - 1]!;
    for (let i = 0; i < values.length; i++) {
      const entry: Entry = {
        value: values[i],
        time: times[i]!,
        floor: floors === undefined ? Number.NEGATIVE_INFINITY : floors[i]!,
        key: keys?.[i],
        epoch,
        done: false,
        result: undefined,
        error: undefined,
      };
      epoch.outstanding++;
      if (keys === undefined) this.#order.push(entry);
      else {
        const q = this.#keyQueues.get(entry.key!);
        if (q !== undefined) {
          q.push(entry);
          this.#queued++;
          continue;
        }
      }
      if (this.#inFlight < this.#concurrency) this.#start(entry);
      else this.#waiting.push(entry);
    }
    if (this.#pending() > 0) return new Promise((resolve) => (this.#room = resolve));
  }

  #pending(): number {
    return this.#waiting.length - this.#waitingHead + this.#queued;
  }

  #start(entry: Entry): void {
    if (entry.key !== undefined && !this.#keyQueues.has(entry.key)) this.#keyQueues.set(entry.key, []);
    this.#inFlight++;
    let result: unknown;
    try {
      result = this.#fn(entry.value);
    } catch (e) {
      this.#complete(entry, undefined, e);
      return;
    }
    if (!(result instanceof Promise)) {
      queueMicrotask(() => this.#complete(entry, result, undefined));
      return;
    }
    let cancel: (() => void) | undefined;
    if (this.#timeout > 0) {
      cancel = this.#ctx.clock.schedule(this.#ctx.clock.now() + this.#timeout, () => {
        cancel = undefined;
        this.#complete(entry, undefined, new Error(`call timed out after ${this.#timeout} ms`));
      });
    }
    result.then(
      (r) => {
        cancel?.();
        this.#complete(entry, r, undefined);
      },
      (e) => {
        cancel?.();
        this.#complete(entry, undefined, e);
      },
    );
  }

  #complete(entry: Entry, result: unknown, error: unknown): void {
    // A call that ends after the run stopped (cancelled, failed, killed) emits nothing: the steps after
    // this one are closed, and a restart replays the record from the checkpoint.
    if (entry.done || this.#closed) return; // done: a timeout already completed it
    entry.done = true;
    entry.result = result;
    entry.error = error;
    this.#inFlight--;
    if (entry.key === undefined) {
      const order = this.#order;
      while (this.#orderHead < order.length && order[this.#orderHead]!.done)
        this.#emit(order[this.#orderHead++]!);
      if (this.#orderHead > 1024 && this.#orderHead * 2 > order.length) {
        order.splice(0, this.#orderHead);
        this.#orderHead = 0;
      }
    } else {
      this.#emit(entry);
      const q = this.#keyQueues.get(entry.key)!;
      const next = q.shift();
      if (next === undefined) this.#keyQueues.delete(entry.key);
      else {
        // The key's next record takes the slot just freed, ahead of other waiting keys, so per-key order holds.
        this.#queued--;
        this.#start(next);
      }
    }
    this.#fill();
    this.#releaseEpochs();
    this.#afterProgress();
  }

  #fill(): void {
    const waiting = this.#waiting;
    while (this.#inFlight < this.#concurrency && this.#waitingHead < waiting.length) {
      const entry = waiting[this.#waitingHead++]!;
      const q = entry.key === undefined ? undefined : this.#keyQueues.get(entry.key);
      if (q !== undefined) {
        q.push(entry);
        this.#queued++;
      } else this.#start(entry);
    }
    if (this.#waitingHead === waiting.length) {
      this.#waiting = [];
      this.#waitingHead = 0;
    }
  }

  #emit(entry: Entry): void {
    entry.epoch.outstanding--;
    if (entry.error === undefined) {
      this.#out.emitTo(0, entry.result, entry.time, entry.floor);
      return;
    }
    const reason = `async call failed: ${messageOf(entry.error)}`;
    if (this.#ctx.errorPolicy === 'fail') {
      this.#ctx.fail(
        new EddyError('EDDY_USER_FUNCTION_FAILED', reason, { cause: entry.error, stepId: this.#ctx.stepId }),
      );
    } else this.#ctx.deadLetter('EDDY_USER_FUNCTION_FAILED', reason, entry.value, entry.time);
  }

  #releaseEpochs(): void {
    const epochs = this.#epochs;
    while (this.#epochHead < epochs.length - 1 && epochs[this.#epochHead]!.outstanding === 0) {
      const wm = epochs[this.#epochHead++]!.watermark!;
      this.#cancelLinger?.();
      this.#cancelLinger = undefined;
      this.#out.watermark(wm);
    }
    if (this.#epochHead > 64) {
      this.#epochs = epochs.slice(this.#epochHead);
      this.#epochHead = 0;
    }
  }

  #afterProgress(): void {
    if (this.#room !== undefined && this.#pending() === 0) {
      const room = this.#room;
      this.#room = undefined;
      room();
    }
    if (this.#idle !== undefined && this.#inFlight === 0 && this.#pending() === 0) {
      this.#out.flush();
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
      return;
    }
    // Results trickle in one by one: hand them on after a short linger rather than one at a time.
    if (this.#cancelLinger === undefined) {
      const clock = this.#ctx.clock;
      this.#cancelLinger = this.#ctx.scheduleProcessingTime(clock.now() + this.#ctx.lingerMs, () => {
        this.#cancelLinger = undefined;
      });
    }
  }

  onWatermark(watermark: number, out: Output): number {
    this.#out = out;
    const last = this.#epochs[this.#epochs.length - 1]!;
    if (this.#epochs.length - this.#epochHead === 1 && last.outstanding === 0) return watermark;
    last.watermark = watermark;
    this.#epochs.push({ outstanding: 0, watermark: undefined });
    return Number.NEGATIVE_INFINITY;
  }

  onEnd(out: Output): void | Promise<void> {
    return this.#whenIdle(out);
  }

  /** At a checkpoint barrier, calls in flight finish and are emitted (they are not snapshotted). */
  onBarrier(out: Output): void | Promise<void> {
    return this.#whenIdle(out);
  }

  #whenIdle(out: Output): void | Promise<void> {
    this.#out = out;
    if (this.#inFlight === 0 && this.#pending() === 0) return;
    return new Promise((resolve) => (this.#idle = resolve));
  }

  onClose(): void {
    this.#closed = true;
    this.#cancelLinger?.();
  }
}
