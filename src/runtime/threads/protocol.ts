/**
 * Messages between subtasks in different threads. Records cross as batches,
 * never one by one, packed into buffers whose memory is transferred, not
 * copied, by postMessage (see {@link PackedBatch}). Measured here, even the
 * general path (msgpackr) costs about a quarter of what postMessage's own
 * structured clone of the same records costs.
 */
import type { MessagePort } from 'node:worker_threads';
import { Packr, Unpackr } from 'msgpackr';
import type { Batch } from '../../core/batch.ts';
import type { StateScanOptions } from '../../core/metrics.ts';

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
  /** Adaptive split edges (`preAggregate: 'auto'`): spread the combiners' input or keep it local. */
  | { readonly t: 'spread'; readonly on: boolean }
  | {
      readonly t: 'query';
      readonly id: number;
      readonly step: string;
      readonly key: string | number;
      /** A scan of the step's keys instead of one key's state (`RunningPipeline.scanState`). */
      readonly scan?: StateScanOptions;
    }
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
  | { readonly t: 'queried'; readonly id: number; readonly state?: unknown; readonly error?: string }
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
  readonly attempt: string;
  /** The link to each other subtask, by subtask index. */
  readonly ports: Record<number, MessagePort>;
  /** Whether the job takes checkpoints (sinks then commit on completion). */
  readonly checkpointing: boolean;
  /** The checkpoint or savepoint directory the job resumes from. */
  readonly restoreDir: string | undefined;
  /** The job's watermark alignment board (see runtime/alignment.ts). */
  readonly alignment: SharedArrayBuffer;
  /** Keyed steps follow their heaviest keys (RunOptions.hotKeys). */
  readonly hotKeys: boolean;
  /** Which subtask owns each key group (undefined: contiguous ranges). */
  readonly assignment: Int32Array | undefined;
  /** Keyed steps count their records per key group (a rebalancing run). */
  readonly countKeyGroups: boolean;
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
  /** Values sent through postMessage's structured clone instead (see {@link packExact}). */
  readonly cloned: readonly unknown[] | undefined;
  readonly times: Float64Array;
  readonly groups: Int32Array | undefined;
  readonly numericKeys: Float64Array | undefined;
  readonly keys: Uint8Array | undefined;
  /** String keys through the structured clone (see {@link packExact}). */
  readonly clonedKeys: readonly unknown[] | undefined;
  /** The records' floors (Batch.floors), when the batch has them. */
  readonly floors: Float64Array | undefined;
}

/** U+FFFD in UTF-8: what msgpackr (like TextEncoder) writes for a lone surrogate. */
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/**
 * Packs `items` with msgpackr, unless that would not give them back exactly:
 * msgpackr writes strings as UTF-8, where a lone surrogate ('\uD800') has no
 * encoding and becomes U+FFFD — two distinct keys could merge on the other
 * side (issue 19). Any U+FFFD in the output (a lone surrogate, or a real
 * U+FFFD, both rare) sends the batch through the structured clone instead,
 * which copies JavaScript strings as they are. The check is one native
 * byte search over the packed bytes.
 */
function packExact(items: readonly unknown[]): Uint8Array | undefined {
  const packed = packr.pack(items);
  if (packed.indexOf(REPLACEMENT) >= 0) return undefined;
  // msgpackr reuses its buffer between calls (and a Buffer's slice() is a view): copy what goes to the other thread.
  return new Uint8Array(packed);
}

export function packBatch(batch: Batch): { message: PackedBatch; transfer: ArrayBuffer[] } {
  const n = batch.values.length;
  const transfer: ArrayBuffer[] = [];
  // Plain loops, not Float64Array.from: that walks the source through its iterator (~10× slower).
  const times = new Float64Array(n);
  const t = batch.times;
  for (let i = 0; i < n; i++) times[i] = t[i]!;
  transfer.push(times.buffer as ArrayBuffer);
  let groups: Int32Array | undefined;
  if (batch.groups !== undefined) {
    const g = batch.groups;
    groups = new Int32Array(n);
    for (let i = 0; i < n; i++) groups[i] = g[i]!;
    transfer.push(groups.buffer as ArrayBuffer);
  }
  let numericKeys: Float64Array | undefined;
  let keys: Uint8Array | undefined;
  let clonedKeys: readonly unknown[] | undefined;
  if (batch.keys !== undefined) {
    numericKeys = numberColumn(batch.keys, n);
    if (numericKeys !== undefined) transfer.push(numericKeys.buffer as ArrayBuffer);
    else {
      keys = packExact(batch.keys);
      if (keys === undefined) clonedKeys = batch.keys;
      else transfer.push(keys.buffer as ArrayBuffer);
    }
  }
  let floors: Float64Array | undefined;
  if (batch.floors !== undefined) {
    const f = batch.floors;
    floors = new Float64Array(n);
    for (let i = 0; i < n; i++) floors[i] = f[i]!;
    transfer.push(floors.buffer as ArrayBuffer);
  }
  const rest = { times, groups, numericKeys, keys, clonedKeys, floors };
  const shape = flatNumericShape(batch.values);
  if (shape !== undefined) {
    const columns = new Float64Array(n * shape.fields.length);
    if (shape.pack(batch.values, columns, n)) {
      transfer.push(columns.buffer as ArrayBuffer);
      return {
        message: { fields: shape.fields, columns, packed: undefined, cloned: undefined, ...rest },
        transfer,
      };
    }
  }
  const packed = packExact(batch.values);
  if (packed === undefined)
    return {
      message: { fields: undefined, columns: undefined, packed: undefined, cloned: batch.values, ...rest },
      transfer,
    };
  transfer.push(packed.buffer as ArrayBuffer);
  return {
    message: { fields: undefined, columns: undefined, packed, cloned: undefined, ...rest },
    transfer,
  };
}

export function unpackBatch(m: PackedBatch): Batch {
  const n = m.times.length;
  let values: unknown[];
  if (m.fields !== undefined) {
    const columns = m.columns!;
    // Objects built by one generated literal per shape share a hidden class, like the originals.
    const make = shapeOf(m.fields).make;
    values = new Array(n);
    for (let i = 0; i < n; i++) values[i] = make(columns, i, n);
  } else if (m.cloned !== undefined) values = m.cloned as unknown[];
  else values = unpackr.unpack(m.packed!) as unknown[];
  const keys =
    m.numericKeys !== undefined
      ? toArray(m.numericKeys)
      : m.keys !== undefined
        ? (unpackr.unpack(m.keys) as Batch['keys'])
        : (m.clonedKeys as Batch['keys']);
  const times = toArray(m.times);
  if (m.floors === undefined) return { values, times, keys, groups: m.groups };
  return { values, times, keys, groups: m.groups, floors: toArray(m.floors) };
}

function toArray(column: Float64Array): number[] {
  const out = new Array<number>(column.length);
  for (let i = 0; i < column.length; i++) out[i] = column[i]!;
  return out;
}

/** The keys as a column when every one is a number. */
function numberColumn(keys: readonly unknown[], n: number): Float64Array | undefined {
  if (typeof keys[0] !== 'number') return undefined;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    if (typeof k !== 'number') return undefined;
    out[i] = k;
  }
  return out;
}

/**
 * How records of one shape (a plain object with these fields, all numbers)
 * become columns and back. Both directions are generated once per shape, like
 * the chain loops: named property loads and one object literal per record, so
 * each site sees one hidden class — a loop over field names with `v[name]`
 * costs several times more.
 */
interface Shape {
  readonly fields: readonly string[];
  /** Writes `values` as columns; false as soon as one is not exactly such an object (then nothing is used). */
  readonly pack: (values: readonly unknown[], columns: Float64Array, n: number) => boolean;
  readonly make: (columns: Float64Array, i: number, n: number) => unknown;
}

const shapes = new Map<string, Shape>();
/**
 * At most this many shapes get generated code: records whose field names vary
 * (objects used as maps) would otherwise compile two functions per new name
 * set for ever. A sender goes the msgpackr way for shapes past the limit; a
 * receiver rebuilds them without caching.
 */
const MAX_SHAPES = 64;

/** The shape of the first value when it is a plain object of 1–32 fields; the packer checks every value. */
function flatNumericShape(values: readonly unknown[]): Shape | undefined {
  const first = values[0];
  if (first === null || typeof first !== 'object' || Object.getPrototypeOf(first) !== Object.prototype)
    return undefined;
  const fields = Object.keys(first);
  if (fields.length === 0 || fields.length > 32) return undefined;
  const id = JSON.stringify(fields);
  return shapes.get(id) ?? (shapes.size < MAX_SHAPES ? shapeOf(fields) : undefined);
}

/** The shape of `fields`: cached while fewer than MAX_SHAPES are, else made for this batch only. */
function shapeOf(fields: readonly string[]): Shape {
  const id = JSON.stringify(fields);
  let shape = shapes.get(id);
  if (shape === undefined) {
    // Names are quoted with JSON.stringify. A value passes only if its enumerable keys are exactly
    // `fields`, in order (own keys come first in for-in), and each is a number. __proto__ never
    // arrives here as a prototype: a "__proto__" own key is written back as a plain property.
    const q = fields.map((f) => JSON.stringify(f));
    const pack = new Function(
      'f',
      'proto',
      'getProto',
      `return function pack(values, c, n) {
        for (let i = 0; i < n; i++) {
          const v = values[i];
          if (v === null || typeof v !== 'object' || getProto(v) !== proto) return false;
          let k = 0;
          for (const name in v) {
            if (k === ${fields.length} || name !== f[k]) return false;
            k++;
          }
          if (k !== ${fields.length}) return false;
          ${q.map((name, j) => `const x${j} = v[${name}]; if (typeof x${j} !== 'number') return false; c[${j} * n + i] = x${j};`).join('\n')}
        }
        return true;
      };`,
    )(fields, Object.prototype, Object.getPrototypeOf) as Shape['pack'];
    const make = new Function(
      'c',
      'i',
      'n',
      `return { ${q.map((name, j) => `[${name}]: c[${j} * n + i]`).join(', ')} };`,
    ) as Shape['make'];
    shape = { fields, pack, make };
    if (shapes.size < MAX_SHAPES) shapes.set(id, shape);
  }
  return shape;
}
