/**
 * Load-aware assignment (issue 18): the assignor weighs partitions by the
 * load their owners report in the group's user data, keeps what members own
 * unless the busiest carries more than (1 + threshold) × the mean, then moves
 * few partitions, cooperatively (through a round where nobody has them), and
 * settles where no move would clearly help. Without loads it assigns by
 * count, as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterMetadata } from '@platformatic/kafka';
import fc from 'fast-check';
import { loadAwareAssignor, plannedMovesTo } from '../../../src/connectors/kafka/assignor.ts';
import {
  BALANCE_DEFAULTS,
  checkLoadBalance,
  PartitionLoads,
} from '../../../src/connectors/kafka/load-balance.ts';
import { memberData } from '../../../src/connectors/kafka/members.ts';
import { EddyError } from '../../../src/index.ts';
import { group as subscriptions } from './group.ts';

const T = 't';
type Owned = Record<string, number[]>;

/** The group as the leader sees it: each member's owned partitions and their loads in its user data. */
function members(owned: Owned, weights: readonly number[] | undefined, generation = 5) {
  return subscriptions(T, owned, generation, (memberId, partitions) =>
    memberData(
      memberId,
      undefined,
      weights === undefined ? undefined : new Map(partitions.map((p) => [`${T}:${p}`, weights[p]!])),
    ),
  );
}

function round(
  assign: ReturnType<typeof loadAwareAssignor>,
  count: number,
  owned: Owned,
  weights: readonly number[] | undefined,
): Owned {
  const metadata = { topics: new Map([[T, { partitionsCount: count }]]) } as unknown as ClusterMetadata;
  const out: Owned = Object.fromEntries(Object.keys(owned).map((id) => [id, [] as number[]]));
  for (const m of assign('x', members(owned, weights), new Set([T]), metadata))
    out[m.memberId] = [...(m.assignments.get(T)?.partitions ?? [])];
  return out;
}

/** Rounds until nothing changes. */
function settle(count: number, start: Owned, weights: readonly number[] | undefined, known = false) {
  // known: every partition's load was reported before (the leader remembers it), owned or not.
  const remembered = new Map(
    known && weights !== undefined ? weights.slice(0, count).map((w, p) => [`${T}:${p}`, w] as const) : [],
  );
  const assign = loadAwareAssignor(BALANCE_DEFAULTS, remembered);
  const rounds: Owned[] = [];
  let owned = start;
  for (let r = 0; r < 8; r++) {
    const next = round(assign, count, owned, weights);
    rounds.push(next);
    if (JSON.stringify(next) === JSON.stringify(owned)) break;
    owned = next;
  }
  return { rounds, final: owned };
}

/** A random group: partitions, members, each partition's previous owner (≥ members: none), loads. */
const GROUP = fc.record({
  count: fc.integer({ min: 1, max: 10 }),
  n: fc.integer({ min: 1, max: 4 }),
  owners: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 10, maxLength: 10 }),
  weights: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 10, maxLength: 10 }),
});

/** The members and a valid previous assignment of a random group: each partition owned by one member at most. */
function group(count: number, n: number, owners: readonly number[]): { ids: string[]; start: Owned } {
  const ids = Array.from({ length: n }, (_, i) => `m${i}`);
  const start: Owned = Object.fromEntries(ids.map((id) => [id, [] as number[]]));
  owners.slice(0, count).forEach((o, p) => {
    if (o < n) start[`m${o}`]!.push(p);
  });
  return { ids, start };
}

const loadOf = (ps: readonly number[], w: readonly number[]) =>
  ps.reduce((a, p) => a + Math.max(1, w[p]!), 0);

/**
 * Balanced within the threshold, or no single move from the busiest to the
 * idlest clearly helps — leaving aside a move after which the idlest would be
 * the busiest, beyond the threshold, with a partition whose move would then
 * clearly help (a chain of moves that could take back what it was given).
 */
function settledBalance(ids: readonly string[], owned: Owned, w: readonly number[], seed: string): void {
  const loads = ids.map((id) => loadOf(owned[id]!, w));
  const mean = loads.reduce((a, b) => a + b, 0) / ids.length;
  const high = Math.max(...loads);
  const busiest = ids[loads.indexOf(high)]!;
  const low = Math.min(...loads);
  const idlest = ids[loads.indexOf(low)]!;
  const wt = (p: number) => Math.max(1, w[p]!);
  const ceiling = mean * (1 + BALANCE_DEFAULTS.threshold);
  const chains = (p: number) => {
    const received = low + wt(p);
    if (received <= ceiling) return false;
    const rest = ids
      .filter((id) => id !== idlest)
      .map((id) => (id === busiest ? high - wt(p) : loadOf(owned[id]!, w)));
    if (rest.some((l) => l >= received)) return false;
    const light = Math.min(...rest);
    return owned[idlest]!.some((q) => Math.max(received - wt(q), light + wt(q)) <= received - 0.05 * mean);
  };
  if (high > ceiling)
    for (const p of owned[busiest]!) {
      if (chains(p)) continue;
      const after = Math.max(high - Math.max(1, w[p]!), low + Math.max(1, w[p]!));
      assert.ok(high - after < 0.05 * mean, `moving ${p} off ${busiest} would help: ${seed}`);
    }
}

describe('load-aware assignment', () => {
  it('a hot partition ends up alone: 90 + 10 | 10 + 10 becomes 90 | 10 + 10 + 10, in two rounds', () => {
    const w = [90, 10, 10, 10];
    const { rounds, final } = settle(4, { a: [0, 1], b: [2, 3] }, w);
    // Round 1: a gives up partition 1, nobody gets it yet (cooperative).
    assert.deepEqual(rounds[0], { a: [0], b: [2, 3] });
    assert.deepEqual(final, { a: [0], b: [1, 2, 3] });
    assert.equal(rounds.length, 3, 'two rounds, and one that changes nothing');
  });

  it('a newcomer beside a partition that outweighs the rest still gets one (every member runs a partition)', () => {
    // 4 members, 4 partitions, one of them 100× the others: no load move helps, yet nobody stays idle.
    const { final } = settle(4, { a: [0, 2], b: [3], c: [1], d: [] }, [100, 1, 1, 1]);
    assert.deepEqual(
      Object.values(final)
        .map((p) => p.length)
        .sort(),
      [1, 1, 1, 1],
    );
    assert.deepEqual(final['a'], [0], 'the hot partition stays where it was');
  });

  it('loads within the threshold stay where they are (hysteresis)', () => {
    const { rounds } = settle(4, { a: [0, 1], b: [2, 3] }, [10, 12, 10, 9]);
    assert.deepEqual(rounds, [{ a: [0, 1], b: [2, 3] }]);
  });

  it('a member that joins takes load from the busiest; without loads, partitions are counted as before', () => {
    const even = settle(4, { a: [0, 1], b: [2, 3], c: [] }, [10, 10, 10, 10]).final;
    assert.deepEqual(
      Object.values(even)
        .map((p) => p.length)
        .sort(),
      [1, 1, 2],
    );
    const counted = settle(4, { a: [0, 1], b: [2, 3], c: [] }, undefined).final;
    assert.deepEqual(
      Object.values(counted)
        .map((p) => p.length)
        .sort(),
      [1, 1, 2],
    );
    // Skewed: the joiner gets the load, not a count share.
    const skewed = settle(6, { a: [0, 1, 2], b: [3, 4, 5], c: [] }, [50, 50, 5, 5, 5, 5]).final;
    const loads = Object.values(skewed).map((ps) => loadOf(ps, [50, 50, 5, 5, 5, 5]));
    assert.ok(Math.max(...loads) <= 55, `loads ${loads}`);
  });

  it('always settles complete, moves a partition only through a free round and at most once, and ends balanced or where no move helps', () => {
    fc.assert(
      fc.property(GROUP, ({ count, n, owners, weights }) => {
        const { ids, start } = group(count, n, owners);
        const { rounds, final } = settle(count, start, weights, true);
        const seed = JSON.stringify({ count, n, owners, weights });
        let before = start;
        const moved = new Map<number, number>();
        for (const r of rounds) {
          const all = Object.values(r).flat();
          assert.equal(new Set(all).size, all.length, `no partition twice: ${seed}`);
          for (const [id, ps] of Object.entries(r))
            for (const p of ps) {
              const prev = Object.entries(before).find(([, q]) => q.includes(p))?.[0];
              assert.ok(
                prev === undefined || prev === id,
                `partition ${p} went ${prev} → ${id} in one round: ${seed}`,
              );
              if (prev === undefined && Object.values(start).flat().includes(p))
                moved.set(p, (moved.get(p) ?? 0) + 1);
            }
          before = r;
        }
        assert.ok(rounds.length < 8, `settles: ${seed}`);
        assert.equal(Object.values(final).flat().length, count, `every partition assigned: ${seed}`);
        if (count >= n)
          for (const id of ids) assert.ok(final[id]!.length > 0, `${id} runs a partition: ${seed}`);
        for (const [p, times] of moved)
          assert.equal(times, 1, `partition ${p} moved ${times} times: ${seed}`);
        settledBalance(ids, final, weights, seed);
      }),
      {
        numRuns: 1000,
        // Found in CI (2026-12-05): a member whose planned receipt made it the heaviest gave up a
        // partition of its own, which later came back (moved twice).
        examples: [
          [
            {
              count: 5,
              n: 3,
              owners: [0, 3, 3, 1, 0, 0, 0, 0, 0, 0],
              weights: [882, 609, 440, 131, 788, 0, 0, 0, 0, 0],
            },
          ],
          // Found in CI (2026-12-05, seed 184602220): a move made its receiver the heaviest, which
          // then gave up the partition it had received the round before (moved twice).
          [
            {
              count: 10,
              n: 4,
              owners: [0, 1, 2, 2, 3, 1, 2, 0, 3, 2],
              weights: [0, 28, 165, 992, 540, 442, 238, 0, 760, 897],
            },
          ],
        ],
      },
    );
  });

  it('settles complete too when free partitions’ loads are unknown until someone runs them', () => {
    fc.assert(
      fc.property(GROUP, ({ count, n, owners, weights }) => {
        const { start } = group(count, n, owners);
        const { rounds, final } = settle(count, start, weights);
        const seed = JSON.stringify({ count, n, owners, weights });
        assert.ok(rounds.length < 8, `settles: ${seed}`);
        assert.equal(new Set(Object.values(final).flat()).size, count, `every partition once: ${seed}`);
      }),
      { numRuns: 500 },
    );
  });

  it('a partition’s load is its arrival rate plus its backlog to drain in a minute; options are checked', () => {
    const loads = new PartitionLoads();
    loads.observe(new Map([['t:0', { offset: 0n, at: 0 }]]));
    loads.observe(new Map([['t:0', { offset: 1000n, at: 1000 }]]));
    assert.deepEqual([...loads.loads(() => 600)], [['t:0', 1010]]);
    // The same answer again (no new ask of the brokers) changes nothing.
    loads.observe(new Map([['t:0', { offset: 1000n, at: 1000 }]]));
    assert.deepEqual([...loads.loads(() => 600)], [['t:0', 1010]]);
    loads.observe(new Map()); // the partition went away
    assert.equal(loads.loads(() => 0).size, 0);
    assert.equal(checkLoadBalance(false), undefined);
    assert.deepEqual(checkLoadBalance(undefined), { threshold: 0.2, maxMoves: 2, probeIntervalMs: 300_000 });
    for (const bad of [{ threshold: 0 }, { maxMoves: 0 }, { probeIntervalMs: 10 }])
      assert.throws(
        () => checkLoadBalance(bad),
        (e: unknown) =>
          e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && /loadBalance\./.test(e.message),
      );
  });
});

/**
 * Warm-up before a load move (KIP-441 for the load rule): the leader holds a
 * move back while its receiver has no warm copy; the receiver, working out
 * the same plan from what the group reports (`plannedMovesTo`), warms one up
 * and rejoins reporting it; then the partition moves, to a warm owner.
 */
describe('load moves wait for a warm copy', () => {
  /** The group with loads for owned partitions and the warm copies each member reports (not of its own). */
  function warmMembers(owned: Owned, weights: readonly number[], warm: Record<string, Set<number>>) {
    return subscriptions(T, owned, 5, (memberId, partitions) =>
      memberData(
        memberId,
        undefined,
        new Map(partitions.map((p) => [`${T}:${p}`, weights[p]!])),
        new Map(
          [...(warm[memberId] ?? [])].filter((p) => !partitions.includes(p)).map((p) => [`${T}:${p}`, 1]),
        ),
      ),
    );
  }
  function warmRound(
    assign: ReturnType<typeof loadAwareAssignor>,
    count: number,
    owned: Owned,
    weights: readonly number[],
    warm: Record<string, Set<number>>,
  ): Owned {
    const metadata = { topics: new Map([[T, { partitionsCount: count }]]) } as unknown as ClusterMetadata;
    const out: Owned = Object.fromEntries(Object.keys(owned).map((id) => [id, [] as number[]]));
    for (const m of assign('x', warmMembers(owned, weights, warm), new Set([T]), metadata))
      out[m.memberId] = [...(m.assignments.get(T)?.partitions ?? [])];
    return out;
  }
  const weights = [1, 1, 30, 30, 1, 1];

  it('a hot partition stays with its owner until the receiver reports a copy, then moves to it', () => {
    const pending = new Map<string, number>();
    const assign = loadAwareAssignor(BALANCE_DEFAULTS, new Map(), undefined, undefined, {
      timeoutMs: 60_000,
      pending,
    });
    const start: Owned = { a: [0, 1], b: [2, 3], c: [4, 5] };
    // b is hot; a (the lightest, first by name) keeps no copy of b's partitions, c does.
    const warm: Record<string, Set<number>> = { a: new Set([4, 5]), b: new Set([0, 1]), c: new Set([2, 3]) };
    const planned = plannedMovesTo(BALANCE_DEFAULTS, warmMembers(start, weights, warm), T, 6, 'a');
    assert.equal(planned.length, 1, `one hot partition planned for a: ${planned}`);
    const x = planned[0]!;
    assert.ok(x === 2 || x === 3);
    assert.deepEqual(plannedMovesTo(BALANCE_DEFAULTS, warmMembers(start, weights, warm), T, 6, 'c'), []);
    // Without warm-up it is given up at once.
    const cold = warmRound(loadAwareAssignor(BALANCE_DEFAULTS), 6, start, weights, warm);
    assert.equal(cold['b']!.length, 1);
    // With it: nothing moves while a has no copy, and the leader holds the move.
    const held = warmRound(assign, 6, start, weights, warm);
    assert.deepEqual(held, start);
    assert.deepEqual([...pending.keys()], [`${T}:${x}>a`]);
    // a warms x up and rejoins: b gives x up, and the next round gives it to a.
    warm['a']!.add(x);
    const released = warmRound(assign, 6, held, weights, warm);
    assert.deepEqual(
      released['b'],
      [2, 3].filter((p) => p !== x),
    );
    assert.equal(pending.size, 0, 'no move held any longer');
    const given = warmRound(assign, 6, released, weights, warm);
    assert.deepEqual(given['a'], [0, 1, x]);
  });

  it('a receiver that does not warm up gets the move anyway once warmupTimeoutMs has passed', () => {
    const pending = new Map<string, number>();
    const assign = loadAwareAssignor(BALANCE_DEFAULTS, new Map(), undefined, undefined, {
      timeoutMs: 60_000,
      pending,
    });
    const start: Owned = { a: [0, 1], b: [2, 3], c: [4, 5] };
    assert.deepEqual(warmRound(assign, 6, start, weights, {}), start);
    const [move] = [...pending.keys()];
    pending.set(move!, Date.now() - 60_000);
    assert.equal(warmRound(assign, 6, start, weights, {})['b']!.length, 1, 'moved cold after the timeout');
  });

  it('receivers that warm what plannedMovesTo names settle as without warm-up, every moved partition to a member with its copy', () => {
    fc.assert(
      fc.property(GROUP, ({ count, n, owners, weights: w }) => {
        const { ids, start } = group(count, n, owners);
        const seed = JSON.stringify({ count, n, owners, weights: w });
        const pending = new Map<string, number>();
        // The leader remembers every partition's load, the receivers know only what the members report.
        const remembered = new Map(w.slice(0, count).map((x, p) => [`${T}:${p}`, x] as const));
        const assign = loadAwareAssignor(BALANCE_DEFAULTS, remembered, undefined, undefined, {
          timeoutMs: Number.POSITIVE_INFINITY,
          pending,
        });
        const warm: Record<string, Set<number>> = Object.fromEntries(
          ids.map((id) => [id, new Set<number>()]),
        );
        let owned = start;
        let rounds = 0;
        const moved = new Map<number, number>();
        for (; rounds < 16; rounds++) {
          const next = warmRound(assign, count, owned, w, warm);
          for (const [id, ps] of Object.entries(next))
            for (const p of ps) {
              const prev = Object.entries(owned).find(([, q]) => q.includes(p))?.[0];
              assert.ok(
                prev === undefined || prev === id,
                `partition ${p} went ${prev} → ${id} in one round: ${seed}`,
              );
              const before = Object.entries(start).find(([, q]) => q.includes(p))?.[0];
              if (prev === undefined && before !== undefined && before !== id) {
                assert.ok(
                  warm[id]!.has(p),
                  `partition ${p} moved ${before} → ${id} without a warm copy: ${seed}`,
                );
                moved.set(p, (moved.get(p) ?? 0) + 1);
              }
            }
          // Each member warms up what the plan holds back for it, as its standbys would.
          const view = warmMembers(next, w, warm);
          let warmed = false;
          for (const id of ids)
            for (const p of plannedMovesTo(BALANCE_DEFAULTS, view, T, count, id))
              if (!warm[id]!.has(p)) {
                warm[id]!.add(p);
                warmed = true;
              }
          if (JSON.stringify(next) === JSON.stringify(owned) && !warmed) break;
          owned = next;
        }
        assert.ok(rounds < 16, `settles: ${seed}`);
        assert.equal(pending.size, 0, `no move held at the end: ${[...pending.keys()]} ${seed}`);
        assert.equal(Object.values(owned).flat().length, count, `every partition assigned: ${seed}`);
        for (const [p, times] of moved)
          assert.equal(times, 1, `partition ${p} moved ${times} times: ${seed}`);
        settledBalance(ids, owned, w, seed);
      }),
      {
        numRuns: 1000,
        examples: [
          // An idle member's partition by the "everyone runs one" rule was given cold.
          [
            {
              count: 3,
              n: 2,
              owners: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
              weights: [0, 0, 79, 0, 0, 0, 0, 0, 0, 0],
            },
          ],
          // Two givers each planned a partition for the same idle receiver, which then had to give
          // one of them on: partition 4 moved twice (CI, seed 399416070).
          [
            {
              count: 6,
              n: 4,
              owners: [0, 3, 3, 0, 2, 2, 0, 0, 0, 0],
              weights: [435, 478, 477, 7, 424, 531, 0, 0, 0, 0],
            },
          ],
          // Two released partitions of equal load went to each other's receiver, cold.
          [
            {
              count: 7,
              n: 4,
              owners: [1, 2, 0, 3, 2, 0, 0, 0, 0, 0],
              weights: [26, 709, 327, 327, 659, 382, 659, 0, 0, 0],
            },
          ],
        ],
      },
    );
  });
});
