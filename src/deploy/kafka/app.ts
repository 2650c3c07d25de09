/**
 * A Kafka application: eddy scaled out over processes that share nothing but a
 * Kafka cluster (no eddy master). Every process runs the same pipeline with the
 * same `applicationId`; the consumer group (that id, cooperative-sticky
 * assignment) spreads the input partitions over them, and partition p of the
 * input is key group p of the pipeline's keyed state.
 *
 * A process runs one task per partition it owns (task.ts): a job of the
 * pipeline over that partition alone, with its own transactional producer.
 * Each checkpoint of a task is one Kafka transaction (changelog.ts): the sinks'
 * output, the partition's changed state in the changelog topic, and its
 * consumed offset. A crash loses only open transactions, which read_committed
 * consumers never see; a partition's next owner fences the old one through
 * the partition's transactional id, restores the key group from the changelog
 * and continues from the committed offset: exactly-once.
 *
 * When the group's assignment changes, only the partitions that move stop
 * (here) and start (there, after their restore); the tasks of partitions that
 * stay keep running, their open transactions included.
 *
 * With `keyBy` on the source, the input partitions' tasks only forward their
 * records, keyed, to the internal repartition topic (in their transactions,
 * with their offsets), and the repartition topic's partitions are the key
 * groups.
 *
 * @example
 * ```ts
 * const app = kafkaApp({ applicationId: 'order-totals' });
 * await app.run(() => {
 *   const p = new Pipeline({ name: 'order-totals' });
 *   p.source('orders', app.source<Order>({ topics: ['orders'] }))
 *     .keyBy((o) => o.customer)
 *     .aggregate(sumOf((o) => o.amount))
 *     .sink(app.sink({ topic: 'totals', key: (t) => t.key }));
 *   return p;
 * });
 * ```
 */
import { Admin } from '@platformatic/kafka';

import type { Pipeline } from '../../api/pipeline.ts';
import {
  type KafkaAppMetrics,
  type KafkaAppSinkOptions,
  type KafkaAppSourceOptions,
  kafkaPartition,
  type RestoreMetrics,
} from '../../connectors/kafka/app-options.ts';
import { brokersOf } from '../../connectors/kafka/brokers.ts';
import { errorText, isTransientKafkaError } from '../../connectors/kafka/errors.ts';
import {
  type BalanceOptions,
  checkLoadBalance,
  PartitionLoads,
} from '../../connectors/kafka/load-balance.ts';
import { checkEndpoint, describeInstances, memberData } from '../../connectors/kafka/members.ts';
import { internalTopics } from '../../connectors/kafka/reset.ts';
import type { Sink, Source } from '../../core/connector.ts';
import type { Key } from '../../core/key-groups.ts';
import {
  type AppInstance,
  type KeyLocation,
  type KeyState,
  mergeScans,
  type PipelineMetrics,
  type StateScan,
  type StateScanOptions,
} from '../../core/metrics.ts';
import { configError, describe, EddyError } from '../../errors/index.ts';
import type { CheckpointInfo } from '../../runtime/checkpoints.ts';
import { RestartStrategy } from '../../runtime/restart.ts';
import { appSink } from './app-sink.ts';
import { type AppSourceConfig, appSource, twoSources } from './app-source.ts';
import { AppTopics } from './app-topics.ts';
import { PartitionEnds } from './ends.ts';
import { type ForwardedEventTime, forward } from './forwarder.ts';
import { gaveUp } from './gave-up.ts';
import { GroupMembership } from './membership.ts';
import { type KafkaAppOptions, resolveKafkaAppOptions } from './options.ts';
import { RestoresUnderway } from './restores.ts';
import { standbyOptions } from './standbys.ts';
import type { PartitionTask } from './task.ts';
import { TaskRestarts } from './task-restarts.ts';
import { type Prepared, prepareTask, type Restore, type TaskStartContext, taskJob } from './task-start.ts';
import { WarmCopies } from './warm-copies.ts';

export type { KafkaAppOptions } from './options.ts';

export interface KafkaAppRunOptions {
  /**
   * Aborting stops the application with a savepoint: each task commits its
   * state, offsets and output in a last transaction *without* ending its
   * input (open windows stay open, in the changelog), then the process
   * leaves the group. A rolling restart loses and repeats nothing.
   */
  readonly signal?: AbortSignal;
  /** Called after each commit (or failed commit). */
  readonly onCheckpoint?: (info: CheckpointInfo) => void;
  /**
   * Called when a partition's task stops without the application stopping
   * (it moved away, or it failed and goes back to its last commit) and when
   * starting tasks failed and is tried again, with why and the number of
   * restarts after failures so far.
   */
  readonly onRestart?: (reason: string, restarts: number) => void;
  /** Called when the partitions this process runs change: the key groups (partitions) it owns and the group generation. */
  readonly onAssigned?: (partitions: readonly number[], generation: number) => void;
}

export function kafkaApp(options: KafkaAppOptions): KafkaApp {
  return new KafkaApp(options);
}

export class KafkaApp {
  readonly applicationId: string;
  readonly changelogTopic: string;
  readonly repartitionTopic: string;
  readonly #brokers: string[];
  readonly #intervalMs: number;
  readonly #reconnectTimeoutMs: number;
  readonly #changelogLayout: 'entries' | 'key-groups';
  /** Warm standby copies and warm-ups (warm-copies.ts). */
  readonly #warm: WarmCopies;
  readonly #restores: RestoreMetrics[] = [];
  /** Restores without a standby copy under way (those from a copy: `Standbys.inFlight`). */
  readonly #underway = new RestoresUnderway();
  /** Each input partition's end as last asked (consumer lag). */
  readonly #ends = new PartitionEnds();
  readonly #instanceId: string;
  readonly #endpoint: string | undefined;
  /** Load-aware assignment: its options, and this process's partition loads. */
  readonly #balance: (BalanceOptions & { probeIntervalMs: number }) | undefined;
  readonly #loads = new PartitionLoads();
  /** The group's members as last described (`instances`), and when. */
  #described: { at: number; instances: Promise<AppInstance[]> } | undefined;
  #source: AppSourceConfig | undefined;
  /** The sources this app made (to find them in a pipeline's plan). */
  readonly #sources = new WeakSet<object>();
  /** The topics of each app.source call of the build in progress (one is allowed). */
  #building: string[][] | undefined;
  /** The pipeline's key of a record as read, when its keyBy follows app.source directly (no repartition). */
  #keyOf: ((value: unknown) => Key) | undefined;
  /** The pipeline source's event-time options, for the forwarding tasks (forwarder.ts). */
  #eventTime: ForwardedEventTime | undefined;
  /** The input, internal, sink and dead-letter topics, and their size limits. */
  readonly #topics: AppTopics;
  /** When each partition's failed task may start again. */
  readonly #taskRestarts: TaskRestarts;
  /** The application's own restarts: retries to start tasks, a new consumer. */
  #appRestarts: RestartStrategy;
  #restarts = 0;
  #moved = 0;
  readonly #commits = { count: 0, failed: 0, lastMs: 0, maxMs: 0 };

  // Live while running.
  /** This process in the consumer group: its consumer, assignment and message stream. */
  readonly #member: GroupMembership;
  /** The running tasks by `topic:partition`. */
  readonly #tasks = new Map<string, PartitionTask>();
  #partitions = 0;
  #fatal: Error | undefined;
  #kick: () => void = () => {};
  /**
   * Delays between the application's own retries while the brokers are away, and since when they
   * are: the restart strategy's backoff (not its failure limit). Each retry makes a new consumer,
   * and joining faster than that while the coordinator loads after an outage leaves members the
   * group then waits for (session timeout) before it settles.
   */
  readonly #appWaits: RestartStrategy;
  #appTransientSince: number | undefined;
  /** The generation last reported to onAssigned. */
  #reported = -1;
  #pipelineName = '';

  constructor(options: KafkaAppOptions) {
    if (typeof options?.applicationId !== 'string' || !/^[\w.-]{1,200}$/.test(options.applicationId)) {
      throw configError(
        'kafkaApp needs an applicationId of letters, digits, ".", "_" or "-"',
        options?.applicationId,
        'pass { applicationId: "order-totals" }',
      );
    }
    // Every option checked once against its schema (options.ts); the ones with their own rules next.
    const o = resolveKafkaAppOptions(options);
    this.applicationId = o.applicationId;
    this.#brokers = brokersOf(o.brokers);
    this.#intervalMs = o.commitIntervalMs;
    this.#reconnectTimeoutMs = o.reconnectTimeoutMs;
    this.#changelogLayout = o.changelog as 'entries' | 'key-groups';
    this.#instanceId = o.instanceId ?? `${process.pid}`;
    this.#endpoint = checkEndpoint(o.endpoint);
    this.#balance = checkLoadBalance(o.loadBalance);
    this.#appRestarts = new RestartStrategy(o.restart); // also checks the options now
    this.#appWaits = new RestartStrategy({ ...o.restart, maxFailures: Number.MAX_SAFE_INTEGER });
    this.#taskRestarts = new TaskRestarts({
      restart: o.restart,
      reconnectTimeoutMs: this.#reconnectTimeoutMs,
      brokers: this.#brokers,
    });
    const internal = internalTopics(this.applicationId);
    this.changelogTopic = internal.changelog;
    this.repartitionTopic = internal.repartition;
    this.#topics = new AppTopics({
      applicationId: this.applicationId,
      brokers: this.#brokers,
      changelogTopic: this.changelogTopic,
      repartitionTopic: this.repartitionTopic,
      inputs: () => this.#source?.topics ?? [],
    });
    this.#warm = new WarmCopies({
      applicationId: this.applicationId,
      instanceId: this.#instanceId,
      brokers: this.#brokers,
      changelogTopic: this.changelogTopic,
      standby: standbyOptions(o),
      warmupTimeoutMs: o.warmupTimeoutMs,
      balance: this.#balance,
      keyed: () => this.#source?.keyed,
      partitions: () => this.#partitions,
      member: () => this.#member,
      instances: () => this.instances(),
      assignedHere: (p) => this.#assignedHere(p),
    });
    this.#member = new GroupMembership({
      applicationId: this.applicationId,
      instanceId: this.#instanceId,
      brokers: this.#brokers,
      endpoint: this.#endpoint,
      sessionTimeoutMs: o.sessionTimeoutMs,
      balance: this.#balance,
      heldMoves: this.#warm.heldMoves(),
      metadata: () =>
        memberData(
          this.#instanceId,
          this.#endpoint,
          this.#partitionLoads(),
          this.#warm.copies(),
          this.#warm.warming,
        ),
      tasks: this.#tasks,
      bufferSize: () => this.#source!.bufferSize,
      kick: () => this.#kick(),
    });
  }

  /** The application's input: its consumer group reads `topics`; one source per application (app-source.ts). */
  source<T>(options: KafkaAppSourceOptions<T>): Source<T> {
    const source = appSource(options, {
      repartitionTopic: this.repartitionTopic,
      claim: (topics) => {
        // Issue 19 (point 11): a second app.source replaced the first without a word. The pipeline is
        // built again for every partition task, so "second" means within one build (or before run).
        const first = this.#building === undefined ? this.#source?.topics : this.#building[0];
        if (this.#building !== undefined) this.#building.push([...topics]);
        if (first !== undefined && (this.#building === undefined || this.#building.length > 1))
          throw twoSources(first, topics);
      },
      adopt: (config) => {
        this.#source = config;
      },
      reading: () => ({
        config: this.#source!,
        links: {
          repartitionTopic: this.repartitionTopic,
          partitions: this.#partitions,
          keyOf: () => this.#keyOf,
          limitOf: this.#topics.limitOf,
          resume: () => this.#member.resume(),
        },
      }),
    });
    this.#sources.add(source);
    return source;
  }

  /** Writes to `topic` inside the application's transactions: visible (read_committed) once a checkpoint commits (app-sink.ts). */
  sink<T>(options: KafkaAppSinkOptions<T>): Sink<T> {
    return appSink(options, {
      topics: this.#topics,
      deadLetterTopic: () => this.#source?.deadLetterTopic,
      partitions: () => this.#partitions,
    });
  }

  /**
   * Runs the application until `signal` aborts. `build` makes the pipeline
   * (with this app's source and sinks); it is called once for every partition
   * task this process starts.
   */
  async run(build: () => Pipeline | Promise<Pipeline>, options: KafkaAppRunOptions = {}): Promise<void> {
    const building = async () => {
      this.#building = [];
      try {
        return await build();
      } finally {
        this.#building = undefined;
      }
    };
    let first: Pipeline | undefined = await building();
    if (this.#source === undefined) {
      throw configError(
        'the pipeline has no app.source',
        undefined,
        'read the input with app.source({ topics })',
      );
    }
    this.#checkPlan(first);
    this.#pipelineName = first.name;
    const pipelines = async () => {
      const p = first ?? (await building());
      first = undefined;
      return p;
    };
    const { topics: inputs, keyBy } = this.#source;
    const topics = keyBy !== undefined ? [...inputs, this.repartitionTopic] : inputs;
    this.#partitions = await this.#topics.prepare({
      repartition: keyBy !== undefined,
      deadLetterTopic: this.#source.deadLetterTopic,
    });

    await this.#warm.decide();
    this.#member.join();
    // The first stream makes the consumer join the group; it is reopened whenever the tasks change.
    await this.#member.openStream(topics);

    const stop = options.signal;
    const onStop = () => this.#kick();
    stop?.addEventListener('abort', onStop);
    // Failing to start tasks (brokers away, the group in flux) is retried (#appFailed), and for at
    // most reconnectTimeoutMs in a row.
    let failingSince: number | undefined;
    try {
      this.#warm.start();
      while (!stop?.aborted) {
        this.#observeLoads();
        const changed = new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#taskRestarts.nextDue(Date.now(), 1000));
          this.#kick = () => {
            clearTimeout(t);
            resolve();
          };
        });
        try {
          await this.#reconcile(topics, pipelines, options);
          failingSince = undefined;
          this.#appTransientSince = undefined;
        } catch (e) {
          if (this.#fatal !== undefined) throw this.#fatal;
          const now = Date.now();
          failingSince ??= now;
          const delay = this.#appFailed('starting partition tasks', e, now);
          if (now - failingSince > this.#reconnectTimeoutMs)
            throw gaveUp(
              `starting partition tasks failed for ${now - failingSince} ms (reconnectTimeoutMs ${this.#reconnectTimeoutMs}); check that the brokers ${this.#brokers.join(',')} run, or raise reconnectTimeoutMs`,
              e,
            );
          this.#restarts++;
          options.onRestart?.(
            `starting partitions failed (${errorText(e)}); trying again in ${delay} ms`,
            this.#restarts,
          );
          await sleep(delay, stop);
          continue;
        }
        if (this.#fatal !== undefined) throw this.#fatal;
        await changed;
      }
      // Stopped: a savepoint, not a drain (issue 19, point 8). Each task commits what it has without
      // ending its input, so open windows stay open in the changelog and go on after a restart.
      await Promise.all([...this.#tasks.values()].map((t) => this.#stopTask(t, { savepoint: true })));
    } finally {
      // From here nothing may make the consumer join the group again: a join racing its close
      // leaves the process a member (heartbeats, connections) after run returns.
      this.#member.stopJoining();
      stop?.removeEventListener('abort', onStop);
      this.#warm.stop();
      this.#kick = () => {};
      await Promise.all([...this.#tasks.values()].map((t) => this.#stopTask(t, { savepoint: false })));
      // No request of ours in flight when the consumer closes (an answer left pending could hold the
      // process open after run returns); the brokers away, it is not waited for long.
      await this.#ends.settle(5000);
      await this.#member.close();
    }
  }

  /**
   * A failure of the application's own work (its consumer, starting tasks):
   * how long to wait before trying again. The brokers being away is waited
   * out for reconnectTimeoutMs (not counted against the failure limit);
   * other failures count, and the limit reached fails the run.
   */
  #appFailed(what: string, e: unknown, now: number): number {
    if (isTransientKafkaError(e)) {
      this.#appTransientSince ??= now;
      if (now - this.#appTransientSince > this.#reconnectTimeoutMs) {
        this.#fatal ??= gaveUp(
          `${what} could not reach the brokers ${this.#brokers.join(',')} for ${now - this.#appTransientSince} ms (reconnectTimeoutMs ${this.#reconnectTimeoutMs}); check that they run, or raise reconnectTimeoutMs`,
          e,
        );
        throw this.#fatal;
      }
      return this.#appWaits.onFailure(now) ?? 0;
    }
    const delay = this.#appRestarts.onFailure(now);
    if (delay === undefined) {
      this.#fatal ??= gaveUp(this.#appRestarts.exhaustedMessage(what), e);
      throw this.#fatal;
    }
    return delay;
  }

  /** Samples where each task is (for its load), and as the leader starts a probing rebalance when due. */
  #observeLoads(): void {
    if (this.#balance === undefined) return;
    const now = Date.now();
    // The partitions' ends, asked of the brokers at most every 5 s: how fast records arrive, and the lag.
    if (this.#tasks.size > 0) this.#ends.lag(this.#tasks, this.#member.consumer);
    const ends = new Map<string, { offset: bigint; at: number }>();
    for (const split of this.#tasks.keys()) {
      const known = this.#ends.known(split);
      if (known !== undefined) ends.set(split, { offset: known.end, at: known.at });
    }
    this.#loads.observe(ends);
    // The leader rejoining makes every member join again with its loads; the assignor weighs them.
    this.#member.probe(this.#balance.probeIntervalMs, now);
  }

  /** The load of each partition this process runs, as it joins the group. */
  #partitionLoads(): Map<string, number> | undefined {
    if (this.#balance === undefined) return undefined;
    const lag = this.#ends.lag(this.#tasks, this.#member.consumer);
    return this.#loads.loads((split) => {
      const l = lag[split];
      return l === undefined ? 0 : Math.max(0, l.lag) + l.buffered;
    });
  }

  /** What this process runs and how often it restarted. */
  metrics(): KafkaAppMetrics {
    const pipelines: Record<string, PipelineMetrics> = {};
    for (const t of this.#tasks.values()) if (t.job !== undefined) pipelines[t.split] = t.job.metrics();
    return {
      restarts: this.#restarts,
      moved: this.#moved,
      rebalances: this.#member.rebalances,
      loadBalance: {
        leader: this.#member.leader,
        probes: this.#member.probes,
        movesWarming: [...(this.#warm.standbys?.movingHere ?? [])],
        movesHeld: this.#member.leader ? this.#warm.movesHeld : 0,
        loads: Object.fromEntries(this.#partitionLoads() ?? []),
      },
      commits: { ...this.#commits },
      tasks: [...this.#tasks.keys()].sort(),
      pipelines,
      restores: [...this.#restores],
      restoring: [...(this.#warm.standbys?.inFlight() ?? []), ...this.#underway.inFlight()].sort(
        (a, b) => a.partition - b.partition,
      ),
      standbys: this.#warm.standbys?.held() ?? [],
      warmingUp: this.#warm.warming,
      lag: this.#ends.lag(this.#tasks, this.#member.consumer),
    };
  }

  /**
   * `key`'s live state in keyed step `step` (queryable state, as Kafka
   * Streams' interactive queries): read from this instance's task for the
   * key's partition (= key group). When another instance runs that partition
   * the error names it, as Kafka Streams' `queryMetadataForKey` would send
   * the caller there.
   */
  async queryState(step: string, key: Key): Promise<KeyState> {
    if (this.#partitions === 0)
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        'the application has not started yet; query it once it runs',
      );
    const partition = kafkaPartition(key, this.#partitions);
    const task = [...this.#tasks.values()].find((t) => t.kind === 'state' && t.partition === partition);
    if (task?.job === undefined) {
      // Assigned here and starting (fenced, restoring its state): ask again shortly.
      const starting = task !== undefined || this.#assignedHere(partition);
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `key ${describe(key)} is in partition ${partition}, which ${starting ? 'is still restoring here; try again shortly' : 'another instance of the application runs; ask the instance that runs it'}`,
        { retriable: starting },
      );
    }
    return task.job.queryState(step, key);
  }

  /**
   * Where `key`'s state lives: its partition (key group) and the instance
   * that runs it, with that instance's endpoint (Kafka Streams'
   * `queryMetadataForKey`). `local` when this instance runs the partition
   * (its task may still be restoring). Other instances are looked up in the
   * consumer group (at most once a second).
   */
  async locate(key: Key): Promise<KeyLocation> {
    if (this.#partitions === 0)
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        'the application has not started yet; query it once it runs',
      );
    const partition = kafkaPartition(key, this.#partitions);
    const here =
      [...this.#tasks.values()].some((t) => t.kind === 'state' && t.partition === partition) ||
      this.#assignedHere(partition);
    if (here)
      return {
        key,
        partition,
        local: true,
        instance: this.#instanceId,
        ...(this.#endpoint === undefined ? {} : { endpoint: this.#endpoint }),
      };
    const owner = (await this.instances()).find((i) => !i.local && i.partitions.includes(partition));
    return {
      key,
      partition,
      local: false,
      ...(owner === undefined ? {} : { instance: owner.instance }),
      ...(owner?.endpoint === undefined ? {} : { endpoint: owner.endpoint }),
    };
  }

  /** Whether the group's last assignment gives this process key-group partition `partition` (its task may not run yet). */
  #assignedHere(partition: number): boolean {
    return this.#member.assigned(this.#source?.keyed, partition);
  }

  /**
   * The application's instances as the consumer group knows them: each
   * one's name, endpoint and key-group partitions. Asked of the group
   * coordinator at most once a second.
   */
  instances(): Promise<AppInstance[]> {
    const now = Date.now();
    const known = this.#described;
    if (known !== undefined && now - known.at < 1000) return known.instances;
    const topic = this.#source?.keyed;
    if (topic === undefined)
      return Promise.reject(
        new EddyError('EDDY_CONFIG_INVALID', 'the application has not started yet; ask once it runs'),
      );
    const instances = (async () => {
      const admin = new Admin({ clientId: `${this.applicationId}-members`, bootstrapBrokers: this.#brokers });
      try {
        return await describeInstances(admin, this.applicationId, topic, this.#member.memberId);
      } finally {
        await admin.close().catch(() => {});
      }
    })();
    instances.catch(() => {
      if (this.#described?.instances === instances) this.#described = undefined;
    });
    this.#described = { at: now, instances };
    return instances;
  }

  /**
   * The keys of `step` that `o` asks for (a prefix, a range; see
   * `RunningPipeline.scanState`), over the partitions this instance runs
   * now — `partitions` lists them; other instances hold the rest — in key
   * order, at most `o.limit`.
   */
  async scanState(
    step: string,
    o: StateScanOptions = {},
  ): Promise<StateScan & { readonly partitions: number[] }> {
    if (this.#partitions === 0)
      throw new EddyError('EDDY_CONFIG_INVALID', 'the application has not started yet; scan it once it runs');
    const tasks = [...this.#tasks.values()].filter((t) => t.kind === 'state' && t.job !== undefined);
    const scans = tasks.map((t) => t.job!.scanState(step, o));
    return {
      ...mergeScans(step, scans, o),
      partitions: tasks.map((t) => t.partition).sort((a, b) => a - b),
    };
  }

  /**
   * Checks the first pipeline built: one app.source in it, and finds the
   * key its keyBy takes from a record as read (when the keyBy follows the
   * source directly), so that records in the wrong partition can be told.
   */
  #checkPlan(p: Pipeline): void {
    const nodes = [...p.scope.graph.nodes.values()];
    const ours = nodes.filter((n) => n.source !== undefined && this.#sources.has(n.source.source));
    if (ours.length > 1)
      throw configError(
        `a Kafka application reads one app.source, but steps ${ours.map((n) => `"${n.id}"`).join(' and ')} both read it`,
        this.#source?.topics,
        'read it with one p.source(...) and share the stream it returns',
      );
    const read = ours[0];
    if (read === undefined) return;
    // Repartitioned, the forwarding tasks judge event time as the source would (forwarder.ts).
    const o = read.source!.options;
    this.#eventTime = {
      timestamp: o.timestamp as ((value: unknown) => number) | undefined,
      maxOutOfOrderness: o.maxOutOfOrderness ?? 0,
      idleTimeout: o.idleTimeout ?? 0,
    };
    if (this.#source?.keyBy !== undefined) return;
    const keyBys = nodes.filter((n) => n.kind === 'keyBy' && n.inputs.some((i) => i.node === read.id));
    const keyBy = keyBys.length === 1 ? keyBys[0]!.stage : undefined;
    this.#keyOf = keyBy === undefined ? undefined : (keyBy.fn as (value: unknown) => Key);
  }

  /**
   * Brings the running tasks in line with the group's assignment: stops the
   * tasks of partitions that moved away (or failed), starts those of
   * partitions that arrived (or failed) after fencing and restoring them,
   * and leaves the rest running. Then reopens the stream if anything changed.
   */
  async #reconcile(
    topics: string[],
    pipelines: () => Promise<Pipeline>,
    options: KafkaAppRunOptions,
  ): Promise<void> {
    const lost = this.#member.lost;
    if (lost !== undefined) {
      const delay = this.#appFailed(
        "the application's consumer",
        lost.because ??
          new EddyError('EDDY_IO_FAILED', 'the consumer left the group and could not rejoin it'),
        Date.now(),
      );
      this.#restarts++;
      options.onRestart?.(
        `the consumer lost the group; joining again with a new one in ${delay} ms`,
        this.#restarts,
      );
      await sleep(delay);
      await this.#member.replace(topics);
      return; // the new member's assignment comes with its join
    }
    // A rebalance in progress: wait for its assignment.
    const joined = this.#member.settled();
    if (joined === undefined) return;
    const source = this.#source!;
    const want = new Map<string, { topic: string; partition: number; kind: 'state' | 'forward' }>();
    for (const a of joined.assignments) {
      if (!topics.includes(a.topic)) continue;
      const kind = a.topic === source.keyed ? 'state' : 'forward';
      for (const partition of a.partitions)
        want.set(`${a.topic}:${partition}`, { topic: a.topic, partition, kind });
    }
    let changed = this.#member.streamBroken;
    const now = Date.now();
    for (const task of [...this.#tasks.values()]) {
      const failure = task.failure;
      if (want.has(task.split) && failure === undefined) continue;
      changed = true;
      let delay = 0;
      if (failure !== undefined) {
        // Issue 19 (point 10): a task failing every time (a record its sink refuses, say) restarted
        // ~30 times a second for ever. Now it waits a growing backoff, and too many failures fail the
        // run; the brokers being away is waited out for reconnectTimeoutMs (task-restarts.ts).
        const d = this.#taskRestarts.onFailure(task, now);
        if (d instanceof Error) {
          await this.#stopTask(task, { savepoint: false });
          this.#fatal ??= d;
          throw this.#fatal;
        }
        delay = d;
        this.#restarts++;
      } else this.#moved++;
      options.onRestart?.(
        failure === undefined
          ? `partition ${task.split} moved to another process (generation ${joined.generation})`
          : `partition ${task.split} goes back to its last commit: ${failure} (restart in ${delay} ms)`,
        this.#restarts,
      );
      await this.#stopTask(task, { savepoint: false });
    }
    const arriving = [...want.entries()].filter(
      ([split]) => !this.#tasks.has(split) && this.#taskRestarts.due(split, Date.now()),
    );
    if (arriving.length > 0) {
      changed = true;
      // Fence, read offsets and state of all arriving partitions at once; start their jobs one by one.
      const firstStream = this.#member.nextStream;
      const start = this.#taskStart();
      const prepared = await Promise.allSettled(
        arriving.map(([, w]) => prepareTask(start, w.topic, w.partition, w.kind, firstStream)),
      );
      const failed = prepared.find((r) => r.status === 'rejected');
      if (failed !== undefined || this.#member.joined !== joined) {
        for (const r of prepared) if (r.status === 'fulfilled') await r.value.task.close();
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
        return; // the group moved on meanwhile: next round
      }
      for (const r of prepared) {
        const { task, restore } = (r as PromiseFulfilledResult<Prepared>).value;
        this.#tasks.set(task.split, task);
        void task.ended.then((reason) => {
          if (reason !== undefined) this.#kick();
        });
        if (task.kind === 'forward')
          void forward(task, this.#source!, {
            repartitionTopic: this.repartitionTopic,
            partitions: this.#partitions,
            limitOf: this.#topics.limitOf,
            intervalMs: this.#intervalMs,
            resume: () => this.#member.resume(),
            eventTime: this.#eventTime,
            ...this.#topics.inputIndex(task.topic, task.partition),
          });
        else await this.#startJob(task, restore!, await pipelines(), options);
      }
    }
    if (changed) await this.#member.openStream(topics);
    if (!changed && joined.generation === this.#reported) return;
    this.#reported = joined.generation;
    options.onAssigned?.(
      [...this.#tasks.values()]
        .filter((t) => t.kind === 'state')
        .map((t) => t.partition)
        .sort((a, b) => a - b),
      joined.generation,
    );
  }

  /** What starting a partition's task needs of the application (task-start.ts). */
  #taskStart(): TaskStartContext {
    return {
      applicationId: this.applicationId,
      instanceId: this.#instanceId,
      brokers: this.#brokers,
      changelogTopic: this.changelogTopic,
      partitions: this.#partitions,
      pipelineName: this.#pipelineName,
      commitIntervalMs: this.#intervalMs,
      changelogLayout: this.#changelogLayout,
      limitOf: this.#topics.limitOf,
      consumer: () => this.#member.consumer!,
      standbys: this.#warm.standbys,
      underway: this.#underway,
      restored: (r) => {
        this.#restores.push(r);
        if (this.#restores.length > 32) this.#restores.shift();
      },
    };
  }

  /** Starts the job of a key-group partition, restored from its changelog. */
  async #startJob(
    task: PartitionTask,
    restore: Restore,
    pipeline: Pipeline,
    options: KafkaAppRunOptions,
  ): Promise<void> {
    const job = taskJob(this.#taskStart(), task, restore, pipeline, (info) => {
      if (task.closed) return;
      const c = this.#commits;
      if (info.error === undefined) {
        c.count++;
        c.lastMs = info.durationMs;
        c.maxMs = Math.max(c.maxMs, info.durationMs);
      } else c.failed++;
      options.onCheckpoint?.(info);
      // A misconfiguration (state outside the owned key group) fails the same way every time.
      if (info.error instanceof EddyError && info.error.code === 'EDDY_CONFIG_INVALID') {
        this.#fatal ??= info.error;
        this.#kick();
      }
      if (info.error !== undefined) task.fail(`a commit failed: ${errorText(info.error)}`, info.error);
    });
    task.attach(job);
    await job.start();
    job.done.then(
      () => task.fail('the run ended'),
      (e: unknown) => {
        // A misconfiguration (a sink's topic missing, say) fails the same way every time: no restarts.
        if (e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && !task.stopping && !task.closed) {
          this.#fatal ??= e;
          this.#kick();
        }
        task.fail(`the run failed: ${errorText(e)}`, e);
      },
    );
  }

  /**
   * Stops a task. With `savepoint` (the application stops), it first
   * commits a last time without ending its input: its source hands out
   * nothing more, one more checkpoint commits state, offsets and output, and
   * the job is then cancelled, so no open window fires (issue 19, point 8).
   * Otherwise (the partition moved, or the task failed) what was not
   * committed is dropped and the partition goes on from its last commit.
   */
  async #stopTask(task: PartitionTask, o: { savepoint: boolean }): Promise<void> {
    if (this.#tasks.get(task.split) === task) this.#tasks.delete(task.split);
    if (task.closed) return;
    if (task.beginStop(o.savepoint)) {
      if (task.job !== undefined) await task.job.triggerCheckpoint().catch(() => {});
      else await task.loopEnded;
    }
    if (task.job !== undefined) {
      await task.job.cancel(new EddyError('EDDY_IO_FAILED', `${task.split} stopped`)).catch(() => {});
      await task.job.done.catch(() => {});
    }
    await task.idle();
    await task.close();
    if (task.job === undefined) await task.loopEnded;
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
