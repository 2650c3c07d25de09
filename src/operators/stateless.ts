/**
 * Stateless operators that do not chain: timestamp re-assignment, branch,
 * and the pass-through of source steps and unions. (map, filter, flatMap and
 * keyBy run as chains: see chain.ts.)
 */
import type { Batch } from '../core/batch.ts';
import type { Operator, OperatorContext, Output } from './operator.ts';
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

/**
 * Re-assigns event time mid-stream and generates its own watermarks
 * (bounded out-of-orderness), ignoring upstream watermarks except the final one.
 * Records leave without floors (`Batch.floors`): those belonged to the old times.
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
    const { values, times, floors } = batch;
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
      out.emitTo(tag, v, times[i]!, floors?.[i]);
    }
  }
}

/**
 * Hands every batch on: the operator of a source's own step (what the source
 * driver pushes), of the dead-letter stream's entry, of a gathered sink in the
 * subtasks that do not run it, and — with `dropKeys` — of `union`, which
 * merges its inputs (the task already takes the minimum of their watermarks).
 * A union's output is not keyed, so it drops the keys (and key groups) a
 * keyed input carries rather than carry them on — across threads too — to
 * steps that must not rely on them. (Union was its own operator until issue
 * 13 folded it in here; `npm run bench -- union`, BENCHMARKS.md.)
 *
 * @example
 * ```ts
 * const union = new PassThroughOperator({ dropKeys: true }); // what Stream.union runs
 * ```
 */
export class PassThroughOperator implements Operator {
  readonly #dropKeys: boolean;

  constructor(options: { readonly dropKeys?: boolean } = {}) {
    this.#dropKeys = options.dropKeys === true;
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    if (batch.keys === undefined || !this.#dropKeys) out.emitBatch(batch);
    else {
      const { values, times, floors } = batch;
      out.emitBatch(floors === undefined ? { values, times } : { values, times, floors });
    }
  }
}
