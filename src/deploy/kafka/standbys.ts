/**
 * A Kafka application's warm standby copies in one process (issue 13): a
 * `ChangelogReplica` that a background loop keeps current from the
 * changelog, every partition (`warmStandby`) or the ones the placement names
 * here (`standbyReplicas`, `connectors/kafka/standby.ts`), what this process
 * tells the group it keeps, and the restores that read from it.
 */
import type { RestoreProgress } from '../../connectors/kafka/app-options.ts';
import { ChangelogReplica } from '../../connectors/kafka/changelog.ts';
import { standbyPartitions } from '../../connectors/kafka/standby.ts';
import type { AppInstance } from '../../core/metrics.ts';
import { configError } from '../../errors/index.ts';
import { RestoresUnderway } from './restores.ts';

/** How long a copy no longer placed here is kept before it is dropped (ms). */
const UNPLACED_GRACE_MS = 30_000;

/**
 * Warm-up before hand-over (KIP-441): while it lasts, the copies also cover
 * the partitions the group would give this process (`targets`), and `done`
 * is called once every target's copy has read to the end once, or after
 * `timeoutMs`.
 */
export interface Warmup {
  /** The partitions the group would give this process now; undefined when that cannot be told. */
  readonly targets: () => Promise<number[] | undefined>;
  readonly done: (why: 'caught up' | 'timed out') => void;
  readonly timeoutMs: number;
}

/**
 * Warm-up before a load move (KIP-441), for a process that runs partitions
 * already: each round the copies also cover the partitions the group's load
 * rule would move here (`targets`), and `ready` is told the ones whose copy
 * has read to the end (the process then rejoins, reporting them, and the
 * leader makes the move it held back: `assignor.ts`).
 */
export interface MoveWarmup {
  readonly targets: () => Promise<number[] | undefined>;
  readonly ready: (partitions: number[]) => void;
}

export interface StandbyOptions {
  /** How often the copies read the changelog (ms). */
  readonly intervalMs: number;
  /** Every partition (`warmStandby`), or this many placed copies of each (`standbyReplicas`). */
  readonly replicas: number | 'all';
}

/**
 * The standby options of a `kafkaApp` (each already checked against its
 * schema, options.ts), with the rule between them; undefined when it keeps
 * no copies.
 */
export function standbyOptions(o: {
  readonly warmStandby: boolean;
  readonly standbyReplicas: number;
  readonly standbyIntervalMs: number;
}): StandbyOptions | undefined {
  if (o.standbyReplicas > 0 && o.warmStandby)
    throw configError(
      'warmStandby (a copy of every partition here) and standbyReplicas (copies placed across the instances) exclude each other',
      o.standbyReplicas,
      'pass one of the two: standbyReplicas: 1 for one placed copy of each partition, or warmStandby: true for all of them',
    );
  if (o.warmStandby) return { intervalMs: o.standbyIntervalMs, replicas: 'all' };
  return o.standbyReplicas > 0 ? { intervalMs: o.standbyIntervalMs, replicas: o.standbyReplicas } : undefined;
}

export class Standbys {
  readonly replica: ChangelogReplica;
  readonly #o: StandbyOptions;
  readonly #partitions: number;
  readonly #instances: () => Promise<AppInstance[]>;
  readonly #assignedHere: (partition: number) => boolean;
  /**
   * Partitions being restored now (their copy must not be dropped
   * meanwhile): when each began, the replica's record count for it then, and
   * whether its copy here was warm.
   */
  readonly #restoring = new RestoresUnderway();
  /** Copies held here that the placement no longer names, and since when (ms). */
  readonly #unplacedSince = new Map<number, number>();
  #stopped = false;
  #wake: (() => void) | undefined;
  #warmup: (Warmup & { readonly since: number }) | undefined;
  #moves: MoveWarmup | undefined;
  /** The partitions warmed up for planned load moves in the last round. */
  #moving: number[] = [];

  /**
   * `partitions`: the key-group partitions; `instances`: the group's members
   * (`KafkaApp.instances`); `assignedHere`: whether this process runs a
   * partition now.
   */
  constructor(o: {
    readonly options: StandbyOptions;
    readonly brokers: string[];
    readonly topic: string;
    readonly clientId: string;
    readonly partitions: number;
    readonly instances: () => Promise<AppInstance[]>;
    readonly assignedHere: (partition: number) => boolean;
  }) {
    this.#o = o.options;
    this.#partitions = o.partitions;
    this.#instances = o.instances;
    this.#assignedHere = o.assignedHere;
    this.replica = new ChangelogReplica({
      bootstrapBrokers: o.brokers,
      topic: o.topic,
      clientId: o.clientId,
    });
  }

  /**
   * The loop: reads the partitions to keep to their end, again every
   * interval, until `stop`. A failed round (the brokers away) is retried at
   * the next; a restore then reads the rest.
   */
  start(warmup?: Warmup, moves?: MoveWarmup): void {
    const every = Array.from({ length: this.#partitions }, (_, i) => i);
    const replicas = this.#o.replicas;
    if (warmup !== undefined) this.#warmup = { ...warmup, since: Date.now() };
    // With a copy of every partition here, every move is warm already.
    this.#moves = replicas === 'all' ? undefined : moves;
    void (async () => {
      while (!this.#stopped) {
        const w = this.#warmup;
        const targets = w === undefined ? [] : await w.targets().catch(() => undefined);
        const m = w === undefined ? this.#moves : undefined;
        const moving = m === undefined ? [] : ((await m.targets().catch(() => undefined)) ?? []);
        this.#moving = moving;
        const keep = [...(targets ?? []), ...moving];
        const placed = replicas === 'all' ? every : await this.#placed(replicas, keep);
        const partitions = [...new Set([...placed, ...keep])].sort((a, b) => a - b);
        await this.replica.catchUp(partitions).catch(() => {});
        // Stopped meanwhile: the application is closing, and nothing may make it rejoin the group.
        if (this.#stopped) break;
        const ready = moving.filter((p) => this.replica.position(p) !== undefined);
        if (m !== undefined && ready.length > 0) m.ready(ready);
        if (w !== undefined && this.#warmup === w) {
          const caughtUp = targets?.every((p) => this.replica.position(p) !== undefined) === true;
          if (caughtUp || Date.now() - w.since >= w.timeoutMs) {
            this.#warmup = undefined;
            w.done(caughtUp ? 'caught up' : 'timed out');
          }
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#o.intervalMs);
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    })();
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  /** Whether it is warming up (see {@link Warmup}). */
  get warming(): boolean {
    return this.#warmup !== undefined;
  }

  /** The partitions it warms up for load moves the group plans to make to this process. */
  get movingHere(): readonly number[] {
    return this.#moving;
  }

  /** The partitions it keeps copies of. */
  held(): number[] {
    return this.replica.held();
  }

  /** The copies as the group hears of them (`topic:partition` → offset read to), except partitions run here. */
  warmCopies(topic: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.replica.held()) {
      const at = this.replica.position(p);
      if (at !== undefined && !this.#assignedHere(p)) out.set(`${topic}:${p}`, Number(at));
    }
    return out;
  }

  /**
   * Runs `restore` (which reads partition `p` from the replica) with `p`'s
   * copy kept meanwhile, and reported by {@link inFlight} until it settles.
   */
  async restoring<T>(p: number, restore: () => Promise<T>): Promise<T> {
    return this.#restoring.track(p, this.replica, restore, this.replica.position(p) !== undefined);
  }

  /**
   * The restores under way here (`KafkaAppMetrics.restoring`): records read
   * for each since it began (a standby round that reads the partition
   * meanwhile counts too: it brings the copy forward all the same), and the
   * offsets of the read under way, -1 while none is (it waits for the
   * replica's round of other partitions to finish).
   *
   * @example
   * ```ts
   * for (const r of standbys.inFlight()) console.log(`${r.partition}: ${r.records} read, at ${r.offset} of ${r.end}`);
   * ```
   */
  inFlight(): RestoreProgress[] {
    return this.#restoring.inFlight();
  }

  /**
   * The partitions to keep under `standbyReplicas` (`standbyPartitions` over
   * the group's members, asked at most once a second), besides the ones
   * `warming` up. A copy neither names for 30 s is dropped, its memory freed: a partition that
   * has just moved here is restored from its copy before then, and a
   * placement seen mid-rebalance does not throw a copy away. When the group
   * cannot be asked, the copies held stay.
   */
  async #placed(replicas: number, warming: readonly number[]): Promise<number[]> {
    let placed: number[];
    try {
      placed = standbyPartitions(await this.#instances(), replicas);
    } catch {
      return this.replica.held();
    }
    const keep = new Set([...placed, ...warming]);
    const now = Date.now();
    for (const p of keep) this.#unplacedSince.delete(p);
    for (const p of this.replica.held()) {
      if (keep.has(p)) continue;
      const since = this.#unplacedSince.get(p) ?? now;
      this.#unplacedSince.set(p, since);
      if (now - since < UNPLACED_GRACE_MS) continue;
      this.#unplacedSince.delete(p);
      void this.replica.drop(p, (q) => this.#restoring.has(q));
    }
    return placed;
  }
}
