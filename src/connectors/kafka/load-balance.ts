/**
 * Load-aware assignment of a Kafka application's partitions (issue 18): the
 * assignor weighs each partition by the load its owner measured (records per
 * second arriving, plus its backlog to drain within a minute), instead of
 * counting partitions, and keeps moves few and sticky.
 *
 * One topic at a time, given the trusted previous owners:
 * 1. every member keeps what it owned (no count quota: one hot partition may
 *    be a member's whole share);
 * 2. free partitions go, heaviest first, to the least-loaded member;
 * 3. while the heaviest member carries more than `1 + threshold` times the
 *    mean load, its partition whose move evens the heaviest and the lightest
 *    member best is taken from it — only when that lowers the heaviest load
 *    by a clear margin (hysteresis: loads that are nearly even never move),
 *    and at most `maxMoves` per round. Cooperative: a taken partition goes to
 *    nobody this round; its owner gives it up and rejoins, and in the next
 *    round it is free, so step 2 gives it to the least-loaded member.
 *
 * 4. with at least as many partitions as members, every member runs one:
 *    a member left without (a newcomer beside a partition that outweighs all
 *    the others together) gets the lightest partition of the member with the
 *    most, in two rounds as above.
 *
 * Loads are whatever the members reported when they joined (`members.ts`);
 * a partition no one reported is weighed at the mean of the known ones.
 * Every partition weighs at least 1, so an idle application is balanced by
 * count, as before.
 */
import { configError } from '../../errors/index.ts';

/** What a balancing round may do. */
export interface BalanceOptions {
  /** Imbalance tolerated: the heaviest member may carry up to (1 + threshold) × the mean. */
  readonly threshold: number;
  /** The most partitions taken from their owners in one round. */
  readonly maxMoves: number;
}

export const BALANCE_DEFAULTS: BalanceOptions = Object.freeze({ threshold: 0.2, maxMoves: 2 });

/** The probing interval unless told otherwise (ms). */
export const PROBE_INTERVAL_MS = 300_000;

/** `KafkaAppOptions.loadBalance`, checked: undefined when off. */
export function checkLoadBalance(
  o: false | { threshold?: number; maxMoves?: number; probeIntervalMs?: number } | undefined,
): (BalanceOptions & { probeIntervalMs: number }) | undefined {
  if (o === false) return undefined;
  if (o !== undefined && (o === null || typeof o !== 'object'))
    throw configError(
      'loadBalance must be false or an object',
      o,
      'pass loadBalance: { probeIntervalMs: 60000 } or false',
    );
  const threshold = o?.threshold ?? BALANCE_DEFAULTS.threshold;
  const maxMoves = o?.maxMoves ?? BALANCE_DEFAULTS.maxMoves;
  const probeIntervalMs = o?.probeIntervalMs ?? PROBE_INTERVAL_MS;
  if (typeof threshold !== 'number' || !(threshold >= 0.05 && threshold <= 10))
    throw configError(
      'loadBalance.threshold must be a number from 0.05 to 10',
      threshold,
      'pass e.g. 0.2 (20 % above the mean)',
    );
  if (!Number.isInteger(maxMoves) || maxMoves < 1)
    throw configError('loadBalance.maxMoves must be a whole number ≥ 1', maxMoves, 'pass e.g. 2');
  if (!Number.isInteger(probeIntervalMs) || (probeIntervalMs !== 0 && probeIntervalMs < 1000))
    throw configError(
      'loadBalance.probeIntervalMs must be 0 (no probing) or a whole number ≥ 1000',
      probeIntervalMs,
      'pass e.g. 300000',
    );
  return { threshold, maxMoves, probeIntervalMs };
}

/**
 * One topic's assignment by load: member → partitions. `owner`: the trusted
 * previous owner of each partition; `claimed`: partitions someone claimed
 * (an untrusted claim is given to nobody this round); `weight`: each
 * partition's load, or undefined when unknown; `warm`: the members that keep
 * a warm standby copy of a partition and how far each read (`standby.ts`) —
 * a free partition goes to the furthest read of them that stays within
 * `1 + threshold` of the mean load with it (or no heavier than the
 * least-loaded member would be with it), else to the least-loaded member;
 * and of the moves that clearly help, one of a partition the receiver keeps
 * a copy of is made first. `waits`: whether a move to a receiver without a
 * copy waits while the receiver warms one up (warm-up before hand-over,
 * KIP-441): such a move is planned (the rest of the round counts it done)
 * but its partition stays with its owner; the receiver, which works out the
 * same plan (`assignor.ts` `plannedMovesTo`), reads the partition's
 * changelog and rejoins, and the round then moves it warm.
 */
export function assignByLoad(
  count: number,
  eligible: readonly string[],
  owner: ReadonlyMap<number, string>,
  claimed: ReadonlySet<number>,
  weight: (partition: number) => number | undefined,
  o: BalanceOptions = BALANCE_DEFAULTS,
  warm: (partition: number) => readonly (readonly [string, number])[] = () => [],
  waits?: (partition: number, receiver: string) => boolean,
  /**
   * With `waits`: the receiver each partition taken in a round was planned
   * for (in and out, kept between rounds): a free partition goes to its
   * planned receiver when that one keeps a warm copy of it, as the round
   * that took it counted on (heaviest first to the lightest could give it
   * to another member cold, and the copy warmed up for it would be lost).
   */
  planned?: Map<number, string>,
): Map<string, number[]> {
  const known: number[] = [];
  for (let p = 0; p < count; p++) {
    const w = weight(p);
    if (w !== undefined && Number.isFinite(w) && w >= 0) known.push(w);
  }
  const fallback = known.length === 0 ? 1 : known.reduce((a, b) => a + b, 0) / known.length;
  const w = (p: number) => {
    const x = weight(p);
    return Math.max(1, x !== undefined && Number.isFinite(x) && x >= 0 ? x : fallback);
  };
  const result = new Map<string, number[]>(eligible.map((id) => [id, []]));
  const load = new Map<string, number>(eligible.map((id) => [id, 0]));
  const eligibleSet = new Set(eligible);
  const kept = new Set<number>();
  for (const [p, id] of owner) {
    if (p < 0 || p >= count || !eligibleSet.has(id)) continue;
    kept.add(p);
    result.get(id)!.push(p);
    load.set(id, load.get(id)! + w(p));
  }
  const lightest = () =>
    [...eligible].sort(
      (a, b) =>
        load.get(a)! - load.get(b)! || result.get(a)!.length - result.get(b)!.length || (a < b ? -1 : 1),
    )[0]!;
  // Free partitions, heaviest first, to the least-loaded member.
  // A partition claimed without a trusted owner (two claims, or one being given up) waits a round.
  const free: number[] = [];
  for (let p = 0; p < count; p++) if (!kept.has(p) && !claimed.has(p)) free.push(p);
  free.sort((a, b) => w(b) - w(a) || a - b);
  let all = 0;
  for (let p = 0; p < count; p++) all += w(p);
  const ceiling = (all / eligible.length) * (1 + o.threshold);
  for (const [p] of planned ?? []) if (kept.has(p)) planned!.delete(p);
  for (const p of free) {
    let id = lightest();
    // A warm member may take it if it ends no heavier than the mean allows, or than the lightest would.
    const bound = Math.max(ceiling, load.get(id)! + w(p));
    let read = -1;
    for (const [member, offset] of warm(p))
      if (eligibleSet.has(member) && offset > read && load.get(member)! + w(p) <= bound) {
        read = offset;
        id = member;
      }
    const intended = planned?.get(p);
    planned?.delete(p);
    if (intended !== undefined && eligibleSet.has(intended) && warm(p).some(([m]) => m === intended))
      id = intended;
    result.get(id)!.push(p);
    load.set(id, load.get(id)! + w(p));
  }
  // Moves from the heaviest member while the imbalance is beyond the threshold.
  const total = [...load.values()].reduce((a, b) => a + b, 0);
  const mean = total / eligible.length;
  // With at least as many partitions as members, nobody is left without one (see below).
  const everyone = count >= eligible.length;
  /** Members a partition taken this round is meant for: they get it next round. */
  const receiving = new Set<string>();
  /** Moves planned this round whose receiver is warming up a copy first: the partition stays. */
  const deferred = new Set<number>();
  /** Partitions planned for each receiver this round (moved next round, or once it is warm). */
  const incoming = new Map<string, number[]>();
  for (let moves = 0; moves < o.maxMoves && eligible.length > 1; moves++) {
    // A member whose load counts a partition planned for it gives nothing up for that load: it does
    // not hold the partition yet, and moving one of its own would chain moves that come back.
    const heaviest = [...eligible]
      .filter((id) => !receiving.has(id))
      .sort((a, b) => load.get(b)! - load.get(a)! || (a < b ? -1 : 1))[0];
    if (heaviest === undefined) break;
    const high = load.get(heaviest)!;
    if (high <= mean * (1 + o.threshold)) break;
    const to = lightest();
    const low = load.get(to)!;
    let best: number | undefined;
    let bestMax = high;
    let bestWarm = false;
    if (everyone && result.get(heaviest)!.length < 2) break; // its only partition stays
    const ceilingNow = mean * (1 + o.threshold);
    /**
     * Whether moving `p` to `to` would leave `to` the heaviest, beyond the
     * threshold, with a partition of its own whose move would then clearly
     * help: the next round would take that one from it, possibly the very
     * partition it was given the round before (one partition moved twice;
     * found by the property test with a random seed in CI). Decided from the
     * loads alone, so a receiver working out the plan (`plannedMovesTo`)
     * comes to the same one.
     */
    const chains = (p: number): boolean => {
      const received = low + w(p);
      if (received <= ceilingNow) return false;
      let lightAfter = Number.POSITIVE_INFINITY;
      for (const id of eligible) {
        if (id === to) continue;
        const l = id === heaviest ? high - w(p) : load.get(id)!;
        if (l >= received) return false;
        lightAfter = Math.min(lightAfter, l);
      }
      // Counting what is already planned for it this round: two givers could each send it one
      // (found by the property test: partition 4 moved m2 → m1 → m0, seed 399416070).
      for (const q of [...result.get(to)!, ...(incoming.get(to) ?? [])])
        if (Math.max(received - w(q), lightAfter + w(q)) <= received - 0.05 * mean) return true;
      return false;
    };
    for (const p of result.get(heaviest)!) {
      if (!kept.has(p) || deferred.has(p)) continue; // given or planned this round: it stays until the next
      if (chains(p)) continue;
      const after = Math.max(high - w(p), low + w(p));
      // A partition the receiver keeps a warm copy of goes first, among moves that clearly help.
      const isWarm = high - after >= 0.05 * mean && warm(p).some(([m]) => m === to);
      if ((isWarm && !bestWarm) || (isWarm === bestWarm && after < bestMax)) {
        bestMax = after;
        best = p;
        bestWarm = isWarm;
      }
    }
    // Hysteresis: a move must lower the heaviest load by a clear margin.
    if (best === undefined || high - bestMax < 0.05 * mean) break;
    if (!bestWarm && waits?.(best, to) === true) deferred.add(best);
    else {
      const mine = result.get(heaviest)!;
      mine.splice(mine.indexOf(best), 1);
      planned?.set(best, to);
    }
    load.set(heaviest, high - w(best));
    // Planned for the lightest member; handed over next round (cooperative).
    load.set(to, low + w(best));
    receiving.add(to);
    incoming.set(to, [...(incoming.get(to) ?? []), best]);
  }
  // Every member runs a partition when there are enough: an instance left idle because one hot
  // partition outweighs the rest (no load move helps) is wasted, and a newcomer would never start.
  // The lightest partition of the member with the most goes; next round it lands on the idle one.
  if (everyone)
    for (const id of eligible) {
      if (result.get(id)!.length > 0 || receiving.has(id)) continue;
      const donor = [...eligible]
        .filter((x) => result.get(x)!.filter((p) => kept.has(p)).length >= 2)
        .sort((a, b) => result.get(b)!.length - result.get(a)!.length || (a < b ? -1 : 1))[0];
      if (donor === undefined) break;
      const mine = result.get(donor)!;
      // A partition the idle member keeps a warm copy of goes first, else the lightest.
      const warmHere = (p: number) => (warm(p).some(([m]) => m === id) ? 0 : 1);
      const give = mine
        .filter((p) => kept.has(p) && !deferred.has(p))
        .sort((a, b) => warmHere(a) - warmHere(b) || w(a) - w(b) || a - b)[0];
      if (give === undefined) break;
      // Without a copy there, it may wait while the idle member warms one up, as a load move does.
      if (warmHere(give) === 1 && waits?.(give, id) === true) deferred.add(give);
      else {
        mine.splice(mine.indexOf(give), 1);
        planned?.set(give, id);
      }
      load.set(donor, load.get(donor)! - w(give));
      receiving.add(id);
    }
  for (const partitions of result.values()) partitions.sort((a, b) => a - b);
  return result;
}

/**
 * Each partition's load as this process measures it for the partitions it
 * runs: the rate records arrive at (an exponentially weighted mean over about
 * ten seconds of its end offset's growth) plus its backlog ÷ 60 (the rate
 * that drains the lag within a minute). Arrival, not processing: a partition
 * with a backlog is processed as fast as its instance allows, which says
 * nothing of how much work it holds.
 */
export class PartitionLoads {
  readonly #rates = new Map<string, { at: number; offset: bigint; rate: number }>();

  /** Where each partition's end was and when it was asked (`split` → end offset, time); call it as ends come. */
  observe(ends: ReadonlyMap<string, { readonly offset: bigint; readonly at: number }>): void {
    for (const split of this.#rates.keys()) if (!ends.has(split)) this.#rates.delete(split);
    for (const [split, { offset, at }] of ends) {
      const last = this.#rates.get(split);
      if (last === undefined) {
        this.#rates.set(split, { at, offset, rate: 0 });
        continue;
      }
      const secs = (at - last.at) / 1000;
      if (secs < 0.5) continue;
      const instant = Math.max(0, Number(offset - last.offset)) / secs;
      // A partition's first rate is taken whole; then a ~10 s exponential mean.
      const alpha = last.rate === 0 ? 1 : Math.min(1, secs / 10);
      this.#rates.set(split, { at, offset, rate: last.rate + alpha * (instant - last.rate) });
    }
  }

  /** Each partition's load: its arrival rate plus its lag ÷ 60. */
  loads(lag: (split: string) => number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [split, r] of this.#rates) out.set(split, Math.round(r.rate + Math.max(0, lag(split)) / 60));
    return out;
  }
}
