/**
 * A Kafka application's warm standby copies and warm-ups (app.ts, KIP-441):
 * the copies this process keeps (standbys.ts), what it tells the group of
 * them, and the two warm-ups that ask the group what is coming — a process
 * joining a running application warms up the partitions the group would give
 * it before it takes any, and a process a load move will reach warms that
 * partition before the leader makes the move (assignor.ts holds it back).
 */
import { Admin, type ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import { plannedMovesTo, wouldAssign } from '../../connectors/kafka/assignor.ts';
import type { BalanceOptions } from '../../connectors/kafka/load-balance.ts';
import { describeSubscriptions } from '../../connectors/kafka/members.ts';
import type { AppInstance } from '../../core/metrics.ts';
import type { GroupMembership } from './membership.ts';
import { type StandbyOptions, Standbys } from './standbys.ts';

export interface WarmCopiesOptions {
  readonly applicationId: string;
  readonly instanceId: string;
  readonly brokers: string[];
  readonly changelogTopic: string;
  /** The copies asked for; undefined: none. */
  readonly standby: StandbyOptions | undefined;
  /** How long a warm-up may last (ms; 0: no warm-ups). */
  readonly warmupTimeoutMs: number;
  readonly balance: BalanceOptions | undefined;
  /** The topic whose partitions are the key groups, once known. */
  readonly keyed: () => string | undefined;
  /** The number of key groups, once known. */
  readonly partitions: () => number;
  readonly member: () => GroupMembership;
  readonly instances: () => Promise<AppInstance[]>;
  /** Whether the group's last assignment gives this process key group `partition`. */
  readonly assignedHere: (partition: number) => boolean;
}

export class WarmCopies {
  readonly #o: WarmCopiesOptions;
  /** As the group's leader: load moves held back while their receiver warms up (`loadAwareAssignor`). */
  readonly #pendingMoves = new Map<string, number>();
  /** The key-group partitions whose warm copies this process reported when it last joined. */
  #reported = new Set<number>();
  #standbys: Standbys | undefined;
  /** Whether this process is warming up (it says so in the group, and takes no partitions meanwhile). */
  #warming = false;

  constructor(o: WarmCopiesOptions) {
    this.#o = o;
  }

  /** The copies, while they run. */
  get standbys(): Standbys | undefined {
    return this.#standbys;
  }

  get warming(): boolean {
    return this.#warming;
  }

  /** Load moves the leader holds back now. */
  get movesHeld(): number {
    return this.#pendingMoves.size;
  }

  /** What the assignor needs to hold load moves back while copies warm (undefined: moves are made at once). */
  heldMoves(): { timeoutMs: number; pending: Map<string, number> } | undefined {
    return this.#o.standby !== undefined && this.#o.warmupTimeoutMs > 0
      ? { timeoutMs: this.#o.warmupTimeoutMs, pending: this.#pendingMoves }
      : undefined;
  }

  /**
   * Decides, before joining, whether this process warms up before it takes
   * partitions: it keeps standby copies, warm-up is on, and other instances
   * run the application already (a first start has nobody to take state
   * from, so it does not wait).
   */
  async decide(): Promise<void> {
    this.#warming = await this.#joinsRunningApp();
  }

  /** Starts keeping warm standby copies, if asked to (`standbys.ts`). */
  start(): void {
    const o = this.#o;
    if (o.standby === undefined) return;
    this.#standbys = new Standbys({
      options: o.standby,
      brokers: o.brokers,
      topic: o.changelogTopic,
      clientId: `${o.applicationId}-${o.instanceId}-standby`,
      partitions: o.partitions(),
      instances: o.instances,
      assignedHere: o.assignedHere,
    });
    this.#standbys.start(
      this.#warming
        ? { targets: () => this.#warmupTargets(), done: () => this.#warmedUp(), timeoutMs: o.warmupTimeoutMs }
        : undefined,
      o.balance !== undefined && o.warmupTimeoutMs > 0
        ? { targets: () => this.#moveTargets(), ready: (ps) => this.#movesReady(ps) }
        : undefined,
    );
  }

  stop(): void {
    this.#standbys?.stop();
  }

  /** The warm copies this process keeps, as the group hears of them at a join (`topic:partition` → offset read to). */
  copies(): Map<string, number> | undefined {
    const topic = this.#o.keyed();
    const copies = topic === undefined ? undefined : this.#standbys?.warmCopies(topic);
    this.#reported = new Set(
      [...(copies?.keys() ?? [])].map((split) => Number(split.slice(topic!.length + 1))),
    );
    return copies;
  }

  async #joinsRunningApp(): Promise<boolean> {
    const o = this.#o;
    const topic = o.keyed();
    if (o.standby === undefined || o.warmupTimeoutMs === 0 || topic === undefined) return false;
    const admin = this.#admin();
    try {
      const members = await describeSubscriptions(admin, o.applicationId);
      return [...members.values()].some((m) =>
        m.ownedPartitions?.some((p) => p.topic === topic && p.partitions.length > 0),
      );
    } catch {
      return false;
    } finally {
      await admin.close().catch(() => {});
    }
  }

  /** The key-group partitions the group would give this process once warmed up (`wouldAssign`). */
  #warmupTargets(): Promise<number[] | undefined> {
    return this.#askGroup((members, topic, self) =>
      members.has(self)
        ? wouldAssign(this.#o.balance, members, topic, this.#o.partitions(), self)
        : undefined,
    );
  }

  /** The warm-up is over: say so in the group (a rejoin), which then hands this process its partitions. */
  #warmedUp(): void {
    this.#warming = false;
    this.#o.member().rejoin();
  }

  /** The key-group partitions the group's load rule would move here (`plannedMovesTo`). */
  #moveTargets(): Promise<number[] | undefined> {
    return this.#askGroup((members, topic, self) =>
      plannedMovesTo(this.#o.balance, members, topic, this.#o.partitions(), self),
    );
  }

  /**
   * Copies of partitions a load move will bring here have read to the end:
   * a rejoin reports them, and the leader makes the move it held back. Only
   * for copies not reported yet, and not while a rebalance is under way.
   */
  #movesReady(partitions: readonly number[]): void {
    const member = this.#o.member();
    if (member.settled() === undefined) return;
    if (partitions.every((p) => this.#reported.has(p) || this.#o.assignedHere(p))) return;
    member.rejoin();
  }

  /**
   * `plan` over the group as the coordinator describes it (each member's
   * subscription, with what it runs now as what it owns), this process's
   * keyed topic and member id; undefined before this process has joined.
   */
  async #askGroup(
    plan: (
      members: Map<string, ExtendedGroupProtocolSubscription>,
      topic: string,
      self: string,
    ) => number[] | undefined,
  ): Promise<number[] | undefined> {
    const self = this.#o.member().memberId;
    const topic = this.#o.keyed();
    if (self === undefined || topic === undefined) return undefined;
    const admin = this.#admin();
    try {
      return plan(await describeSubscriptions(admin, this.#o.applicationId), topic, self);
    } finally {
      await admin.close().catch(() => {});
    }
  }

  #admin(): Admin {
    return new Admin({ clientId: `${this.#o.applicationId}-members`, bootstrapBrokers: this.#o.brokers });
  }
}
