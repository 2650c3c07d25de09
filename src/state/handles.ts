/**
 * Keyed state as user code sees it: value, map and list state, each scoped to
 * the key of the record (or timer) being processed, with an optional
 * time-to-live. Handles are made once per step and read the current key from a
 * shared cursor, so switching keys costs nothing.
 */

import type { Clock } from '../core/clock.ts';
import type { Key } from '../core/key-groups.ts';
import { configError } from '../errors/index.ts';
import type { StateTable } from './backend.ts';

/** The key the step is processing now; set by the operator before each call into user code. */
export interface KeyCursor {
  keyGroup: number;
  key: Key;
}

/** One value per key. */
export interface ValueState<V> {
  get(): V | undefined;
  set(value: V): void;
  clear(): void;
}

/** A map per key. */
export interface MapState<MK, V> {
  get(key: MK): V | undefined;
  set(key: MK, value: V): void;
  has(key: MK): boolean;
  delete(key: MK): void;
  entries(): IterableIterator<[MK, V]>;
  readonly size: number;
  clear(): void;
}

/** A list per key. */
export interface ListState<V> {
  get(): readonly V[];
  add(value: V): void;
  update(values: readonly V[]): void;
  clear(): void;
}

export interface StateOptions {
  /** Entries not written for this many ms of processing time read as absent and are dropped. */
  readonly ttl?: number;
}

/** A declared piece of state; `H` is the handle type user code gets. */
export interface StateDescriptor<H> {
  readonly kind: 'value' | 'map' | 'list';
  readonly ttl: number;
  /** Phantom: carries the handle type; never set. */
  readonly _handle?: H;
}

function descriptor<H>(
  kind: 'value' | 'map' | 'list',
  options: StateOptions | undefined,
): StateDescriptor<H> {
  // Only a missing ttl means none: null is a mistake to name, not a default.
  const ttl = options?.ttl === undefined ? 0 : options.ttl;
  if (typeof ttl !== 'number' || !(ttl >= 0)) {
    throw configError(
      'state ttl must be a number of milliseconds >= 0',
      ttl,
      'pass e.g. { ttl: 60_000 }, or omit it',
    );
  }
  return { kind, ttl };
}

/**
 * Declares value state: one `V` per key.
 *
 * @example
 * ```ts
 * keyed.withState({ count: valueState<number>({ ttl: 60_000 }) }).process<string>({
 *   processElement(v, ctx) { ctx.state.count.set((ctx.state.count.get() ?? 0) + 1); },
 * });
 * ```
 */
export function valueState<V>(options?: StateOptions): StateDescriptor<ValueState<V>> {
  return descriptor('value', options);
}

/** Declares map state: a `Map<MK, V>` per key. */
export function mapState<MK, V>(options?: StateOptions): StateDescriptor<MapState<MK, V>> {
  return descriptor('map', options);
}

/** Declares list state: a `V[]` per key. */
export function listState<V>(options?: StateOptions): StateDescriptor<ListState<V>> {
  return descriptor('list', options);
}

/** A record of named state descriptors. */
export type StateSpec = Record<string, StateDescriptor<unknown>>;

/** The handles for a {@link StateSpec}. */
export type StateHandles<S extends StateSpec> = { readonly [N in keyof S]: NonNullable<S[N]['_handle']> };

/** With a TTL, entries are stored with the time they expire. */
interface Expiring<V> {
  value: V;
  expires: number;
}

class Cell<V> {
  readonly #table: StateTable<unknown>;
  readonly #cursor: KeyCursor;
  readonly #ttl: number;
  readonly #clock: Clock;

  constructor(table: StateTable<unknown>, cursor: KeyCursor, ttl: number, clock: Clock) {
    this.#table = table;
    this.#cursor = cursor;
    this.#ttl = ttl;
    this.#clock = clock;
  }

  read(): V | undefined {
    const c = this.#cursor;
    const raw = this.#table.get(c.keyGroup, c.key, 0);
    if (raw === undefined || this.#ttl === 0) return raw as V | undefined;
    const e = raw as Expiring<V>;
    if (e.expires <= this.#clock.now()) {
      this.#table.remove(c.keyGroup, c.key, 0);
      return undefined;
    }
    return e.value;
  }

  write(value: V): void {
    const c = this.#cursor;
    this.#table.put(
      c.keyGroup,
      c.key,
      0,
      this.#ttl === 0 ? value : ({ value, expires: this.#clock.now() + this.#ttl } satisfies Expiring<V>),
    );
  }

  clear(): void {
    const c = this.#cursor;
    this.#table.remove(c.keyGroup, c.key, 0);
  }
}

/** Makes the handles for `spec`, over tables named after the state names. */
export function makeHandles<S extends StateSpec>(
  spec: S,
  tableFor: (name: string) => StateTable<unknown>,
  cursor: KeyCursor,
  clock: Clock,
): StateHandles<S> {
  const handles: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(spec)) {
    const d = spec[name]!;
    const cell = new Cell<unknown>(tableFor(name), cursor, d.ttl, clock);
    if (d.kind === 'value') handles[name] = valueHandle(cell);
    else if (d.kind === 'map') handles[name] = mapHandle(cell as Cell<Map<unknown, unknown>>);
    else handles[name] = listHandle(cell as Cell<unknown[]>);
  }
  return handles as StateHandles<S>;
}

function valueHandle<V>(cell: Cell<V>): ValueState<V> {
  return { get: () => cell.read(), set: (v) => cell.write(v), clear: () => cell.clear() };
}

function mapHandle<MK, V>(cell: Cell<Map<MK, V>>): MapState<MK, V> {
  const empty = new Map<MK, V>();
  return {
    get: (k) => cell.read()?.get(k),
    has: (k) => cell.read()?.has(k) ?? false,
    set(k, v) {
      const m = cell.read() ?? new Map<MK, V>();
      m.set(k, v);
      cell.write(m);
    },
    delete(k) {
      const m = cell.read();
      if (m === undefined) return;
      m.delete(k);
      if (m.size === 0) cell.clear();
      else cell.write(m);
    },
    entries: () => (cell.read() ?? empty).entries(),
    get size() {
      return cell.read()?.size ?? 0;
    },
    clear: () => cell.clear(),
  };
}

function listHandle<V>(cell: Cell<V[]>): ListState<V> {
  return {
    get: () => cell.read() ?? [],
    add(v) {
      const l = cell.read() ?? [];
      l.push(v);
      cell.write(l);
    },
    update(values) {
      if (values.length === 0) cell.clear();
      else cell.write([...values]);
    },
    clear: () => cell.clear(),
  };
}
