/**
 * The partition owners and group assignor of a `kafkaSource` read by every
 * subtask (connectors/kafka/subtasks.ts), without a broker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterMetadata, ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import {
  partitionOwner,
  readSubtaskData,
  subtaskAssignor,
  subtaskData,
} from '../../../src/connectors/kafka/subtasks.ts';

const metadata = (topics: Record<string, number>) =>
  ({
    topics: new Map(Object.entries(topics).map(([t, n]) => [t, { partitionsCount: n }])),
  }) as unknown as ClusterMetadata;

const member = (
  id: string,
  data: Buffer | string,
  topics: string[],
): [string, ExtendedGroupProtocolSubscription] => [
  id,
  { memberId: id, version: 1, metadata: data, topics } as ExtendedGroupProtocolSubscription,
];

/** member id → "topic:partition" list, sorted. */
function assigned(
  members: [string, ExtendedGroupProtocolSubscription][],
  topics: Record<string, number>,
): Map<string, string[]> {
  const out = subtaskAssignor('', new Map(members), new Set(Object.keys(topics)), metadata(topics));
  return new Map(
    out.map((m) => [
      m.memberId,
      [...m.assignments.values()].flatMap((a) => a.partitions.map((p) => `${a.topic}:${p}`)).sort(),
    ]),
  );
}

describe('kafkaSource subtasks', () => {
  it('every partition has one owner; a topic’s partitions go round the subtasks', () => {
    for (const n of [1, 2, 3, 5])
      for (const topic of ['a', 'orders', 'bids-2026'])
        for (let p = 0; p < 12; p++) {
          const o = partitionOwner(topic, p, n);
          assert.ok(o >= 0 && o < n);
          assert.equal(partitionOwner(topic, p + n, n), o, 'period n');
          assert.equal(
            partitionOwner(topic, p + 1, n),
            (o + 1) % n,
            'consecutive partitions, consecutive subtasks',
          );
        }
    // Several single-partition topics do not all land on subtask 0.
    const firsts = new Set(Array.from({ length: 20 }, (_, i) => partitionOwner(`topic-${i}`, 0, 4)));
    assert.ok(firsts.size > 1);
  });

  it('reads back what a member says, and nothing else', () => {
    assert.deepEqual(readSubtaskData(subtaskData(2, 3)), { subtask: 2, parallelism: 3 });
    for (const bad of ['eddy-subtask 3/3', 'eddy-subtask 0/0', 'x', '', `eddy-subtask 1/2${' '.repeat(80)}`])
      assert.equal(readSubtaskData(Buffer.from(bad)), undefined, bad);
    assert.equal(readSubtaskData(undefined), undefined);
  });

  it('gives each member its subtask’s partitions, holds back those of a subtask not joined, and shares a subtask two members claim', () => {
    const topics = { t: 7, u: 2 };
    const owned = (s: number, n: number) =>
      Object.entries(topics)
        .flatMap(([t, c]) => Array.from({ length: c }, (_, p) => [t, p] as const))
        .filter(([t, p]) => partitionOwner(t, p, n) === s)
        .map(([t, p]) => `${t}:${p}`)
        .sort();
    const all = ['t', 'u'];
    const three = assigned(
      [
        member('m0', subtaskData(0, 3), all),
        member('m1', subtaskData(1, 3), all),
        member('m2', subtaskData(2, 3), all),
      ],
      topics,
    );
    for (let s = 0; s < 3; s++) assert.deepEqual(three.get(`m${s}`), owned(s, 3));
    // Subtask 1 not yet joined: its partitions wait for it; the others keep theirs.
    const partial = assigned(
      [member('m0', subtaskData(0, 3), all), member('m2', subtaskData(2, 3), all)],
      topics,
    );
    assert.deepEqual(partial.get('m0'), owned(0, 3));
    assert.deepEqual(partial.get('m2'), owned(2, 3));
    // Two processes with one subtask each and the same group: subtask 0's partitions dealt between them.
    const shared = assigned(
      [member('b', subtaskData(0, 1), all), member('a', subtaskData(0, 1), all)],
      topics,
    );
    assert.deepEqual([...shared.get('a')!, ...shared.get('b')!].sort(), owned(0, 1));
    assert.ok(Math.abs(shared.get('a')!.length - shared.get('b')!.length) <= 2);
    // A member that is not a subtask (foreign user data) gets nothing.
    const foreign = assigned(
      [member('m0', subtaskData(0, 1), all), member('x', Buffer.from('hello'), all)],
      topics,
    );
    assert.deepEqual(foreign.get('x'), []);
    assert.deepEqual(foreign.get('m0'), owned(0, 1));
  });
});
