/**
 * One state table of the durable backend: an index of the table's cached
 * slots (laid out like the heap backend's maps, so a hit costs what a heap
 * read costs), exact entry counts, and the store behind both.
 */

import type { Key } from '../../core/key-groups.ts';
import { configError } from '../../errors/index.ts';
import type { StateTable } from '../backend.ts';
import { type ClockCache, Slot, type SlotOwner } from './cache.ts';
import {
  decodeValue,
  encodeKey,
  groupPrefix,
  keyKey,
  keyNamespace,
  keyTooLong,
  namespacePrefix,
  prefixEnd,
} from './encoding.ts';
import type { LmdbStore } from './store.ts';

/** Entries read from the store per scan chunk; no read transaction stays open between chunks. */
const SCAN_CHUNK = 512;

export class DurableTable implements StateTable<unknown>, SlotOwner {
  readonly id: number;
  readonly stepId: string;
  readonly name: string;
  readonly #store: LmdbStore;
  readonly #cache: ClockCache;
  // groups[keyGroup] maps namespace -> key -> slot, for cached slots only.
  readonly #groups: (Map<number, Map<Key, Slot>> | undefined)[];
  // Exact entry counts (cache and store together), per key group and in all.
  readonly #counts: Uint32Array;
  #size = 0;
  #lastGroup = -1;
  #lastNamespace = Number.NaN;
  #lastMap: Map<Key, Slot> | undefined;

  constructor(
    id: number,
    stepId: string,
    name: string,
    maxParallelism: number,
    store: LmdbStore,
    cache: ClockCache,
  ) {
    this.id = id;
    this.stepId = stepId;
    this.name = name;
    this.#store = store;
    this.#cache = cache;
    this.#groups = new Array(maxParallelism);
    this.#counts = new Uint32Array(maxParallelism);
  }

  /** Counts one entry found in the store at open (a reused store). */
  countStored(keyGroup: number): void {
    this.#counts[keyGroup]!++;
    this.#size++;
  }

  #namespace(keyGroup: number, namespace: number): Map<Key, Slot> | undefined {
    if (keyGroup === this.#lastGroup && namespace === this.#lastNamespace) return this.#lastMap;
    const ns = this.#groups[keyGroup]?.get(namespace);
    if (ns !== undefined) {
      this.#lastGroup = keyGroup;
      this.#lastNamespace = namespace;
      this.#lastMap = ns;
    }
    return ns;
  }

  #insert(slot: Slot): void {
    this.#cache.admit(slot);
    // After admit: its eviction may have emptied and dropped the map this slot goes in.
    let ns = this.#namespace(slot.keyGroup, slot.namespace);
    if (ns === undefined) {
      let group = this.#groups[slot.keyGroup];
      if (group === undefined) this.#groups[slot.keyGroup] = group = new Map();
      group.set(slot.namespace, (ns = new Map()));
    }
    ns.set(slot.key, slot);
  }

  detach(slot: Slot): void {
    const group = this.#groups[slot.keyGroup];
    const ns = group?.get(slot.namespace);
    if (ns === undefined || !ns.delete(slot.key) || ns.size > 0) return;
    group!.delete(slot.namespace);
    if (ns === this.#lastMap) {
      this.#lastGroup = -1;
      this.#lastMap = undefined;
    }
  }

  #added(keyGroup: number): void {
    this.#counts[keyGroup]!++;
    this.#size++;
  }

  #removed(keyGroup: number): void {
    this.#counts[keyGroup]!--;
    this.#size--;
  }

  get(keyGroup: number, key: Key, namespace: number): unknown {
    const slot = this.#namespace(keyGroup, namespace)?.get(key);
    if (slot !== undefined) {
      slot.ref = true;
      return slot.value;
    }
    // A key too long to store was never put.
    if (this.#counts[keyGroup] === 0 || keyTooLong(key)) return undefined;
    const bytes = this.#store.peek(encodeKey(this.id, keyGroup, namespace, key));
    const value = bytes === undefined ? undefined : decodeValue(bytes);
    // A miss is cached too: the put that usually follows then knows the key is new.
    const present = bytes !== undefined;
    this.#insert(new Slot(this, keyGroup, namespace, key, value, present, present, false));
    return value;
  }

  put(keyGroup: number, key: Key, namespace: number, value: unknown): void {
    const slot = this.#namespace(keyGroup, namespace)?.get(key);
    if (slot !== undefined) {
      if (!slot.present) {
        slot.present = true;
        this.#added(keyGroup);
      }
      slot.value = value;
      slot.dirty = true;
      slot.ref = true;
      return;
    }
    if (keyTooLong(key))
      throw configError(
        `a state key of ${(key as string).length} characters is too long for the durable backend`,
        key,
        'key by something shorter than ~1,900 UTF-8 bytes (an id, or a hash of the long key)',
        this.stepId,
      );
    const stored =
      this.#counts[keyGroup] !== 0 && this.#store.has(encodeKey(this.id, keyGroup, namespace, key));
    if (!stored) this.#added(keyGroup);
    this.#insert(new Slot(this, keyGroup, namespace, key, value, true, stored, true));
  }

  remove(keyGroup: number, key: Key, namespace: number): void {
    const slot = this.#namespace(keyGroup, namespace)?.get(key);
    if (slot !== undefined) {
      slot.ref = true;
      if (!slot.present) return;
      slot.present = false;
      slot.value = undefined;
      // A tombstone only when the store has something to delete.
      slot.dirty = slot.stored;
      this.#removed(keyGroup);
      return;
    }
    if (this.#counts[keyGroup] === 0 || keyTooLong(key)) return;
    if (!this.#store.has(encodeKey(this.id, keyGroup, namespace, key))) return;
    this.#removed(keyGroup);
    this.#insert(new Slot(this, keyGroup, namespace, key, undefined, false, true, true));
  }

  /** Writes this key group's (or one namespace's) dirty slots, so the store alone lists its entries. */
  #writeBack(keyGroup: number, namespace: number | undefined): void {
    const group = this.#groups[keyGroup];
    if (group === undefined) return;
    const dirty: Slot[] = [];
    const add = (ns: Map<Key, Slot>) => {
      for (const s of ns.values()) if (s.dirty) dirty.push(s);
    };
    if (namespace === undefined) for (const ns of group.values()) add(ns);
    else {
      const ns = group.get(namespace);
      if (ns !== undefined) add(ns);
    }
    this.#cache.writeBack(dirty);
  }

  /**
   * Every entry of one namespace. The namespace's dirty slots are written
   * first, so the store lists every entry; a cached slot then overrides the
   * stored value (same object as put, or a removal made while iterating).
   * Entries added while iterating may or may not be seen, as with a Map.
   */
  *namespaceEntries(keyGroup: number, namespace: number): Iterable<readonly [Key, unknown]> {
    if (this.#counts[keyGroup] === 0) return;
    this.#writeBack(keyGroup, namespace);
    const start = namespacePrefix(this.id, keyGroup, namespace);
    for (const [key, , value] of this.#scan(keyGroup, start, false)) yield [key, value];
  }

  /** Every entry of one key group, in namespace order; same rules as {@link namespaceEntries}. */
  *entries(keyGroup: number): Iterable<readonly [Key, number, unknown]> {
    if (this.#counts[keyGroup] === 0) return;
    this.#writeBack(keyGroup, undefined);
    yield* this.#scan(keyGroup, groupPrefix(this.id, keyGroup), true);
  }

  *#scan(keyGroup: number, prefix: Buffer, decodeNamespace: boolean): Iterable<[Key, number, unknown]> {
    const end = prefixEnd(prefix);
    const fixedNamespace = decodeNamespace ? 0 : keyNamespace(prefix);
    let from: Buffer = prefix;
    let after = false;
    for (;;) {
      const { keys, values } = this.#store.scan(from, end, after, SCAN_CHUNK);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const namespace = decodeNamespace ? keyNamespace(k) : fixedNamespace;
        const key = keyKey(k);
        const slot = this.#groups[keyGroup]?.get(namespace)?.get(key);
        if (slot === undefined) yield [key, namespace, decodeValue(values[i]!)];
        else if (slot.present) yield [key, namespace, slot.value];
      }
      if (keys.length < SCAN_CHUNK) return;
      from = keys[keys.length - 1]!;
      after = true;
    }
  }

  *keyGroups(): Iterable<number> {
    const counts = this.#counts;
    for (let g = 0; g < counts.length; g++) if (counts[g]! > 0) yield g;
  }

  size(): number {
    return this.#size;
  }
}
