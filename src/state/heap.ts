/**
 * The heap state backend: JavaScript Maps, one per (key group, namespace).
 * The default, and the fastest while state fits in memory.
 */
import type { KeyedStateBackend, StateTable } from './backend.ts';
import type { Key } from './key-groups.ts';

class HeapTable<V> implements StateTable<V> {
  // groups[keyGroup] maps namespace -> key -> value. Namespace first, because
  // windows fire one namespace (window) at a time across all keys.
  readonly #groups: (Map<number, Map<Key, V>> | undefined)[];
  #size = 0;
  // The last (key group, namespace) map used: consecutive records mostly hit the same window.
  #lastGroup = -1;
  #lastNamespace = Number.NaN;
  #lastMap: Map<Key, V> | undefined;

  constructor(maxParallelism: number) {
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
    return this.#namespace(keyGroup, namespace)?.get(key);
  }

  put(keyGroup: number, key: Key, namespace: number, value: V): void {
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
    return this.#groups[keyGroup]?.get(namespace)?.entries() ?? [];
  }

  *entries(keyGroup: number): Iterable<readonly [Key, number, V]> {
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
    if (table === undefined) step.set(name, (table = new HeapTable(this.maxParallelism)));
    return table as StateTable<V>;
  }

  tableNames(stepId: string): readonly string[] {
    return [...(this.#tables.get(stepId)?.keys() ?? [])];
  }

  *tables(): Iterable<readonly [string, string, StateTable<unknown>]> {
    for (const [stepId, step] of this.#tables) for (const [name, table] of step) yield [stepId, name, table];
  }
}
