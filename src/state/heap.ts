/**
 * The heap state backend: JavaScript Maps, one per (key group, namespace).
 * The default, and the fastest while state fits in memory.
 *
 * Snapshots are asynchronous and copy-on-access per key group: at the barrier
 * every (table, key group) that holds state is only marked pending, which is
 * O(groups). A background loop then encodes the pending groups a slice at a
 * time. Any access to a pending group first encodes that group — before the
 * caller can read a value and change it in place — so the snapshot holds
 * exactly the state at the barrier while records keep flowing.
 *
 * With `deltas` (a Kafka application's tasks, whose changelog keeps entries
 * one by one) a snapshot is incremental instead: every entry read, written
 * or removed since the last snapshot is noted, and at the barrier only those
 * are encoded (synchronously: a pause proportional to the changes, not to the
 * state), with the keys removed since. A value read may be changed in place
 * by its reader, so a read counts as a change.
 */
import { EntryWriter } from '../codec/entries.ts';
import type { Key } from '../core/key-groups.ts';
import type { KeyedStateBackend, StateChunk, StateSnapshot, StateTable } from './backend.ts';

/** Incremental snapshots (see the header): only what changed since the last one. */
export interface HeapDeltaOptions {
  /**
   * Whether the first snapshot after a restore holds every restored entry as
   * changed: when the place restored from keeps state in another layout (a
   * changelog written whole per key group) that this snapshot replaces.
   */
  readonly fullFirst?: boolean;
}

/** One writer for every table: captures never interleave (each runs to its end synchronously). */
const writer = new EntryWriter();

/** Encode pending groups for about this long before letting records through again. */
const SLICE_MS = 4;

class HeapTable<V> implements StateTable<V> {
  readonly step: string;
  readonly name: string;
  // groups[keyGroup] maps namespace -> key -> value. Namespace first, because
  // windows fire one namespace (window) at a time across all keys.
  readonly #groups: (Map<number, Map<Key, V>> | undefined)[];
  #size = 0;
  // Per key group, the namespace map used last (NaN: none): consecutive records of a group mostly
  // hit the same window, while consecutive records overall change group at almost every record.
  readonly #lastNamespace: Float64Array;
  readonly #lastMap: (Map<Key, V> | undefined)[];
  // The snapshot in progress: groups still to encode (1 = pending), how many, and where chunks go.
  #pending: Uint8Array | undefined;
  #pendingCount = 0;
  #chunks: StateChunk[] = [];
  // With deltas: per key group, namespace -> keys read, written or removed since the last snapshot.
  #changed: (Map<number, Set<Key>> | undefined)[] | undefined;
  #lastChangedGroup = -1;
  #lastChangedNamespace = Number.NaN;
  #lastChanged: Set<Key> | undefined;
  // The mean encoded size of an entry in the last delta that had any (the metrics' state-bytes estimate).
  #meanEntryBytes = 0;

  constructor(step: string, name: string, maxParallelism: number, deltas: boolean) {
    this.step = step;
    this.name = name;
    this.#groups = new Array(maxParallelism);
    this.#lastNamespace = new Float64Array(maxParallelism).fill(Number.NaN);
    this.#lastMap = new Array(maxParallelism).fill(undefined);
    if (deltas) this.#changed = new Array(maxParallelism);
  }

  #touch(keyGroup: number, namespace: number, key: Key): void {
    if (keyGroup === this.#lastChangedGroup && namespace === this.#lastChangedNamespace) {
      this.#lastChanged!.add(key);
      return;
    }
    let group = this.#changed![keyGroup];
    if (group === undefined) this.#changed![keyGroup] = group = new Map();
    let keys = group.get(namespace);
    if (keys === undefined) group.set(namespace, (keys = new Set()));
    keys.add(key);
    this.#lastChangedGroup = keyGroup;
    this.#lastChangedNamespace = namespace;
    this.#lastChanged = keys;
  }

  /** Forgets the changes noted so far (the state restored is already where it came from). */
  forgetChanges(): void {
    if (this.#changed === undefined) return;
    this.#changed = new Array(this.#groups.length);
    this.#lastChangedGroup = -1;
    this.#lastChanged = undefined;
  }

  /**
   * The incremental snapshot: per key group that holds state or changed, a
   * chunk of the entries changed since the last one and the keys removed
   * since (`StateChunk.delta`); then counts changes afresh.
   */
  captureDelta(): StateChunk[] {
    const changed = this.#changed!;
    const chunks: StateChunk[] = [];
    const w = writer;
    for (let g = 0; g < this.#groups.length; g++) {
      const changes = changed[g];
      const group = this.#groups[g];
      if (changes === undefined && (group === undefined || group.size === 0)) continue;
      w.begin();
      const removed: (Key | number)[] = [];
      if (changes !== undefined)
        for (const [namespace, keys] of changes) {
          const ns = group?.get(namespace);
          for (const key of keys) {
            if (ns?.has(key) === true) w.entry(key, namespace, ns.get(key));
            else removed.push(key, namespace);
          }
        }
      const entries = w.count;
      const bytes = w.finish();
      if (entries > 0) this.#meanEntryBytes = bytes.length / entries;
      let tableEntries = 0;
      if (group !== undefined) for (const ns of group.values()) tableEntries += ns.size;
      chunks.push({
        step: this.step,
        table: this.name,
        keyGroup: g,
        entries,
        bytes,
        delta: { removed, tableEntries, estimatedBytes: Math.round(this.#meanEntryBytes * tableEntries) },
      });
    }
    this.forgetChanges();
    return chunks;
  }

  #namespace(keyGroup: number, namespace: number): Map<Key, V> | undefined {
    if (this.#lastNamespace[keyGroup] === namespace) return this.#lastMap[keyGroup];
    const ns = this.#groups[keyGroup]?.get(namespace);
    if (ns !== undefined) {
      this.#lastNamespace[keyGroup] = namespace;
      this.#lastMap[keyGroup] = ns;
    }
    return ns;
  }

  get(keyGroup: number, key: Key, namespace: number): V | undefined {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    const value = this.#namespace(keyGroup, namespace)?.get(key);
    // Its reader may change it in place: a change for an incremental snapshot.
    if (this.#changed !== undefined && value !== undefined) this.#touch(keyGroup, namespace, key);
    return value;
  }

  put(keyGroup: number, key: Key, namespace: number, value: V): void {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    let ns = this.#namespace(keyGroup, namespace);
    if (ns === undefined) {
      let group = this.#groups[keyGroup];
      if (group === undefined) this.#groups[keyGroup] = group = new Map();
      group.set(namespace, (ns = new Map()));
    }
    const before = ns.size;
    ns.set(key, value);
    this.#size += ns.size - before;
    if (this.#changed !== undefined) this.#touch(keyGroup, namespace, key);
  }

  remove(keyGroup: number, key: Key, namespace: number): void {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    const group = this.#groups[keyGroup];
    const ns = group?.get(namespace);
    if (ns === undefined || !ns.delete(key)) return;
    this.#size--;
    if (this.#changed !== undefined) this.#touch(keyGroup, namespace, key);
    if (ns.size === 0) {
      group!.delete(namespace);
      if (ns === this.#lastMap[keyGroup]) {
        this.#lastNamespace[keyGroup] = Number.NaN;
        this.#lastMap[keyGroup] = undefined;
      }
    }
  }

  namespaceEntries(keyGroup: number, namespace: number): Iterable<readonly [Key, V]> {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    const ns = this.#groups[keyGroup]?.get(namespace);
    if (ns === undefined) return [];
    // Values handed out may be changed in place (see get).
    if (this.#changed !== undefined) for (const key of ns.keys()) this.#touch(keyGroup, namespace, key);
    return ns.entries();
  }

  *entries(keyGroup: number): Iterable<readonly [Key, number, V]> {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    const group = this.#groups[keyGroup];
    if (group === undefined) return;
    for (const [namespace, ns] of group) for (const [key, value] of ns) yield [key, namespace, value];
  }

  *keyGroups(): Iterable<number> {
    for (let g = 0; g < this.#groups.length; g++) {
      const group = this.#groups[g];
      if (group !== undefined && group.size > 0) yield g;
    }
  }

  size(): number {
    return this.#size;
  }

  /** Marks every group that holds state as pending for a new snapshot. */
  beginSnapshot(): void {
    const pending = new Uint8Array(this.#groups.length);
    let count = 0;
    for (let g = 0; g < this.#groups.length; g++) {
      const group = this.#groups[g];
      if (group !== undefined && group.size > 0) {
        pending[g] = 1;
        count++;
      }
    }
    this.#pending = pending;
    this.#pendingCount = count;
    this.#chunks = [];
  }

  /** Encodes pending groups until none is left or `deadline` (performance.now()) passes; true when done. */
  encodeSome(deadline: number): boolean {
    const pending = this.#pending;
    if (pending === undefined) return true;
    for (let g = 0; g < pending.length && this.#pendingCount > 0; g++) {
      if (pending[g] === 1) this.#capture(g);
      if (performance.now() > deadline) break;
    }
    return this.#pendingCount === 0;
  }

  /** The chunks of the finished snapshot (call once `encodeSome` returned true). */
  takeChunks(): StateChunk[] {
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#pending = undefined;
    return chunks;
  }

  #capture(g: number): void {
    this.#pending![g] = 0;
    this.#pendingCount--;
    const group = this.#groups[g];
    if (group === undefined) return;
    const w = writer;
    w.begin();
    for (const [namespace, ns] of group) writeNamespace(w, namespace, ns);
    if (w.count === 0) return;
    this.#chunks.push({
      step: this.step,
      table: this.name,
      keyGroup: g,
      entries: w.count,
      bytes: w.finish(),
    });
  }
}

/**
 * Writes one namespace's entries. A function of its own, not a loop nested in
 * `#capture`: V8 compiled the nested loop on-stack for the inner loop only and
 * threw that code away at every exit (a deoptimization per namespace and
 * group, 108 per run of the checkpoint bench), so most entries were written
 * by unoptimized code.
 */
function writeNamespace<V>(w: EntryWriter, namespace: number, ns: Map<Key, V>): void {
  for (const [key, value] of ns) w.entry(key, namespace, value);
}

/**
 * Keyed state on the JavaScript heap.
 *
 * @example
 * ```ts
 * const backend = new HeapStateBackend(128);
 * backend.table<number>('count-3', 'acc').put(5, 'device-1', 0, 42);
 * ```
 */
export class HeapStateBackend implements KeyedStateBackend {
  readonly kind = 'heap';
  readonly maxParallelism: number;
  readonly #tables = new Map<string, Map<string, HeapTable<unknown>>>();
  readonly #deltas: HeapDeltaOptions | undefined;

  /** `deltas`: snapshots hold only what changed since the last one (see the header). */
  constructor(maxParallelism: number, o: { readonly deltas?: HeapDeltaOptions } = {}) {
    this.maxParallelism = maxParallelism;
    this.#deltas = o.deltas;
  }

  restored(): void {
    if (this.#deltas === undefined || this.#deltas.fullFirst === true) return;
    for (const step of this.#tables.values()) for (const table of step.values()) table.forgetChanges();
  }

  table<V>(stepId: string, name: string): StateTable<V> {
    let step = this.#tables.get(stepId);
    if (step === undefined) this.#tables.set(stepId, (step = new Map()));
    let table = step.get(name);
    if (table === undefined)
      step.set(name, (table = new HeapTable(stepId, name, this.maxParallelism, this.#deltas !== undefined)));
    return table as StateTable<V>;
  }

  tableNames(stepId: string): readonly string[] {
    return [...(this.#tables.get(stepId)?.keys() ?? [])];
  }

  *tables(): Iterable<readonly [string, string, StateTable<unknown>]> {
    for (const [stepId, step] of this.#tables) for (const [name, table] of step) yield [stepId, name, table];
  }

  snapshot(): StateSnapshot {
    const tables: HeapTable<unknown>[] = [];
    for (const step of this.#tables.values()) for (const table of step.values()) tables.push(table);
    if (this.#deltas !== undefined) {
      const chunks = tables.flatMap((t) => t.captureDelta());
      return { complete: async () => chunks };
    }
    for (const table of tables) table.beginSnapshot();
    return {
      async complete(pause) {
        for (const table of tables) {
          while (!table.encodeSome(performance.now() + SLICE_MS)) await pause();
        }
        return tables.flatMap((t) => t.takeChunks());
      },
    };
  }
}
