/**
 * The durable backend itself: the table registry (kept in the store, so a
 * reused store knows its tables), the shared cache, flush and close.
 */
import type { KeyedStateBackend, StateTable } from '../backend.ts';
import { ClockCache } from './cache.ts';
import { keyGroupOfKey, keyTable, prefixEnd } from './encoding.ts';
import type { LmdbStore } from './store.ts';
import { DurableTable } from './table.ts';

// Metadata lives under table id 0: META_TABLES + JSON [stepId, name] -> table id (u32 BE).
const META_TABLES = Buffer.from([0, 0, 0, 0, 0x74]);
const FIRST_DATA_KEY = Buffer.from([0, 0, 0, 1]);
const AFTER_DATA_KEYS = Buffer.alloc(5, 0xff);

export class DurableBackend implements KeyedStateBackend {
  readonly kind = 'durable';
  readonly maxParallelism: number;
  readonly #store: LmdbStore;
  readonly #cache: ClockCache;
  readonly #tables = new Map<string, Map<string, DurableTable>>();
  readonly #onClose: () => void;
  #nextId = 1;
  #closed = false;

  constructor(store: LmdbStore, cacheEntries: number, maxParallelism: number, onClose: () => void) {
    this.#store = store;
    this.#cache = new ClockCache(store, cacheEntries);
    this.maxParallelism = maxParallelism;
    this.#onClose = onClose;
  }

  /** Rebuilds the table registry and the exact counts from a reused store (one pass over its keys). */
  load(): void {
    const byId = new Map<number, DurableTable>();
    const { keys, values } = this.#store.scan(META_TABLES, prefixEnd(META_TABLES), false, 0x7fffffff);
    for (let i = 0; i < keys.length; i++) {
      const [stepId, name] = JSON.parse(keys[i]!.toString('utf8', META_TABLES.length)) as [string, string];
      const id = Buffer.from(values[i]!).readUInt32BE(0);
      byId.set(id, this.#register(id, stepId, name));
      if (id >= this.#nextId) this.#nextId = id + 1;
    }
    for (const key of this.#store.keys(FIRST_DATA_KEY, AFTER_DATA_KEYS)) {
      byId.get(keyTable(key))?.countStored(keyGroupOfKey(key));
    }
  }

  #register(id: number, stepId: string, name: string): DurableTable {
    let step = this.#tables.get(stepId);
    if (step === undefined) this.#tables.set(stepId, (step = new Map()));
    const table = new DurableTable(id, stepId, name, this.maxParallelism, this.#store, this.#cache);
    step.set(name, table);
    return table;
  }

  table<V>(stepId: string, name: string): StateTable<V> {
    let table = this.#tables.get(stepId)?.get(name);
    if (table === undefined) {
      const id = this.#nextId++;
      const idBytes = Buffer.alloc(4);
      idBytes.writeUInt32BE(id, 0);
      this.#store.putOne(
        Buffer.concat([META_TABLES, Buffer.from(JSON.stringify([stepId, name]), 'utf8')]),
        idBytes,
      );
      table = this.#register(id, stepId, name);
    }
    return table as StateTable<unknown> as StateTable<V>;
  }

  tableNames(stepId: string): readonly string[] {
    return [...(this.#tables.get(stepId)?.keys() ?? [])];
  }

  *tables(): Iterable<readonly [string, string, StateTable<unknown>]> {
    for (const [stepId, step] of this.#tables) for (const [name, table] of step) yield [stepId, name, table];
  }

  /** Writes every dirty cached entry in one transaction and waits until the store is on disk. */
  async flush(): Promise<void> {
    if (this.#closed) return;
    this.#cache.writeBack(this.#cache.dirtySlots());
    await this.#store.sync();
  }

  /** Flushes, then closes the store; the backend is unusable afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    try {
      await this.#store.close();
    } finally {
      this.#onClose();
    }
  }
}
