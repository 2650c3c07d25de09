/**
 * Stateless operators: each runs the user's function over the batch in one
 * plain loop and hands on a new batch. A throw isolates just the bad record
 * (see user-errors.ts); the loop resumes after it.
 */
import type { Batch } from '../runtime/batch.ts';
import type { Operator, OperatorContext, Output } from '../runtime/operator.ts';
import { type Key, keyGroupOf } from '../state/key-groups.ts';
import { userFunctionFailed } from './user-errors.ts';

type Fn<A, B> = (value: A) => B;

/** Removes the records at the (ascending) `drop` indices. */
function without<T>(values: readonly T[], times: readonly number[], drop: readonly number[]): Batch<T> {
  const v: T[] = [];
  const t: number[] = [];
  let d = 0;
  for (let i = 0; i < values.length; i++) {
    if (d < drop.length && drop[d] === i) {
      d++;
      continue;
    }
    v.push(values[i]!);
    t.push(times[i]!);
  }
  return { values: v, times: t };
}

export class MapOperator implements Operator {
  readonly #fn: Fn<unknown, unknown>;
  #ctx!: OperatorContext;

  constructor(fn: Fn<unknown, unknown>) {
    this.#fn = fn;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    const values = batch.values;
    const n = values.length;
    const fn = this.#fn;
    const result = new Array<unknown>(n);
    let failed: number[] | undefined;
    let i = 0;
    while (i < n) {
      try {
        for (; i < n; i++) result[i] = fn(values[i]);
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], batch.times[i]!);
        (failed ??= []).push(i++);
      }
    }
    out.emitBatch(
      failed === undefined ? { values: result, times: batch.times } : without(result, batch.times, failed),
    );
  }
}

export class FilterOperator implements Operator {
  readonly #fn: Fn<unknown, boolean>;
  #ctx!: OperatorContext;

  constructor(fn: Fn<unknown, boolean>) {
    this.#fn = fn;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    const { values, times } = batch;
    const n = values.length;
    const fn = this.#fn;
    const v: unknown[] = [];
    const t: number[] = [];
    let i = 0;
    while (i < n) {
      try {
        for (; i < n; i++) {
          const x = values[i];
          if (fn(x)) {
            v.push(x);
            t.push(times[i]!);
          }
        }
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], times[i]!);
        i++;
      }
    }
    out.emitBatch(v.length === n ? { values, times } : { values: v, times: t });
  }
}

export class FlatMapOperator implements Operator {
  readonly #fn: Fn<unknown, Iterable<unknown>>;
  #ctx!: OperatorContext;

  constructor(fn: Fn<unknown, Iterable<unknown>>) {
    this.#fn = fn;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    const { values, times } = batch;
    const n = values.length;
    const fn = this.#fn;
    const v: unknown[] = [];
    const t: number[] = [];
    let i = 0;
    while (i < n) {
      try {
        for (; i < n; i++) {
          const produced = fn(values[i]);
          const time = times[i]!;
          if (Array.isArray(produced)) {
            for (let j = 0; j < produced.length; j++) {
              v.push(produced[j]);
              t.push(time);
            }
          } else {
            for (const p of produced) {
              v.push(p);
              t.push(time);
            }
          }
        }
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], times[i]!);
        i++;
      }
    }
    out.emitBatch({ values: v, times: t });
  }
}

/**
 * Computes each record's key and key group once, for the keyed step after it.
 * On one worker this is all a keyBy does; across workers it is where records
 * are exchanged by key group.
 */
export class KeyByOperator implements Operator {
  readonly #fn: Fn<unknown, Key>;
  readonly #maxParallelism: number;
  #ctx!: OperatorContext;

  constructor(fn: Fn<unknown, Key>, maxParallelism: number) {
    this.#fn = fn;
    this.#maxParallelism = maxParallelism;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    const { values, times } = batch;
    const n = values.length;
    const fn = this.#fn;
    const mp = this.#maxParallelism;
    const keys = new Array<Key>(n);
    const groups = new Int32Array(n);
    let failed: number[] | undefined;
    let i = 0;
    while (i < n) {
      try {
        for (; i < n; i++) {
          const k = fn(values[i]);
          if (typeof k !== 'string' && typeof k !== 'number')
            throw new TypeError(`key must be a string or number, got ${typeof k}`);
          keys[i] = k;
          groups[i] = keyGroupOf(k, mp);
        }
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], times[i]!);
        (failed ??= []).push(i++);
      }
    }
    if (failed === undefined) {
      out.emitBatch({ values, times, keys, groups });
      return;
    }
    const kept = without(values, times, failed);
    const k2: Key[] = [];
    const g2: number[] = [];
    let d = 0;
    for (let j = 0; j < n; j++) {
      if (d < failed.length && failed[d] === j) {
        d++;
        continue;
      }
      k2.push(keys[j]!);
      g2.push(groups[j]!);
    }
    out.emitBatch({ values: kept.values, times: kept.times, keys: k2, groups: g2 });
  }
}

/**
 * Re-assigns event time mid-stream and generates its own watermarks
 * (bounded out-of-orderness), ignoring upstream watermarks except the final one.
 */
export class TimestampsOperator implements Operator {
  readonly #fn: Fn<unknown, number>;
  readonly #bound: number;
  #max = Number.NEGATIVE_INFINITY;
  #emitted = Number.NEGATIVE_INFINITY;
  #ctx!: OperatorContext;

  constructor(fn: Fn<unknown, number>, maxOutOfOrderness: number) {
    this.#fn = fn;
    this.#bound = maxOutOfOrderness;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    const values = batch.values;
    const n = values.length;
    const times = new Array<number>(n);
    let failed: number[] | undefined;
    let max = this.#max;
    let i = 0;
    while (i < n) {
      try {
        for (; i < n; i++) {
          const t = this.#fn(values[i]);
          if (typeof t !== 'number' || !Number.isFinite(t))
            throw new TypeError(`timestamp must be a finite number, got ${String(t)}`);
          times[i] = t;
          if (t > max) max = t;
        }
      } catch (e) {
        userFunctionFailed(this.#ctx, e, values[i], batch.times[i]!);
        (failed ??= []).push(i++);
      }
    }
    this.#max = max;
    out.emitBatch(failed === undefined ? { values, times } : without(values, times, failed));
    const wm = max - this.#bound - 1;
    if (wm > this.#emitted) {
      this.#emitted = wm;
      out.watermark(wm);
    }
  }

  onWatermark(watermark: number): number {
    return watermark === Number.POSITIVE_INFINITY ? watermark : Number.NEGATIVE_INFINITY;
  }
}

/** Merges its inputs; the task already takes the minimum of their watermarks. */
export class UnionOperator implements Operator {
  processBatch(batch: Batch, _input: number, out: Output): void {
    out.emitBatch(batch.keys === undefined ? batch : { values: batch.values, times: batch.times });
  }
}

/** Routes each record to the first branch whose predicate holds (tags 1..n), else to the last tag ('rest'). */
export class BranchOperator implements Operator {
  readonly #predicates: readonly Fn<unknown, boolean>[];
  #ctx!: OperatorContext;

  constructor(predicates: readonly Fn<unknown, boolean>[]) {
    this.#predicates = predicates;
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    const { values, times } = batch;
    const preds = this.#predicates;
    const rest = preds.length + 1;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      let tag = rest;
      try {
        for (let p = 0; p < preds.length; p++) {
          if (preds[p]!(v)) {
            tag = p + 1;
            break;
          }
        }
      } catch (e) {
        userFunctionFailed(this.#ctx, e, v, times[i]!);
        continue;
      }
      out.emitTo(tag, v, times[i]!);
    }
  }
}

/** The operator of a source's own step: it only hands on what the source driver pushes. */
export class PassThroughOperator implements Operator {
  processBatch(batch: Batch, _input: number, out: Output): void {
    out.emitBatch(batch);
  }
}
