/**
 * Event-time timers for keyed operators. Timers are grouped by time: many keys
 * usually share a firing time (every key's window ends at the same instant), so
 * a registration is one Map lookup and a push, and the heap holds one entry per
 * distinct time rather than per timer.
 */
import type { Key } from '../core/key-groups.ts';

export interface Timer {
  readonly time: number;
  readonly keyGroup: number;
  readonly key: Key;
  readonly namespace: number;
}

export class TimerQueue {
  readonly #byTime = new Map<number, Timer[]>();
  readonly #heap: number[] = [];
  // Only for deduplicated timers (sessions, user timers in process functions): the keys with a
  // pending timer by time, then namespace. Nested maps instead of one set of "time|key|namespace"
  // strings: no string per registration, and a time's entry goes in one delete when it fires.
  // (The key group follows from the key.)
  readonly #dedup = new Map<number, Map<number, Set<Key>>>();

  /** Registers a timer; the same timer may be registered twice (callers that need once use `registerOnce`). */
  register(time: number, keyGroup: number, key: Key, namespace: number): void {
    let bucket = this.#byTime.get(time);
    if (bucket === undefined) {
      this.#byTime.set(time, (bucket = []));
      this.#push(time);
    }
    bucket.push({ time, keyGroup, key, namespace });
  }

  /** Registers a timer unless the same one is already pending. */
  registerOnce(time: number, keyGroup: number, key: Key, namespace: number): void {
    let byNamespace = this.#dedup.get(time);
    if (byNamespace === undefined) this.#dedup.set(time, (byNamespace = new Map()));
    let keys = byNamespace.get(namespace);
    if (keys === undefined) byNamespace.set(namespace, (keys = new Set()));
    if (keys.has(key)) return;
    keys.add(key);
    this.register(time, keyGroup, key, namespace);
  }

  /** Cancels a deduplicated timer (it is skipped when its time comes). */
  cancel(time: number, keyGroup: number, key: Key, namespace: number): void {
    if (this.#dedup.get(time)?.get(namespace)?.delete(key) !== true) return;
    const bucket = this.#byTime.get(time);
    if (bucket === undefined) return;
    const i = bucket.findIndex((t) => t.keyGroup === keyGroup && t.key === key && t.namespace === namespace);
    if (i >= 0) bucket.splice(i, 1);
  }

  /** The earliest pending time, or +Infinity. */
  peekTime(): number {
    return this.#heap.length === 0 ? Number.POSITIVE_INFINITY : this.#heap[0]!;
  }

  /** Removes and returns every timer at the earliest time if it is <= `upTo`; undefined when none is due. */
  pollDue(upTo: number): Timer[] | undefined {
    if (this.#heap.length === 0 || this.#heap[0]! > upTo) return undefined;
    const time = this.#pop();
    const bucket = this.#byTime.get(time)!;
    this.#byTime.delete(time);
    this.#dedup.delete(time);
    return bucket;
  }

  get size(): number {
    let n = 0;
    for (const b of this.#byTime.values()) n += b.length;
    return n;
  }

  /** Every pending timer (for snapshots and inspection). */
  *all(): Iterable<Timer> {
    for (const b of this.#byTime.values()) yield* b;
  }

  /** The pending timers by key group, flat as `[time, key, namespace, ...]` (for a checkpoint). */
  snapshot(name: string): { name: string; keyGroup: number; items: unknown[] }[] {
    const byGroup = new Map<number, unknown[]>();
    for (const t of this.all()) {
      let items = byGroup.get(t.keyGroup);
      if (items === undefined) byGroup.set(t.keyGroup, (items = []));
      items.push(t.time, t.key, t.namespace);
    }
    return [...byGroup].map(([keyGroup, items]) => ({ name, keyGroup, items }));
  }

  /** Registers the timers of {@link snapshot} again; `keyGroupOf` recomputes each timer's group. */
  restore(items: readonly unknown[], keyGroupOf: (key: Key) => number, once: boolean): void {
    for (let i = 0; i + 2 < items.length; i += 3) {
      const key = items[i + 1] as Key;
      const args = [items[i] as number, keyGroupOf(key), key, items[i + 2] as number] as const;
      if (once) this.registerOnce(...args);
      else this.register(...args);
    }
  }

  #push(time: number): void {
    const h = this.#heap;
    let i = h.length;
    h.push(time);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= time) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = time;
  }

  #pop(): number {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && h[r]! < h[l]! ? r : l;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
