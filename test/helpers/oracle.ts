/**
 * Batch oracles: the same computations as the streaming steps, done directly
 * over a whole input with plain loops. Streaming results are checked against them.
 */
import type { Aggregator } from '../../src/index.ts';

export interface Ev {
  readonly id: number;
  readonly key: string;
  readonly ts: number;
  readonly value: number;
}

/**
 * Collects the ids of a window's events (mutating its accumulator in place, as
 * user code may): lets a test compare exact membership, not just a number.
 */
export const idsAgg: Aggregator<{ readonly id: number }, number[], number[]> = {
  create: () => [],
  add: (acc, e) => {
    acc.push(e.id);
    return acc;
  },
  merge: (a, b) => [...a, ...b],
  result: (acc) => [...acc].sort((x, y) => x - y),
};

export type WindowKey = `${string}|${number}|${number}`;

export function windowKey(key: string, start: number, end: number): WindowKey {
  return `${key}|${start}|${end}`;
}

function floorTo(t: number, step: number): number {
  const r = t % step;
  return t - (r < 0 ? r + step : r);
}

/** Every (key, window) → the ids of its events, for tumbling or sliding windows. */
export function gridWindows(events: readonly Ev[], size: number, slide = size): Map<WindowKey, number[]> {
  const out = new Map<WindowKey, number[]>();
  for (const e of events) {
    for (let start = floorTo(e.ts, slide); start > e.ts - size; start -= slide) {
      const k = windowKey(e.key, start, start + size);
      let ids = out.get(k);
      if (ids === undefined) out.set(k, (ids = []));
      ids.push(e.id);
    }
  }
  return out;
}

/** Every (key, session) → the ids of its events: a session ends after `gap` ms without an event. */
export function sessionWindows(events: readonly Ev[], gap: number): Map<WindowKey, number[]> {
  const byKey = new Map<string, Ev[]>();
  for (const e of events) {
    let list = byKey.get(e.key);
    if (list === undefined) byKey.set(e.key, (list = []));
    list.push(e);
  }
  const out = new Map<WindowKey, number[]>();
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.ts - b.ts);
    let ids: number[] = [];
    let start = list[0]!.ts;
    let last = start;
    for (const e of list) {
      if (ids.length > 0 && e.ts - last >= gap) {
        out.set(windowKey(key, start, last + gap), ids);
        ids = [];
        start = e.ts;
      }
      ids.push(e.id);
      last = e.ts;
    }
    out.set(windowKey(key, start, last + gap), ids);
  }
  return out;
}

/** Keeps the last result per (key, window): later results supersede earlier ones. */
export function lastPerWindow<R>(
  results: readonly { key: string; window: { start: number; end: number }; value: R }[],
): Map<WindowKey, R> {
  const out = new Map<WindowKey, R>();
  for (const r of results) out.set(windowKey(r.key, r.window.start, r.window.end), r.value);
  return out;
}

export function sortedEntries<V>(m: Map<string, V>): [string, V][] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
