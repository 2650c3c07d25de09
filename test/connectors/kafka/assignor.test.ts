/**
 * kafkaApp's assignor: sticky, cooperative (a partition moves in two rounds),
 * and balanced per topic — including the case the client's assignor leaves
 * at 2 + 2 + 0 when a third member joins two that share 4 partitions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import fc from 'fast-check';

import { assignTopic } from '../../../src/connectors/kafka/assignor.ts';
import { group } from './group.ts';

const T = 't';
type Owned = Record<string, number[]>;

function members(owned: Owned, generation = 5): Map<string, ExtendedGroupProtocolSubscription> {
  return group(T, owned, generation);
}

/** Rounds of the cooperative protocol until nothing changes: each member owns what it was given. */
function settle(count: number, start: Owned): { rounds: Owned[]; final: Owned } {
  const rounds: Owned[] = [];
  let owned = start;
  for (let r = 0; r < 5; r++) {
    const ids = Object.keys(owned).sort();
    const next = Object.fromEntries(assignTopic(T, count, ids, members(owned)));
    rounds.push(next);
    if (JSON.stringify(next) === JSON.stringify(owned)) break;
    owned = next;
  }
  return { rounds, final: owned };
}

describe('kafkaApp assignor (per topic, cooperative, sticky)', () => {
  it('moves a partition to a third member that joins two with 2 + 2 (in two rounds)', () => {
    const first = Object.fromEntries(
      assignTopic(T, 4, ['a', 'b', 'c'], members({ a: [0, 1], b: [2, 3], c: [] })),
    );
    // Round 1: someone gives one up, nobody gets it yet.
    assert.equal(first['c']!.length, 0);
    assert.equal(first['a']!.length + first['b']!.length, 3);
    const second = Object.fromEntries(assignTopic(T, 4, ['a', 'b', 'c'], members(first)));
    assert.deepEqual(
      Object.values(second)
        .map((p) => p.length)
        .sort(),
      [1, 1, 2],
    );
    for (const id of ['a', 'b']) for (const p of first[id]!) assert.ok(second[id]!.includes(p), 'kept');
  });

  it('always converges to a balanced, complete assignment without moving kept partitions twice', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 12 }),
        (count, n, owners) => {
          const ids = Array.from({ length: n }, (_, i) => `m${i}`);
          // A valid previous assignment: each partition owned by at most one member.
          const start: Owned = Object.fromEntries(ids.map((id) => [id, [] as number[]]));
          owners.slice(0, count).forEach((o, p) => {
            if (o < n) start[`m${o}`]!.push(p);
          });
          const { rounds, final } = settle(count, start);
          let before = start;
          for (const r of rounds) {
            const all = Object.values(r).flat();
            assert.equal(new Set(all).size, all.length, 'no partition twice');
            // Cooperative: a partition changes owner only through a round where nobody has it.
            for (const [id, ps] of Object.entries(r))
              for (const p of ps) {
                const prev = Object.entries(before).find(([, q]) => q.includes(p))?.[0];
                assert.ok(
                  prev === undefined || prev === id,
                  `partition ${p} went ${prev} → ${id} in one round`,
                );
              }
            before = r;
          }
          const sizes = Object.values(final).map((p) => p.length);
          assert.equal(
            sizes.reduce((a, b) => a + b, 0),
            count,
            'every partition assigned',
          );
          assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes}`);
          assert.ok(rounds.length <= 3, `settles in two rounds (and one to see it): ${rounds.length}`);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
