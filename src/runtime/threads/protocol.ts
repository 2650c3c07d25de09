/**
 * Messages between subtasks in different threads. Records cross as batches,
 * never one by one: a batch is packed with msgpackr into one buffer whose
 * memory is transferred, not copied, by postMessage. Measured here, packing
 * and unpacking costs about a quarter of what postMessage's own structured
 * clone of the same records costs.
 */
import type { MessagePort } from 'node:worker_threads';
import { Packr, Unpackr } from 'msgpackr';
import type { Batch } from '../batch.ts';

/** On a link between two subtasks. */
export type PeerMessage =
  | { readonly t: 'b'; readonly c: string; readonly ch: number; readonly p: PackedBatch }
  | { readonly t: 'w'; readonly c: string; readonly ch: number; readonly w: number }
  | { readonly t: 'i'; readonly c: string; readonly ch: number; readonly idle: boolean }
  | { readonly t: 'e'; readonly c: string; readonly ch: number }
  /** One batch sent on this link has been processed (credit back). */
  | { readonly t: 'a' };

/** From the job to a worker thread. */
export type ControlMessage =
  | { readonly t: 'start' }
  | { readonly t: 'stop' }
  | { readonly t: 'metrics' }
  | { readonly t: 'close' }
  | { readonly t: 'cancel' }
  // The checkpoint phases (see checkpoint/coordinator.ts); each is answered by the same name + 'ed'.
  | { readonly t: 'cp-park' }
  | { readonly t: 'cp-drain' }
  | { readonly t: 'cp-snapshot'; readonly id: number }
  | { readonly t: 'cp-open' }
  | { readonly t: 'cp-collect' }
  | { readonly t: 'cp-complete'; readonly id: number };

/** From a worker thread to the job. */
export type ReportMessage =
  | { readonly t: 'ready' }
  | { readonly t: 'drained' }
  | { readonly t: 'metrics'; readonly m: unknown }
  | { readonly t: 'error'; readonly message: string; readonly stack: string | undefined }
  | { readonly t: 'closed' }
  | { readonly t: 'cp-parked' }
  | {
      readonly t: 'cp-drained';
      readonly busy: boolean;
      readonly sent: Record<number, number>;
      readonly received: Record<number, number>;
    }
  | { readonly t: 'cp-snapshotted' }
  | {
      readonly t: 'cp-collected';
      readonly meta: unknown;
      readonly chunks: unknown[];
      readonly entries: number;
    }
  | { readonly t: 'cp-completed' };

/** What a worker thread starts with. */
export interface WorkerData {
  readonly module: string;
  readonly values: Record<string, unknown>;
  readonly subtask: number;
  readonly parallelism: number;
  readonly jobStart: number;
  /** The link to each other subtask, by subtask index. */
  readonly ports: Record<number, MessagePort>;
  /** Whether the job takes checkpoints (sinks then commit on completion). */
  readonly checkpointing: boolean;
  /** The checkpoint or savepoint directory the job resumes from. */
  readonly restoreDir: string | undefined;
  /** The job's watermark alignment board (see runtime/alignment.ts). */
  readonly alignment: SharedArrayBuffer;
}

const OPTIONS = { useRecords: true, moreTypes: true } as const;
const packr = new Packr(OPTIONS);
const unpackr = new Unpackr(OPTIONS);

/**
 * A batch packed for another thread. Records that are flat objects of numbers
 * with the same fields (the common case for events after a map) go as columns
 * of one Float64Array — several times cheaper than a general encoding; anything
 * else goes through msgpackr. Times, key groups and numeric keys are typed
 * arrays. Every buffer is transferred, not copied.
 */
export interface PackedBatch {
  readonly fields: readonly string[] | undefined;
  readonly columns: Float64Array | undefined;
  readonly packed: Uint8Array | undefined;
  readonly times: Float64Array;
  readonly groups: Int32Array | undefined;
  readonly numericKeys: Float64Array | undefined;
  readonly keys: Uint8Array | undefined;
}

export function packBatch(batch: Batch): { message: PackedBatch; transfer: ArrayBuffer[] } {
  const n = batch.values.length;
  const transfer: ArrayBuffer[] = [];
  const times = Float64Array.from(batch.times);
  transfer.push(times.buffer as ArrayBuffer);
  let groups: Int32Array | undefined;
  if (batch.groups !== undefined) {
    groups = Int32Array.from(batch.groups);
    transfer.push(groups.buffer as ArrayBuffer);
  }
  let numericKeys: Float64Array | undefined;
  let keys: Uint8Array | undefined;
  if (batch.keys !== undefined) {
    if (batch.keys.every((k) => typeof k === 'number')) {
      numericKeys = Float64Array.from(batch.keys as number[]);
      transfer.push(numericKeys.buffer as ArrayBuffer);
    } else {
      keys = new Uint8Array(packr.pack(batch.keys));
      transfer.push(keys.buffer as ArrayBuffer);
    }
  }
  const fields = flatNumericShape(batch.values);
  if (fields !== undefined) {
    const f = fields.length;
    const columns = new Float64Array(n * f);
    const values = batch.values as Record<string, number>[];
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      for (let j = 0; j < f; j++) columns[j * n + i] = v[fields[j]!]!;
    }
    transfer.push(columns.buffer as ArrayBuffer);
    return { message: { fields, columns, packed: undefined, times, groups, numericKeys, keys }, transfer };
  }
  // msgpackr reuses its buffer between calls (and a Buffer's slice() is a view): copy what goes to the other thread.
  const packed = new Uint8Array(packr.pack(batch.values));
  transfer.push(packed.buffer as ArrayBuffer);
  return {
    message: { fields: undefined, columns: undefined, packed, times, groups, numericKeys, keys },
    transfer,
  };
}

export function unpackBatch(m: PackedBatch): Batch {
  const n = m.times.length;
  let values: unknown[];
  if (m.fields !== undefined) {
    const columns = m.columns!;
    // Objects built by one generated literal per shape share a hidden class, like the originals.
    const make = shapeConstructor(m.fields);
    values = new Array(n);
    for (let i = 0; i < n; i++) values[i] = make(columns, i, n);
  } else values = unpackr.unpack(m.packed!) as unknown[];
  const keys =
    m.numericKeys !== undefined
      ? Array.from(m.numericKeys)
      : m.keys !== undefined
        ? (unpackr.unpack(m.keys) as Batch['keys'])
        : undefined;
  return { values, times: Array.from(m.times), keys, groups: m.groups };
}

/** The field names when every value is a plain object with exactly those fields, all numbers. */
function flatNumericShape(values: readonly unknown[]): string[] | undefined {
  const first = values[0];
  if (first === null || typeof first !== 'object' || Object.getPrototypeOf(first) !== Object.prototype)
    return undefined;
  const fields = Object.keys(first);
  if (fields.length === 0 || fields.length > 32) return undefined;
  for (const v of values) {
    if (v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype)
      return undefined;
    let count = 0;
    for (const k in v) {
      if (typeof (v as Record<string, unknown>)[k] !== 'number') return undefined;
      count++;
    }
    if (count !== fields.length) return undefined;
    for (const f of fields) if (!Object.hasOwn(v, f)) return undefined;
  }
  return fields;
}

const constructors = new Map<string, (columns: Float64Array, i: number, n: number) => unknown>();

function shapeConstructor(
  fields: readonly string[],
): (columns: Float64Array, i: number, n: number) => unknown {
  const id = JSON.stringify(fields);
  let make = constructors.get(id);
  if (make === undefined) {
    // Generated once per shape (like the chain loops) so every object gets its fields in one literal;
    // names are quoted with JSON.stringify. __proto__ never arrives here: packing takes own
    // enumerable keys, and a "__proto__" own key would be written as a plain property.
    const body = `return { ${fields.map((f, j) => `[${JSON.stringify(f)}]: c[${j} * n + i]`).join(', ')} };`;
    make = new Function('c', 'i', 'n', body) as (columns: Float64Array, i: number, n: number) => unknown;
    constructors.set(id, make);
  }
  return make;
}
