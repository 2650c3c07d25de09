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
 */
import { EntryWriter } from '../codec/entries.ts';
import type { Key } from '../core/key-groups.ts';
import type { KeyedStateBackend, StateChunk, StateSnapshot, StateTable } from './backend.ts';

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
  // The last (key group, namespace) map used: consecutive records mostly hit the same window.
  #lastGroup = -1;
  #lastNamespace = Number.NaN;
  #lastMap: Map<Key, V> | undefined;
  // The snapshot in progress: groups still to encode (1 = pending), how many, and where chunks go.
  #pending: Uint8Array | undefined;
  #pendingCount = 0;
  #chunks: StateChunk[] = [];

  constructor(step: string, name: string, maxParallelism: number) {
    this.step = step;
    this.name = name;
    this.#groups = new Array(maxParallelism);
  }

  #namespace(keyGroup: number, namespace: number): Map<Key, V> | undefined {
    if (keyGroup === this.#lastGroup && namespace === this.#lastNamespace) return this.#lastMap;
    const ns = this.#groups[keyGroup]?.get(namespace);
    if (ns !== undefined) {
      this.#lastGroup = keyGroup;
      this.#lastNamespace = namespace;
      this.#lastMap = ns;
    }
    return ns;
  }

  get(keyGroup: number, key: Key, namespace: number): V | undefined {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    return this.#namespace(keyGroup, namespace)?.get(key);
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
  }

  remove(keyGroup: number, key: Key, namespace: number): void {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    const group = this.#groups[keyGroup];
    const ns = group?.get(namespace);
    if (ns === undefined || !ns.delete(key)) return;
    this.#size--;
    if (ns.size === 0) {
      group!.delete(namespace);
      if (ns === this.#lastMap) {
        this.#lastGroup = -1;
        this.#lastMap = undefined;
      }
    }
  }

  namespaceEntries(keyGroup: number, namespace: number): Iterable<readonly [Key, V]> {
    if (this.#pendingCount !== 0 && this.#pending![keyGroup] === 1) this.#capture(keyGroup);
    return this.#groups[keyGroup]?.get(namespace)?.entries() ?? [];
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

  constructor(maxParallelism: number) {
    this.maxParallelism = maxParallelism;
  }

  table<V>(stepId: string, name: string): StateTable<V> {
    let step = this.#tables.get(stepId);
    if (step === undefined) this.#tables.set(stepId, (step = new Map()));
    let table = step.get(name);
    if (table === undefined) step.set(name, (table = new HeapTable(stepId, name, this.maxParallelism)));
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
