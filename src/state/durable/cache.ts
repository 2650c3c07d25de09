/**
 * The write-back cache of the durable backend: a fixed number of slots, shared
 * by every table, replaced by CLOCK (second chance). A slot is the whole truth
 * about its key while it is cached — the value or its absence, whether the
 * store holds an entry, and whether the store is behind (dirty) — so a hit
 * never touches the store, and a remove is a cached tombstone until written.
 *
 * CLOCK rather than LRU: a hit only sets a bit (no list to relink), which keeps
 * hot-key reads close to the heap backend's speed. Eviction takes a batch of
 * victims at a time and writes the dirty ones in one store transaction.
 */

import type { Key } from '../../core/key-groups.ts';
import { configError } from '../../errors/index.ts';
import { encodeKey, encodeValue } from './encoding.ts';
import type { LmdbStore, StoreWrite } from './store.ts';

/** What a slot needs of its table. */
export interface SlotOwner {
  readonly id: number;
  readonly stepId: string;
  readonly name: string;
  /** Removes the slot from the table's index (it is leaving the cache). */
  detach(slot: Slot): void;
}

/** One cached (table, key group, key, namespace). */
export class Slot {
  readonly owner: SlotOwner;
  readonly keyGroup: number;
  readonly namespace: number;
  readonly key: Key;
  /** The value, when `present`. */
  value: unknown;
  /** Whether the entry exists (false: a cached miss, or a tombstone while `dirty`). */
  present: boolean;
  /** Whether the store holds an entry for this key. */
  stored: boolean;
  /** Whether the store must be written to agree with this slot. */
  dirty: boolean;
  /** CLOCK's reference bit. */
  ref = true;
  /** Index in the cache's slot array. */
  pos = -1;

  constructor(
    owner: SlotOwner,
    keyGroup: number,
    namespace: number,
    key: Key,
    value: unknown,
    present: boolean,
    stored: boolean,
    dirty: boolean,
  ) {
    this.owner = owner;
    this.keyGroup = keyGroup;
    this.namespace = namespace;
    this.key = key;
    this.value = value;
    this.present = present;
    this.stored = stored;
    this.dirty = dirty;
  }
}

function toWrite(slot: Slot): StoreWrite {
  const key = encodeKey(slot.owner.id, slot.keyGroup, slot.namespace, slot.key);
  if (!slot.present) return { key, value: undefined };
  try {
    return { key, value: encodeValue(slot.value) };
  } catch (e) {
    const err = configError(
      `a value in state table "${slot.owner.name}" cannot be encoded (${(e as Error).message})`,
      slot.value,
      'keep state values to structured-cloneable data: numbers, strings, plain objects, arrays, Map, Set, Date',
      slot.owner.stepId,
    );
    err.cause = e;
    throw err;
  }
}

export class ClockCache {
  readonly #store: LmdbStore;
  readonly #slots: (Slot | undefined)[];
  readonly #free: number[] = [];
  readonly #batch: number;
  #hand = 0;

  constructor(store: LmdbStore, capacity: number) {
    this.#store = store;
    this.#slots = new Array<Slot | undefined>(capacity).fill(undefined);
    for (let i = capacity - 1; i >= 0; i--) this.#free.push(i);
    // Big enough that a transaction's fixed cost is spread thin, small enough
    // that one eviction does not evict much of the hot set.
    this.#batch = Math.max(1, Math.min(4096, Math.floor(capacity / 16)));
  }

  /** Takes a free slot position for `slot`, evicting a batch first when there is none. */
  admit(slot: Slot): void {
    if (this.#free.length === 0) this.#evict();
    const pos = this.#free.pop()!;
    slot.pos = pos;
    this.#slots[pos] = slot;
  }

  #evict(): void {
    const slots = this.#slots;
    const n = slots.length;
    const victims: Slot[] = [];
    // Two turns of the hand clear every reference bit, so this always finds a batch.
    for (let steps = 0; victims.length < this.#batch && steps < 2 * n; steps++) {
      const slot = slots[this.#hand];
      if (slot !== undefined) {
        if (slot.ref) slot.ref = false;
        else {
          victims.push(slot);
          slots[this.#hand] = undefined;
        }
      }
      this.#hand = this.#hand + 1 === n ? 0 : this.#hand + 1;
    }
    const writes: StoreWrite[] = [];
    try {
      for (const v of victims) if (v.dirty) writes.push(toWrite(v));
      this.#store.write(writes);
    } catch (e) {
      // Nothing was written: the victims stay cached, dirty, and the caller sees the error.
      for (const v of victims) slots[v.pos] = v;
      throw e;
    }
    for (const v of victims) {
      v.owner.detach(v);
      this.#free.push(v.pos);
      v.pos = -1;
    }
  }

  /** Writes the dirty ones of `slots` in one transaction; they stay cached, clean. */
  writeBack(slots: readonly Slot[]): void {
    const writes: StoreWrite[] = [];
    for (const s of slots) if (s.dirty) writes.push(toWrite(s));
    if (writes.length === 0) return;
    this.#store.write(writes);
    for (const s of slots) {
      s.stored = s.present;
      s.dirty = false;
    }
  }

  /** Every dirty slot, in slot order. */
  dirtySlots(): Slot[] {
    const out: Slot[] = [];
    for (const s of this.#slots) if (s?.dirty) out.push(s);
    return out;
  }
}
