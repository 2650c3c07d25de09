/**
 * The partition assignor of Kafka applications: cooperative and sticky, and
 * balanced per topic.
 *
 * Written here because the client's cooperative-sticky assignor (2.12) falls
 * short twice: it balances the count of partitions over all topics together,
 * so with the input topic and the repartition topic one process could end up
 * with all the input partitions (which only forward records) and none of the
 * key groups (which hold the state and do the work); and it only moves
 * partitions away from members above the ceiling, so 4 partitions over 3
 * members can stay 2 + 2 + 0 after the third joins (nobody is above 2).
 *
 * Per topic: a member keeps the partitions it owned in the last generation
 * (Kafka's rule for trusting claims: the highest generation wins, a claim two
 * members make for the same generation is trusted for neither) up to its
 * quota, where at most `partitions mod members` members get one more than
 * `floor(partitions / members)`; the rest go to the members furthest below
 * their quota, a member that keeps a warm standby copy of it first
 * (`standby.ts`). Cooperative rule: a partition taken from one member is not
 * given to another in the same round; the loser gives it up and rejoins, and
 * the next round hands it over. A member that says it is warming up
 * (`MemberData.warming`: a new instance reading the state of the partitions
 * it will get, `standbys.ts`) is left out until it has, unless every member
 * is.
 */
import type {
  ExtendedGroupProtocolSubscription,
  GroupAssignment,
  GroupPartitionsAssigner,
  GroupPartitionsAssignments,
} from '@platformatic/kafka';
import { assignByLoad, type BalanceOptions } from './load-balance.ts';
import { readMemberData } from './members.ts';

export const perTopicCooperativeSticky: GroupPartitionsAssigner = (current, members, topics, metadata) =>
  loadAwareAssignor(undefined)(current, members, topics, metadata);

/**
 * The assignor with load balancing (`load-balance.ts`): when `balance` is
 * given and members reported loads (their subscription's user data), a
 * topic's partitions are assigned by load; otherwise by count, as
 * `perTopicCooperativeSticky`. `remembered` keeps the last load reported for
 * each partition (`topic:partition`), so a partition handed over between two
 * rounds keeps its weight; `onAssign` is told each time this process assigns
 * (it is the group's leader).
 */
export function loadAwareAssignor(
  balance: BalanceOptions | undefined,
  remembered: Map<string, number> = new Map(),
  onAssign?: (members: number) => void,
  /** A member to treat as warmed up whatever its user data says (an instance asking what it would get). */
  asIfWarm?: string,
  /**
   * Warm-up before a load move (KIP-441): a partition the load rule moves
   * to a member without a warm copy of it stays where it is while that
   * member warms one up, at most `timeoutMs` from the first round that
   * planned the move (`pending`: `topic:partition>member` → when, kept
   * between rounds); then it moves cold.
   */
  warmup?: { readonly timeoutMs: number; readonly pending: Map<string, number> },
): GroupPartitionsAssigner {
  /** Per topic, the receiver each partition taken was planned for (`assignByLoad`'s `planned`). */
  const receivers = new Map<string, Map<number, string>>();
  return (_current, members, topics, metadata) => {
    onAssign?.(members.size);
    const now = Date.now();
    const planned = new Set<string>();
    if (balance !== undefined)
      for (const m of members.values())
        for (const [split, load] of readMemberData(m.metadata).load ?? []) remembered.set(split, load);
    // Members warming up their copies take nothing yet, unless nobody else could.
    const warming = new Set(
      [...members]
        .filter(([id, m]) => id !== asIfWarm && readMemberData(m.metadata).warming === true)
        .map(([id]) => id),
    );
    const out = new Map<string, Map<string, GroupAssignment>>();
    for (const id of members.keys()) out.set(id, new Map());
    for (const topic of [...topics].sort()) {
      const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
      const subscribed = [...members.keys()].filter((id) => members.get(id)!.topics?.includes(topic)).sort();
      const ready = subscribed.filter((id) => !warming.has(id));
      const eligible = ready.length > 0 ? ready : subscribed;
      if (count === 0 || eligible.length === 0) continue;
      let weighed = false;
      for (let p = 0; p < count && !weighed; p++) weighed = remembered.has(`${topic}:${p}`);
      const assigned =
        balance !== undefined && weighed
          ? (() => {
              const { owner, claimed } = trustedOwners(topic, count, eligible, members);
              const warm = warmCopies(topic, eligible, members);
              return assignByLoad(
                count,
                eligible,
                owner,
                claimed,
                (p) => remembered.get(`${topic}:${p}`),
                balance,
                (p) => warm.get(p) ?? [],
                warmup === undefined
                  ? undefined
                  : (p, to) => {
                      const move = `${topic}:${p}>${to}`;
                      planned.add(move);
                      const since = warmup.pending.get(move) ?? now;
                      warmup.pending.set(move, since);
                      return now - since < warmup.timeoutMs;
                    },
                warmup === undefined
                  ? undefined
                  : (receivers.get(topic) ?? receivers.set(topic, new Map()).get(topic)),
              );
            })()
          : assignTopic(topic, count, eligible, members);
      for (const [id, partitions] of assigned)
        if (partitions.length > 0) out.get(id)!.set(topic, { topic, partitions });
    }
    // A move no longer planned starts its wait again if it comes back.
    if (warmup !== undefined)
      for (const move of warmup.pending.keys()) if (!planned.has(move)) warmup.pending.delete(move);
    return [...out].map(([memberId, assignments]): GroupPartitionsAssignments => ({ memberId, assignments }));
  };
}

/**
 * The trusted previous owner of each partition of `topic` (the highest
 * generation's claim, if only one member makes it), and every partition
 * someone claims.
 */
function trustedOwners(
  topic: string,
  count: number,
  eligible: readonly string[],
  members: ReadonlyMap<string, ExtendedGroupProtocolSubscription>,
): { owner: Map<number, string>; claimed: Set<number> } {
  // Trusted previous owners: the highest generation's claim, if only one member makes it.
  const claims = new Map<number, { id: string; generation: number }[]>();
  // A member behind the group's latest generation may have been replaced: its claims do not count.
  const latest = Math.max(-1, ...eligible.map((id) => members.get(id)!.generationId ?? -1));
  for (const id of eligible) {
    const m = members.get(id)!;
    const generation = m.generationId ?? -1;
    if (latest >= 0 && generation < latest) continue;
    for (const owned of m.ownedPartitions ?? []) {
      if (owned.topic !== topic) continue;
      for (const p of owned.partitions) {
        if (p < 0 || p >= count) continue;
        if (!claims.has(p)) claims.set(p, []);
        claims.get(p)!.push({ id, generation });
      }
    }
  }
  const owner = new Map<number, string>();
  const claimed = new Set<number>();
  for (const [p, list] of claims) {
    claimed.add(p);
    const top = Math.max(...list.map((c) => c.generation));
    const best = list.filter((c) => c.generation === top);
    if (best.length === 1) owner.set(p, best[0]!.id);
  }
  return { owner, claimed };
}

/** Per partition of `topic`, the members that keep a warm standby copy of it and how far each has read. */
function warmCopies(
  topic: string,
  eligible: readonly string[],
  members: ReadonlyMap<string, ExtendedGroupProtocolSubscription>,
): Map<number, [string, number][]> {
  const out = new Map<number, [string, number][]>();
  const prefix = `${topic}:`;
  for (const id of eligible)
    for (const [split, offset] of readMemberData(members.get(id)!.metadata).warm ?? []) {
      if (!split.startsWith(prefix)) continue;
      const p = Number(split.slice(prefix.length));
      if (!Number.isInteger(p) || p < 0) continue;
      if (!out.has(p)) out.set(p, []);
      out.get(p)!.push([id, offset]);
    }
  return out;
}

/** One topic's assignment by count: member → partitions. Exported for tests. */
export function assignTopic(
  topic: string,
  count: number,
  eligible: readonly string[],
  members: ReadonlyMap<string, ExtendedGroupProtocolSubscription>,
): Map<string, number[]> {
  const { owner, claimed } = trustedOwners(topic, count, eligible, members);
  const base = Math.floor(count / eligible.length);
  let extra = count % eligible.length;
  const result = new Map<string, number[]>(eligible.map((id) => [id, []]));
  // Keep owned partitions up to the quota; members owning more keep the extra slots first.
  const owned = new Map<string, number[]>(eligible.map((id) => [id, []]));
  for (const [p, id] of owner) owned.get(id)!.push(p);
  const byOwned = [...eligible].sort(
    (a, b) => owned.get(b)!.length - owned.get(a)!.length || (a < b ? -1 : 1),
  );
  const quota = new Map<string, number>();
  for (const id of byOwned) {
    const mine = owned.get(id)!.sort((a, b) => a - b);
    let q = base;
    if (extra > 0 && mine.length > base) {
      q = base + 1;
      extra--;
    }
    quota.set(id, q);
    result.get(id)!.push(...mine.slice(0, q));
  }
  const taken = new Set([...result.values()].flat());
  const warm = warmCopies(topic, eligible, members);
  // Members that did not get an extra slot for what they owned may still get one for free
  // partitions: first those keeping warm copies of the most free partitions.
  const warmFree = (id: string) => {
    let n = 0;
    for (const [p, copies] of warm) if (!taken.has(p) && copies.some(([m]) => m === id)) n++;
    return n;
  };
  const byWarm = [...byOwned].sort((a, b) => warmFree(b) - warmFree(a));
  for (const id of byWarm) {
    if (extra === 0) break;
    if (quota.get(id) === base) {
      quota.set(id, base + 1);
      extra--;
    }
  }
  // Free partitions go to a member with room that keeps a warm copy (the furthest read), else to
  // the members furthest below their quota.
  for (let p = 0; p < count; p++) {
    if (taken.has(p)) continue;
    let pick: string | undefined;
    let room = 0;
    let read = -1;
    for (const [id, offset] of warm.get(p) ?? [])
      if (quota.get(id)! > result.get(id)!.length && offset > read) {
        read = offset;
        pick = id;
      }
    if (pick === undefined)
      for (const id of eligible) {
        const r = quota.get(id)! - result.get(id)!.length;
        if (r > room) {
          room = r;
          pick = id;
        }
      }
    if (pick === undefined) break;
    // Cooperative: a partition someone else claims (it is giving it up now) moves next round.
    if (claimed.has(p) && owner.get(p) !== pick) continue;
    result.get(pick)!.push(p);
  }
  for (const partitions of result.values()) partitions.sort((a, b) => a - b);
  return result;
}

/**
 * The partitions of `topic` the group's load rule would move to member
 * `self` of `members` (as the group describes itself: DescribeGroups) but
 * holds back because `self` keeps no warm copy of them: what a running
 * instance warms up before a load move hands them over (`standbys.ts`).
 * The leader's rule run on the loads the members report (the leader may
 * remember more, for partitions between owners). Empty without load
 * balancing.
 */
export function plannedMovesTo(
  balance: BalanceOptions | undefined,
  members: ReadonlyMap<string, ExtendedGroupProtocolSubscription>,
  topic: string,
  count: number,
  self: string,
): number[] {
  if (balance === undefined || !members.has(self)) return [];
  const metadata = {
    topics: new Map([[topic, { partitionsCount: count }]]),
  } as unknown as Parameters<GroupPartitionsAssigner>[3];
  // The leader's own round, every cold move held back: the ones held for `self` are its to warm up.
  const pending = new Map<string, number>();
  loadAwareAssignor(balance, new Map(), undefined, undefined, {
    timeoutMs: Number.POSITIVE_INFINITY,
    pending,
  })(undefined as never, new Map(members), new Set([topic]), metadata);
  const out: number[] = [];
  for (const move of pending.keys()) {
    const [split, to] = [move.slice(0, move.lastIndexOf('>')), move.slice(move.lastIndexOf('>') + 1)];
    if (to === self && split.startsWith(`${topic}:`)) out.push(Number(split.slice(topic.length + 1)));
  }
  return out.sort((a, b) => a - b);
}

/**
 * What the group's assignor would give member `self` of `members` for
 * `topic` after `rounds` rebalances in a row (a partition moves in two:
 * its owner gives it up, then it is given), as if `self` had warmed up: what
 * a joining instance warms up before it asks for partitions (`standbys.ts`).
 * Loads are those the members report; the leader may remember more.
 */
export function wouldAssign(
  balance: BalanceOptions | undefined,
  members: ReadonlyMap<string, ExtendedGroupProtocolSubscription>,
  topic: string,
  count: number,
  self: string,
  rounds = 2,
): number[] {
  const metadata = {
    topics: new Map([[topic, { partitionsCount: count }]]),
  } as unknown as Parameters<GroupPartitionsAssigner>[3];
  let current = new Map(members);
  for (let r = 0; r < rounds; r++) {
    const out = loadAwareAssignor(balance, new Map(), undefined, self)(
      undefined as never,
      current,
      new Set([topic]),
      metadata,
    );
    const generation = Math.max(0, ...[...current.values()].map((m) => m.generationId ?? 0)) + 1;
    const next = new Map<string, ExtendedGroupProtocolSubscription>();
    for (const [id, m] of current) {
      const partitions = out.find((o) => o.memberId === id)?.assignments.get(topic)?.partitions ?? [];
      next.set(id, {
        ...m,
        ownedPartitions: partitions.length > 0 ? [{ topic, partitions: [...partitions] }] : [],
        generationId: generation,
      } as ExtendedGroupProtocolSubscription);
    }
    current = next;
  }
  const mine = current.get(self)?.ownedPartitions?.find((o) => o.topic === topic)?.partitions ?? [];
  return [...mine].sort((a, b) => a - b);
}
