/**
 * The batch computation of test/cli/fixtures/two-stages.ts, written without
 * the engine: views per user and window, then per activity tier and window
 * the users and their views; and the windows a run wrote, each once.
 */
import assert from 'node:assert/strict';
import { type Click, type TierCount, tierOf } from './fixtures/two-stages.ts';

/** The fixture's window length (ms), as the tests run it. */
export const WINDOW = 1000;

/** The batch computation: views per user and window, then per tier and window the users and views. */
export function oracle(clicks: readonly Click[]): Map<string, string> {
  const views = new Map<string, number>();
  for (const c of clicks) {
    if (c.user === undefined) continue;
    const id = `${c.user}@${c.ts - (c.ts % WINDOW)}`;
    views.set(id, (views.get(id) ?? 0) + 1);
  }
  const tiers = new Map<string, { users: number; views: number }>();
  for (const [id, n] of views) {
    const start = id.slice(id.indexOf('@') + 1);
    const key = `${tierOf(n)}@${start}`;
    const t = tiers.get(key) ?? { users: 0, views: 0 };
    tiers.set(key, { users: t.users + 1, views: t.views + n });
  }
  return new Map([...tiers].map(([k, t]) => [k, `${t.users}/${t.views}`]));
}

/** Each window's result as written, failing on a window written twice. */
export function counted(out: readonly TierCount[], end: number, label: string): Map<string, string> {
  const counts = new Map<string, string>();
  for (const v of out) {
    if (v.start >= end - (end % WINDOW) - WINDOW) continue; // the flush windows
    const id = `${v.tier}@${v.start}`;
    assert.ok(!counts.has(id), `${label}: window ${id} written twice`);
    counts.set(id, `${v.users}/${v.views}`);
  }
  return counts;
}
