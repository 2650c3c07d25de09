/**
 * Pre-aggregation across the instances of a Kafka application (issue 18:
 * a hot key split over instances, merged in a second phase; Flink SQL's
 * local-global aggregation, which Kafka Streams does not have).
 *
 * Without it, a pipeline whose input is not partitioned by its key sends
 * every record through `<app-id>-repartition` to its key's partition, so
 * one task reads, decodes and aggregates all of a hot key's records. With
 * `new Pipeline({ preAggregate: true })` (or `'split'`), when the first
 * keyBy's only reader is a window aggregation whose aggregator merges (not
 * sessions, no early results), the application runs as two stages:
 *
 * - **The input stage** reads each input partition where it is (no
 *   repartition topic): the steps before the keyBy, the keyBy, and a
 *   combiner (`WindowCombiner`, as between worker threads) that adds the
 *   records into a partial per key and window. When its watermark passes a
 *   window, and at every commit, it writes the partials, keyed, to the
 *   stage topic `<app-id>-<window step>-stage`; a record whose window its
 *   watermark had already reached goes on as itself, with its floor. It
 *   keeps no keyed state, so records need not be in their key's partition.
 * - **The merge stage** (`<app-id>-<window step>`) reads that topic by key,
 *   merges the partials (and aggregates the records passed on) in the
 *   window step, which keeps the state and fires on the lowest watermark
 *   over the input stage's tasks (carried.ts), as the window step fires on
 *   the lowest over worker threads; everything after it runs there.
 *
 * So a hot key's records are combined by every task that reads them, and
 * only one partial per key, window and input partition crosses (once per
 * commit interval at most), instead of every record. Results equal those
 * without it: a partial is written before the watermark that could close
 * its window, inside the same transaction as the input offsets, and the
 * combiner holds nothing across a commit. Lateness is judged where the
 * record is read, by its input partition's event time, as embedded.
 *
 * What it cannot split: a hot key whose records all sit in one input
 * partition (input produced keyed by it) is still read by one task.
 *
 * Partials cross as JSON envelopes `{ k, p }` whose accumulator `p` is
 * encoded with the state codec (codec/entries.ts, base64), so any
 * accumulator a checkpoint can hold crosses the same way (Infinity, Maps);
 * records passed on cross as `{ k, r }`.
 */
import { decodeEntries, EntryWriter } from '../../codec/entries.ts';
import type { Batch } from '../../core/batch.ts';
import type { Key } from '../../core/key-groups.ts';
import { configError, EddyError } from '../../errors/index.ts';
import type { Operator, OperatorContext, Output } from '../../operators/operator.ts';
import { PARTIALS_TAG, pickRecords, RAW_TAG, WindowCombiner } from '../../operators/window-combine.ts';
import type { PlanNode } from '../../plan/graph.ts';

/** A record on the stage topic between the input stage and the merge stage. */
export interface Envelope {
  /** The key. */
  readonly k: Key;
  /** A record passed on as itself. */
  readonly r?: unknown;
  /** A partial accumulator: a one-entry chunk of the state codec, base64. */
  readonly p?: string;
}

/** Whether the pipeline asks for pre-aggregation across instances. */
export function preAggregates(option: unknown): boolean {
  return option === true || option === 'split';
}

/**
 * The window step the input stage pre-aggregates for: the only reader of
 * the root stage's keyBy, `keyBy`, which must be a window aggregation whose
 * aggregator merges. Throws, naming the step and the fix, otherwise.
 */
export function preAggregatedWindow(nodes: readonly PlanNode[], keyBy: PlanNode): PlanNode {
  const readers = nodes.filter((n) => n.inputs.some((r) => r.node === keyBy.id));
  const why = (reason: string) =>
    configError(
      `on Kafka, preAggregate combines the records of keyBy "${keyBy.id}" where they are read, before a window aggregation merges them; ${reason}`,
      keyBy.id,
      "leave preAggregate at its default ('auto') or false on Kafka (the records are then repartitioned by key), or make a merging window aggregation the keyBy's only reader",
    );
  if (readers.length !== 1)
    throw why(`but ${readers.length} steps read it (${readers.map((n) => `"${n.id}"`).join(', ')})`);
  const w = readers[0]!;
  if (w.window === undefined) throw why(`but it is read by a ${w.kind} step ("${w.id}")`);
  if (typeof w.window.aggregator.merge !== 'function')
    throw why(`but the aggregator of window step "${w.id}" has no merge`);
  if (w.window.assigner.kind === 'session') throw why(`but "${w.id}" has session windows`);
  if (w.window.earlyEvery > 0) throw why(`but "${w.id}" fires early results`);
  return w;
}

/** The ids of the steps added around a pre-aggregated window step `w`. */
export function preAggregateIds(w: string): {
  combiner: string;
  keys: string;
  unwrap: string;
} {
  return { combiner: `${w}.local`, keys: `${w}.keys`, unwrap: `${w}.partials` };
}

const writer = new EntryWriter();

/** Encodes a partial accumulator for the stage topic. */
export function encodePartial(key: Key, acc: unknown): string {
  writer.begin();
  writer.entry(key, 0, acc);
  return Buffer.from(writer.finish()).toString('base64');
}

/** Decodes what `encodePartial` wrote: the accumulator. */
export function decodePartial(p: string): unknown {
  const entry = decodeEntries(Buffer.from(p, 'base64'));
  if (entry.length !== 3)
    throw new EddyError(
      'EDDY_DECODE_FAILED',
      `a partial on the stage topic holds ${entry.length / 3} entries, not one`,
    );
  return entry[2];
}

/**
 * The input stage's combiner and envelope: `WindowCombiner`'s two outputs
 * (records passed on, partials) as envelopes on one output, for the sink
 * that writes the stage topic.
 */
export function stageCombiner(w: PlanNode): () => Operator {
  const window = w.window!;
  return () => new StageCombiner(new WindowCombiner(window.assigner, window.aggregator, w.id));
}

class Enveloping implements Output {
  out!: Output;

  emit(): void {
    throw new EddyError('EDDY_INTERNAL', 'the combiner emits batches only');
  }

  emitTo(): void {
    throw new EddyError('EDDY_INTERNAL', 'the combiner emits batches only');
  }

  emitBatch(batch: Batch, tag?: number): void {
    const keys = batch.keys!;
    const values = batch.values;
    const envelopes: Envelope[] = new Array(values.length);
    if (tag === PARTIALS_TAG)
      for (let i = 0; i < values.length; i++)
        envelopes[i] = { k: keys[i]!, p: encodePartial(keys[i]!, values[i]) };
    else for (let i = 0; i < values.length; i++) envelopes[i] = { k: keys[i]!, r: values[i] };
    this.out.emitBatch({ ...batch, values: envelopes }, RAW_TAG);
  }

  flush(): void {
    this.out.flush();
  }

  watermark(time: number): void {
    this.out.watermark(time);
  }
}

class StageCombiner implements Operator {
  readonly #inner: WindowCombiner;
  readonly #out = new Enveloping();

  constructor(inner: WindowCombiner) {
    this.#inner = inner;
  }

  onStart(ctx: OperatorContext): void {
    this.#inner.onStart(ctx);
  }

  processBatch(batch: Batch, input: number, out: Output): void {
    this.#out.out = out;
    this.#inner.processBatch(batch, input, this.#out);
  }

  onWatermark(watermark: number, out: Output): number {
    this.#out.out = out;
    return this.#inner.onWatermark(watermark, this.#out);
  }

  onBarrier(out: Output): void {
    this.#out.out = out;
    this.#inner.onBarrier(this.#out);
  }

  onIdle(idle: boolean, out: Output): void {
    this.#out.out = out;
    this.#inner.onIdle(idle, this.#out);
  }
}

/**
 * The merge stage's first step: envelopes (keyed by the keyBy before it)
 * back into records passed on (output 0, with their floors) and partial
 * accumulators (output 1), the window step's two inputs.
 */
export class StageUnwrap implements Operator {
  processBatch(batch: Batch, _input: number, out: Output): void {
    const values = batch.values;
    const unwrapped = new Array<unknown>(values.length);
    let raw: number[] | undefined;
    let partials: number[] | undefined;
    for (let i = 0; i < values.length; i++) {
      const e = values[i] as Envelope;
      if (typeof e.p === 'string') {
        unwrapped[i] = decodePartial(e.p);
        (partials ??= []).push(i);
      } else {
        unwrapped[i] = e.r;
        (raw ??= []).push(i);
      }
    }
    // The window step reads no floors on its partials input, so a batch of one kind goes on whole.
    const decoded: Batch = { ...batch, values: unwrapped };
    if (partials === undefined) out.emitBatch(decoded, RAW_TAG);
    else if (raw === undefined) out.emitBatch(decoded, PARTIALS_TAG);
    else {
      out.emitBatch(pickRecords(decoded, raw), RAW_TAG);
      out.emitBatch(pickRecords(decoded, partials), PARTIALS_TAG);
    }
  }
}
