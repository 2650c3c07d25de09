/**
 * A Kafka application's place in its consumer group (app.ts): the consumer
 * that joins the group as this process, what the group last assigned it, and
 * the one message stream that hands each running partition task its records.
 *
 * The application decides what runs (reconcile, in app.ts); this file only
 * keeps the membership: a consumer with eddy's assignor and member data, the
 * assignment taken from its join event, rejoins (load probes, warm-up done,
 * warm copies ready) that never start once the application is closing, a new
 * consumer when the client gave up on the group, and a close that leaves the
 * group first (close.ts).
 */
import {
  Consumer,
  FetchIsolationLevels,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';
import { committedReads } from '../../connectors/kafka/aborted.ts';
import { loadAwareAssignor } from '../../connectors/kafka/assignor.ts';
import { closeConsumer } from '../../connectors/kafka/close.ts';
import { type FetchedMessage, fastReads } from '../../connectors/kafka/fast-reads.ts';
import { FETCH_LIMITS } from '../../connectors/kafka/fetch.ts';
import type { BalanceOptions } from '../../connectors/kafka/load-balance.ts';
import { memberData } from '../../connectors/kafka/members.ts';
import type { PartitionTask } from './task.ts';

/** The group's assignment to this process, from the consumer's join event. */
export interface Joined {
  readonly generation: number;
  readonly assignments: readonly { readonly topic: string; readonly partitions: readonly number[] }[];
}

export interface MembershipOptions {
  readonly applicationId: string;
  readonly instanceId: string;
  readonly brokers: string[];
  readonly endpoint: string | undefined;
  readonly sessionTimeoutMs: number;
  /** Load-aware assignment (load-balance.ts), if on. */
  readonly balance: BalanceOptions | undefined;
  /**
   * Warm-up before load moves: moves to a member without a warm copy are
   * held back (at most `timeoutMs`; `pending` is the leader's memory of
   * them, assignor.ts). Undefined: moves are made at once.
   */
  readonly heldMoves: { readonly timeoutMs: number; readonly pending: Map<string, number> } | undefined;
  /** This member's data, computed at every join (who, where it answers, its loads and warm copies). */
  readonly metadata: () => Buffer;
  /** The running tasks by `topic:partition`: the stream hands them their records. */
  readonly tasks: ReadonlyMap<string, PartitionTask>;
  /** How many records a task may buffer before the stream pauses. */
  readonly bufferSize: () => number;
  /** Something changed (an assignment, a lost consumer, a broken stream): the application looks again. */
  readonly kick: () => void;
}

export class GroupMembership {
  readonly #o: MembershipOptions;
  /** The loads the leader last weighed, kept between rounds (the assignor's memory). */
  readonly #remembered = new Map<string, number>();
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #streamId = 0;
  #joined: Joined | undefined;
  #leader = false;
  #groupSize = 0;
  #probedAt = 0;
  #probes = 0;
  #rebalances = 0;
  /** Set once the application is ending: no rejoin may start any more. */
  #closing = false;
  /** Set when the consumer left the group for good, with what it failed with. */
  #lost: { because: unknown } | undefined;
  /** Set when the stream failed: the next round opens a new one. */
  streamBroken = false;

  constructor(o: MembershipOptions) {
    this.#o = o;
  }

  get consumer(): Consumer | undefined {
    return this.#consumer;
  }

  get memberId(): string | undefined {
    return this.#consumer?.memberId ?? undefined;
  }

  /** The id the next stream opened will have (a task reads only streams opened after it started). */
  get nextStream(): number {
    return this.#streamId + 1;
  }

  /** The last assignment the group made (its tasks may not run yet). */
  get joined(): Joined | undefined {
    return this.#joined;
  }

  /** The last assignment, once the consumer is in that generation (undefined while a rebalance is under way). */
  settled(): Joined | undefined {
    const joined = this.#joined;
    return joined !== undefined && joined.generation === this.#consumer?.generationId ? joined : undefined;
  }

  get leader(): boolean {
    return this.#leader;
  }

  get probes(): number {
    return this.#probes;
  }

  get rebalances(): number {
    return this.#rebalances;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Why the consumer left the group for good, if it did (the application then makes a new one). */
  get lost(): { because: unknown } | undefined {
    return this.#lost;
  }

  /** Whether the group's last assignment gives this process `topic`'s partition `partition`. */
  assigned(topic: string | undefined, partition: number): boolean {
    return (
      topic !== undefined &&
      this.#joined?.assignments.some((a) => a.topic === topic && a.partitions.includes(partition)) === true
    );
  }

  /**
   * A consumer in the application's group. The client gives up rejoining the
   * group after a few failed attempts (a broker down for longer) and stays out
   * of it, so the application then makes a new one (`replace`): the tasks
   * keep running meanwhile, and the new member gets its partitions back from
   * the sticky assignor.
   */
  join(): void {
    const o = this.#o;
    this.#joined = undefined;
    this.#lost = undefined;
    const consumer = committedReads(
      new Consumer({
        clientId: `${o.applicationId}-${o.instanceId}-consumer`,
        bootstrapBrokers: o.brokers,
        groupId: o.applicationId,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        // Partitions stay where they are when the group changes; only the moved ones are handed over.
        // Its user data tells the other instances who this is and where it answers state queries.
        protocols: [
          { name: 'cooperative-sticky', version: 3, metadata: memberData(o.instanceId, o.endpoint) },
        ],
        partitionAssigner: loadAwareAssignor(
          o.balance,
          this.#remembered,
          (members) => {
            this.#groupSize = members;
            this.#probedAt = Date.now();
          },
          undefined,
          // Load moves to an instance without a copy wait while it warms one up (its standbys do).
          o.heldMoves,
        ),
        // Computed at every join: who this is, where it answers, and the load of what it runs.
        protocolsMetadata: o.metadata,
        sessionTimeout: o.sessionTimeoutMs,
        rebalanceTimeout: Math.max(o.sessionTimeoutMs, 60_000),
        heartbeatInterval: Math.min(3000, Math.floor(o.sessionTimeoutMs / 3)),
        // Kafka's own consumer defaults. The client's are 50 MB for both, so one fetch of a backlog
        // could be 50 MB decoded at once: memory far past bufferSize, a long wait for the first record,
        // and a decoding several times slower (fetch.ts).
        ...FETCH_LIMITS,
      }),
    );
    this.#consumer = consumer;
    consumer.on('error', (e: unknown) => {
      if (this.#consumer !== consumer) return;
      this.#lost = { because: e };
      o.kick();
    });
    consumer.on(
      'consumer:group:join',
      (p: {
        generationId?: number;
        isLeader?: boolean;
        assignments?: { topic: string; partitions: number[] }[];
      }) => {
        // The assignment is taken from this event only: the consumer's own fields change at different
        // moments of a rebalance (the generation at the join, the assignment at the sync).
        if (this.#consumer !== consumer) return;
        if (p.generationId !== undefined && p.assignments !== undefined) {
          if (p.generationId !== this.#joined?.generation) this.#rebalances++;
          this.#leader = p.isLeader === true;
          this.#joined = { generation: p.generationId, assignments: p.assignments };
        }
        o.kick();
      },
    );
    consumer.on('consumer:group:rebalance', () => o.kick());
  }

  /**
   * The consumer was lost: the old member leaves first (if the broker still
   * counts it; else the group waits for its session to expire before the new
   * one's join completes), then a new one joins and reads `topics`.
   */
  async replace(topics: string[]): Promise<void> {
    if (this.#consumer !== undefined) await closeConsumer(this.#consumer);
    this.join();
    try {
      await this.openStream(topics);
    } catch (e) {
      this.#lost ??= { because: e }; // not in the group yet either: next round, another one
      throw e;
    }
  }

  /** Asks the group to assign again (this member's data changed), unless the application is closing. */
  rejoin(): void {
    if (this.#closing) return;
    this.#consumer?.joinGroup().catch(() => {});
  }

  /** `rejoin`, and only when no rebalance is under way. */
  rejoinSettled(): void {
    if (this.settled() !== undefined) this.rejoin();
  }

  /**
   * As the group's leader, every `everyMs` (0: never): rejoining makes every
   * member join again with its loads, and the assignor weighs them.
   */
  probe(everyMs: number, now: number): void {
    if (
      everyMs > 0 &&
      this.#leader &&
      this.#groupSize > 1 &&
      now - this.#probedAt >= everyMs &&
      this.settled() !== undefined &&
      !this.#closing
    ) {
      this.#probedAt = now;
      this.#probes++;
      this.rejoin();
    }
  }

  /**
   * (Re)opens the message stream: each task's partition at the offset after
   * what it has buffered (or its committed offset), other partitions at their
   * end (until a task runs for them).
   * The new stream is opened before the old one is closed, so the consumer
   * stays in the group.
   */
  async openStream(topics: string[]): Promise<void> {
    const old = this.#stream;
    const id = ++this.#streamId;
    const tasks = this.#o.tasks;
    const offsets = [...tasks.values()].map((t) => ({
      topic: t.topic,
      partition: t.partition,
      offset: t.next,
    }));
    const consuming = this.#consumer!.consume({
      topics,
      autocommit: false,
      mode: MessagesStreamModes.MANUAL,
      offsets,
      // Partitions without a task yet are read from their end: their records would be dropped, and
      // reading a long backlog only to drop it slows the restores running meanwhile.
      fallbackMode: MessagesStreamFallbackModes.LATEST,
    });
    let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    try {
      stream = (await consuming) as MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    } catch (e) {
      // Joining failed for good (the brokers are away): the next round starts over with a new consumer.
      this.#lost = { because: e };
      throw e;
    }
    this.streamBroken = false;
    if (old !== undefined) {
      old.removeAllListeners('data');
      await old.close().catch(() => {});
    }
    this.#stream = stream;
    const bufferSize = this.#o.bufferSize();
    const received = (records: readonly FetchedMessage[]) => {
      if (this.#stream !== stream) return;
      // A response's records come partition by partition: each task is looked up and woken once.
      let task: PartitionTask | undefined;
      let split = '';
      let got = false;
      for (const m of records) {
        const at = `${m.topic}:${m.partition}`;
        if (at !== split) {
          if (got) task!.wake();
          split = at;
          task = tasks.get(at);
          got = false;
        }
        // Only a stream opened after the task started reads its partition from where the task is.
        if (task === undefined || !task.receive(m, id)) continue;
        got = true;
        if (task.backlog() >= bufferSize && !stream.isPaused()) stream.pause();
      }
      if (got) task!.wake();
    };
    // A fetch response at a time (fast-reads.ts); the data events stay, for a stream the fast path
    // cannot serve, and because a stream without a data listener does not fetch.
    fastReads(this.#consumer!).attach(stream, received);
    stream.on('data', (m: FetchedMessage) => received([m]));
    stream.on('error', () => {
      if (this.#stream !== stream) return;
      // The tasks keep what they buffered; the next round opens a new stream where they are.
      this.streamBroken = true;
      this.#o.kick();
    });
  }

  /** Resumes a paused stream once every task has worked its buffer down to half. */
  resume(): void {
    const stream = this.#stream;
    if (stream === undefined || !stream.isPaused()) return;
    const half = this.#o.bufferSize() / 2;
    for (const t of this.#o.tasks.values()) if (t.backlog() >= half) return;
    stream.resume();
  }

  /** From now on nothing may make the consumer join the group again: a join racing its close leaves the process a member. */
  stopJoining(): void {
    this.#closing = true;
  }

  /** Closes the stream and leaves the group. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#stream?.close().catch(() => {});
    if (this.#consumer !== undefined) await closeConsumer(this.#consumer);
  }
}
