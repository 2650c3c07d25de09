/**
 * Standby placement (issue 13, `standbyReplicas`): every partition has its
 * copies on the n instances after its owner in the ring of instances by
 * name, never on its owner, each instance about n × its share; and the
 * assignor gives a partition whose owner left to a member that reports a
 * warm copy of it, when that member has room under its share.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import fc from 'fast-check';
import { assignTopic, loadAwareAssignor, wouldAssign } from '../../../src/connectors/kafka/assignor.ts';
import { assignByLoad } from '../../../src/connectors/kafka/load-balance.ts';
import { memberData, readMemberData } from '../../../src/connectors/kafka/members.ts';
import { standbyPartitions } from '../../../src/connectors/kafka/standby.ts';
import type { AppInstance } from '../../../src/core/metrics.ts';
import { kafkaApp } from '../../../src/deploy/kafka/app.ts';
import { group } from './group.ts';

/** `count` instances named i0, i1, … with partitions dealt round-robin over `partitions`. */
function ring(count: number, partitions: number, local: number): AppInstance[] {
  return Array.from({ length: count }, (_, i) => ({
    instance: `i${i}`,
    partitions: Array.from({ length: partitions }, (_, p) => p).filter((p) => p % count === i),
    local: i === local,
  }));
}

describe('standby placement', () => {
  it('each partition is kept warm by exactly min(n, instances − 1) others, never its owner', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 0, max: 8 }),
        (count, partitions, n) => {
          const copies = new Map<number, number>();
          for (let self = 0; self < count; self++) {
            const here = standbyPartitions(ring(count, partitions, self), n);
            const own = new Set(ring(count, partitions, self)[self]!.partitions);
            for (const p of here) {
              assert.ok(!own.has(p), `instance ${self} keeps a copy of its own partition ${p}`);
              copies.set(p, (copies.get(p) ?? 0) + 1);
            }
            // About n × its share: at most n owners' partitions.
            assert.ok(here.length <= n * Math.ceil(partitions / count));
          }
          for (let p = 0; p < partitions; p++) {
            const owner = p % count;
            const expected = owner < count ? Math.min(n, count - 1) : 0;
            assert.equal(copies.get(p) ?? 0, expected, `partition ${p}`);
          }
        },
      ),
    );
  });

  it('the copies of an owner go to the instances after it, by name', () => {
    // i0 owns 0 and 3, i1 owns 1 and 4, i2 owns 2 and 5; one copy each: i1 keeps i0's, i2 i1's, i0 i2's.
    assert.deepEqual(standbyPartitions(ring(3, 6, 1), 1), [0, 3]);
    assert.deepEqual(standbyPartitions(ring(3, 6, 2), 1), [1, 4]);
    assert.deepEqual(standbyPartitions(ring(3, 6, 0), 1), [2, 5]);
    // Two copies with three instances: everyone else's.
    assert.deepEqual(standbyPartitions(ring(3, 6, 0), 2), [1, 2, 4, 5]);
    // Alone, or not listed (not joined yet): nothing.
    assert.deepEqual(standbyPartitions(ring(1, 6, 0), 1), []);
    assert.deepEqual(standbyPartitions(ring(3, 6, 5), 1), []);
  });

  it('standbyReplicas is a whole number from 0 to 16, not with warmStandby, else a clear error', () => {
    assert.doesNotThrow(() => kafkaApp({ applicationId: 'a', standbyReplicas: 2 }));
    for (const bad of [-1, 1.5, 17, '1', Number.NaN])
      assert.throws(
        () => kafkaApp({ applicationId: 'a', standbyReplicas: bad as number }),
        /kafkaApp option standbyReplicas must be .*pass e\.g\. \{ standbyReplicas: 1 \}/s,
      );
    assert.throws(
      () => kafkaApp({ applicationId: 'a', standbyReplicas: 1, warmStandby: true }),
      /warmStandby .* and standbyReplicas .* exclude each other/,
    );
  });
});

describe('warm copies in the group', () => {
  it('a member tells its warm copies; data from the brokers is checked', () => {
    const data = memberData('a', undefined, undefined, new Map([['t:2', 40]]));
    assert.deepEqual([...(readMemberData(data).warm ?? [])], [['t:2', 40]]);
    const hostile = Buffer.from(
      JSON.stringify({
        instance: 'x',
        warm: [['t:1', -5], ['t:2', 'far'], ['__proto__', 1], 'junk', ['t:3', 7]],
      }),
    );
    assert.deepEqual(
      [...(readMemberData(hostile).warm ?? [])],
      [
        ['__proto__', 1],
        ['t:3', 7],
      ],
    );
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  const T = 't';
  function members(
    owned: Record<string, number[]>,
    warm: Record<string, [number, number][]>,
  ): Map<string, ExtendedGroupProtocolSubscription> {
    return group(T, owned, 5, (memberId) =>
      memberData(
        memberId,
        undefined,
        undefined,
        new Map((warm[memberId] ?? []).map(([p, at]) => [`${T}:${p}`, at])),
      ),
    );
  }

  it("a gone owner's partitions go to the members with warm copies (furthest read first), within their share", () => {
    // c owned 4 and 5 and left; b keeps a copy of 4, a of 5 (and b a staler one of 5).
    const got = assignTopic(
      T,
      6,
      ['a', 'b'],
      members(
        { a: [0, 1], b: [2, 3] },
        {
          a: [[5, 90]],
          b: [
            [4, 70],
            [5, 10],
          ],
        },
      ),
    );
    assert.deepEqual(got.get('a'), [0, 1, 5]);
    assert.deepEqual(got.get('b'), [2, 3, 4]);
    // Without the copies the same round deals them by room alone: 4 to a, 5 to b.
    const cold = assignTopic(T, 6, ['a', 'b'], members({ a: [0, 1], b: [2, 3] }, {}));
    assert.deepEqual(cold.get('a'), [0, 1, 4]);
    assert.deepEqual(cold.get('b'), [2, 3, 5]);
  });

  it('an odd partition out goes to the member with its copy: the extra slot is given to it', () => {
    // Three partitions over two members: one gets two. c left; b keeps c's partition 2 warm.
    const got = assignTopic(T, 3, ['a', 'b'], members({ a: [0], b: [1] }, { b: [[2, 30]] }));
    assert.deepEqual(got.get('b'), [1, 2]);
    const cold = assignTopic(T, 3, ['a', 'b'], members({ a: [0], b: [1] }, {}));
    assert.deepEqual(cold.get('a'), [0, 2]);
  });

  it('a warm copy does not take a member past its share', () => {
    // b has copies of both free partitions but room for one; the other goes to a, cold.
    const got = assignTopic(
      T,
      6,
      ['a', 'b'],
      members(
        { a: [0, 1], b: [2, 3] },
        {
          b: [
            [4, 50],
            [5, 50],
          ],
        },
      ),
    );
    assert.equal(got.get('b')!.length, 3);
    assert.equal(got.get('a')!.length, 3);
    assert.ok(got.get('b')!.includes(4));
  });

  it('by load too: a free partition goes to a member with a warm copy unless that would overload it', () => {
    const owner = new Map([
      [0, 'a'],
      [1, 'a'],
      [2, 'b'],
      [3, 'b'],
    ]);
    const warm = (p: number): [string, number][] => (p === 4 ? [['b', 70]] : p === 5 ? [['a', 90]] : []);
    const even = assignByLoad(6, ['a', 'b'], owner, new Set(), () => 10, undefined, warm);
    assert.deepEqual(even.get('a'), [0, 1, 5]);
    assert.deepEqual(even.get('b'), [2, 3, 4]);
    const cold = assignByLoad(6, ['a', 'b'], owner, new Set(), () => 10);
    assert.deepEqual(cold.get('a'), [0, 1, 4]);
    assert.deepEqual(cold.get('b'), [2, 3, 5]);
    // Three equal partitions over two members: the warm one may take the odd one out.
    const odd = assignByLoad(
      3,
      ['a', 'b'],
      new Map([
        [0, 'a'],
        [1, 'b'],
      ]),
      new Set(),
      () => 10,
      undefined,
      (p) => (p === 2 ? [['b', 5]] : []),
    );
    assert.deepEqual(odd.get('b'), [1, 2]);
    // b is the heavier already and partition 4 outweighs the rest: with it b would carry far more
    // than the lightest would, so the lightest takes it, cold.
    const heavy = assignByLoad(
      6,
      ['a', 'b'],
      owner,
      new Set(),
      (p) => (p === 4 ? 100 : p === 2 || p === 3 ? 30 : 10),
      undefined,
      warm,
    );
    assert.ok(heavy.get('a')!.includes(4), JSON.stringify([...heavy]));
  });
});

describe('moves by load prefer warm copies', () => {
  it('of the moves that help as much, the one of a partition the receiver keeps warm is made', () => {
    const owner = new Map([
      [0, 'a'],
      [1, 'a'],
      [2, 'a'],
      [3, 'a'],
      [4, 'b'],
    ]);
    const cold = assignByLoad(5, ['a', 'b'], owner, new Set(), () => 10);
    assert.deepEqual(cold.get('a'), [1, 2, 3], 'without copies: the first that helps');
    const warm = assignByLoad(
      5,
      ['a', 'b'],
      owner,
      new Set(),
      () => 10,
      undefined,
      (p) => (p === 2 ? [['b', 40]] : []),
    );
    assert.deepEqual(warm.get('a'), [0, 1, 3], 'partition 2 is given up: b has it warm');
    assert.deepEqual(warm.get('b'), [4]);
  });
});

describe('warm-up before hand-over', () => {
  const T = 't';
  const meta = (count: number) =>
    ({ topics: new Map([[T, { partitionsCount: count }]]) }) as unknown as Parameters<
      ReturnType<typeof loadAwareAssignor>
    >[3];
  /** Members owning partitions, `warming` ones saying so in their user data. */
  function members(owned: Record<string, number[]>, warming: readonly string[] = [], generation = 5) {
    return group(T, owned, generation, (id) =>
      memberData(id, undefined, undefined, undefined, warming.includes(id)),
    );
  }
  const assign = (m: ReturnType<typeof members>, count: number) =>
    new Map(
      loadAwareAssignor(undefined)(undefined as never, m, new Set([T]), meta(count)).map((a) => [
        a.memberId,
        a.assignments.get(T)?.partitions ?? [],
      ]),
    );

  it('a member warming up takes nothing; everyone else keeps theirs', () => {
    const got = assign(members({ a: [0, 1, 2], b: [3, 4, 5], c: [] }, ['c']), 6);
    assert.deepEqual(got.get('a'), [0, 1, 2]);
    assert.deepEqual(got.get('b'), [3, 4, 5]);
    assert.deepEqual(got.get('c'), []);
  });

  it('when every member is warming up, they are assigned as usual', () => {
    const got = assign(members({ a: [], b: [] }, ['a', 'b']), 4);
    assert.equal(got.get('a')!.length + got.get('b')!.length, 4);
  });

  it('wouldAssign tells a warming member what it gets once warm: what two rounds then give it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 3 }), (count, owners) => {
        const ids = ['a', 'b', 'c'].slice(0, owners);
        const owned: Record<string, number[]> = Object.fromEntries(ids.map((id) => [id, [] as number[]]));
        for (let p = 0; p < count; p++) owned[ids[p % owners]!]!.push(p);
        owned['new'] = [];
        const predicted = wouldAssign(undefined, members(owned, ['new']), T, count, 'new');
        // The real thing: it stops warming up, and the group rebalances twice.
        let now = owned;
        for (let round = 0; round < 2; round++)
          now = Object.fromEntries(assign(members(now, [], 6 + round), count));
        assert.deepEqual(now['new'], predicted);
        assert.ok(predicted.length >= Math.floor(count / (owners + 1)) - 0, `${predicted} of ${count}`);
      }),
    );
  });
});
