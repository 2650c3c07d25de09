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
import {
  Admin,
  Consumer,
  type ExtendedGroupProtocolSubscription,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';

import type { Pipeline } from '../../api/pipeline.ts';
import { committedReads } from '../../connectors/kafka/aborted.ts';
import {
  type KafkaAppMetrics,
  type KafkaAppSinkOptions,
  type KafkaAppSourceOptions,
  kafkaPartition,
  type PartitionLag,
  type RestoreMetrics,
} from '../../connectors/kafka/app-options.ts';
import { loadAwareAssignor, plannedMovesTo, wouldAssign } from '../../connectors/kafka/assignor.ts';
import { brokersOf } from '../../connectors/kafka/brokers.ts';
import { ChangelogStore, PART_BYTES, readChangelog } from '../../connectors/kafka/changelog.ts';
import { closeConsumer } from '../../connectors/kafka/close.ts';
import { checkDeadLetterTopic } from '../../connectors/kafka/dead-letters.ts';
import { errorText, hasKafkaError, isTransientKafkaError } from '../../connectors/kafka/errors.ts';
import { FETCH_LIMITS } from '../../connectors/kafka/fetch.ts';
import { resolveFormat } from '../../connectors/kafka/formats.ts';
import {
  type BalanceOptions,
  checkLoadBalance,
  PartitionLoads,
} from '../../connectors/kafka/load-balance.ts';
import {
  checkEndpoint,
  describeInstances,
  describeSubscriptions,
  memberData,
} from '../../connectors/kafka/members.ts';
import { internalTopics } from '../../connectors/kafka/reset.ts';
import {
  type CreateTopicOptions,
  checkCreateTopic,
  describeTopics,
  ensureTopic,
  INTERNAL_HEADROOM_BYTES,
  KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
  sinkTopic,
  type TopicInfo,
} from '../../connectors/kafka/topics.ts';
import type { Sink, SinkWriter, Source, SourceReader } from '../../core/connector.ts';
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
import { configError, describe, EddyError, type ErrorCode } from '../../errors/index.ts';
import type { CheckpointInfo } from '../../runtime/checkpoints.ts';
import { type RestartOptions, RestartStrategy } from '../../runtime/restart.ts';
import { HeapStateBackend } from '../../state/heap.ts';
import { AppSinkWriter } from './app-sink.ts';
import { type AppSourceConfig, appSourceReader } from './app-source.ts';
import { forward } from './forwarder.ts';
import { type KafkaAppOptions, resolveKafkaAppOptions } from './options.ts';
import { type StandbyOptions, Standbys, standbyOptions } from './standbys.ts';
import { PartitionTask, type TxMessage } from './task.ts';

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

function twoSources(first: readonly string[], second: readonly string[]): EddyError {
  return configError(
    `a Kafka application reads one app.source, and this one already reads [${first.join(', ')}]`,
    `a second app.source of [${second.join(', ')}]`,
    `read every topic with one app.source({ topics: [${[...first, ...second].map((t) => JSON.stringify(t)).join(', ')}], keyBy }), or run another kafkaApp with its own applicationId`,
  );
}

export class KafkaApp {
  readonly applicationId: string;
  readonly changelogTopic: string;
  readonly repartitionTopic: string;
  readonly #brokers: string[];
  readonly #intervalMs: number;
  readonly #reconnectTimeoutMs: number;
  readonly #sessionTimeoutMs: number;
  /** Warm standby copies: what is asked for, and (while running) the copies. */
  readonly #standbyOptions: StandbyOptions | undefined;
  /** How long a joining process warms up its copies before it takes partitions (ms; 0: no warm-up). */
  readonly #warmupTimeoutMs: number;
  readonly #changelogLayout: 'entries' | 'key-groups';
  /** Whether this process is warming up (it says so in the group, and takes no partitions meanwhile). */
  #warming = false;
  /** Set once `run` is ending: no rejoin may start any more (see its `finally`). */
  #closing = false;
  /** The key-group partitions whose warm copies this process reported when it last joined. */
  #reportedWarm = new Set<number>();
  /** As the group's leader: load moves held back while their receiver warms up (`loadAwareAssignor`). */
  readonly #pendingMoves = new Map<string, number>();
  #standbys: Standbys | undefined;
  readonly #restores: RestoreMetrics[] = [];
  /** Each input partition's last stable offset, and when it was asked (consumer lag). */
  readonly #ends = new Map<string, { end: bigint; at: number }>();
  #endsAsked = 0;
  /** The ends being asked for, if they are: awaited before the consumer closes. */
  #endsAsking: Promise<void> | undefined;
  readonly #instanceId: string;
  readonly #endpoint: string | undefined;
  /** Load-aware assignment: its options, this process's partition loads, the loads last reported. */
  readonly #balance: (BalanceOptions & { probeIntervalMs: number }) | undefined;
  readonly #loads = new PartitionLoads();
  readonly #remembered = new Map<string, number>();
  /** Whether this process led the group's last assignment, and when it last assigned or probed. */
  #leader = false;
  #groupSize = 0;
  #probedAt = 0;
  #probes = 0;
  /** The group's members as last described (`instances`), and when. */
  #described: { at: number; instances: Promise<AppInstance[]> } | undefined;
  readonly #restart: RestartOptions | undefined;
  #source: AppSourceConfig | undefined;
  /** The sources this app made (to find them in a pipeline's plan). */
  readonly #sources = new WeakSet<object>();
  /** The topics of each app.source call of the build in progress (one is allowed). */
  #building: string[][] | undefined;
  /** The pipeline's key of a record as read, when its keyBy follows app.source directly (no repartition). */
  #keyOf: ((value: unknown) => Key) | undefined;
  /** The sinks' topics, looked up (or created) once. */
  readonly #sinkTopics = new Map<string, Promise<TopicInfo>>();
  /** max.message.bytes of every topic the tasks write to. */
  readonly #limits = new Map<string, number>();
  readonly #limitOf = (topic: string) => this.#limits.get(topic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
  /** Per partition (`topic:partition`): its restart strategy and when its task may start again. */
  readonly #taskRestarts = new Map<
    string,
    { strategy: RestartStrategy; waits: RestartStrategy; transientSince?: number | undefined; at: number }
  >();
  /** The application's own restarts: retries to start tasks, a new consumer. */
  #appRestarts: RestartStrategy;
  #restarts = 0;
  #moved = 0;
  #rebalances = 0;
  readonly #commits = { count: 0, failed: 0, lastMs: 0, maxMs: 0 };

  // Live while running.
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #streamId = 0;
  #streamBroken = false;
  /** The running tasks by `topic:partition`. */
  readonly #tasks = new Map<string, PartitionTask>();
  /** The task whose job is starting: its source and sinks open into it. */
  #opening: PartitionTask | undefined;
  #partitions = 0;
  #fatal: Error | undefined;
  /** The last completed assignment, from the consumer's join event. */
  #joined: { generation: number; assignments: { topic: string; partitions: number[] }[] } | undefined;
  #kick: () => void = () => {};
  /** Set when the consumer left the group for good (see #newConsumer). */
  #consumerLost = false;
  /** What the consumer failed with when it was lost. */
  #lostBecause: unknown;
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
    this.#sessionTimeoutMs = o.sessionTimeoutMs;
    this.#standbyOptions = standbyOptions(o);
    this.#warmupTimeoutMs = o.warmupTimeoutMs;
    this.#changelogLayout = o.changelog as 'entries' | 'key-groups';
    this.#instanceId = o.instanceId ?? `${process.pid}`;
    this.#endpoint = checkEndpoint(o.endpoint);
    this.#balance = checkLoadBalance(o.loadBalance);
    this.#restart = o.restart;
    this.#appRestarts = new RestartStrategy(this.#restart); // also checks the options now
    this.#appWaits = new RestartStrategy({ ...this.#restart, maxFailures: Number.MAX_SAFE_INTEGER });
    const internal = internalTopics(this.applicationId);
    this.changelogTopic = internal.changelog;
    this.repartitionTopic = internal.repartition;
  }

  /** The application's input: its consumer group reads `topics`; one source per application. */
  source<T>(options: KafkaAppSourceOptions<T>): Source<T> {
    if (
      !Array.isArray(options?.topics) ||
      options.topics.length === 0 ||
      options.topics.some((t) => typeof t !== 'string' || t === '')
    ) {
      throw configError('app.source needs topics', options?.topics, 'pass { topics: ["orders"] }');
    }
    const keyBy = options.keyBy;
    if (keyBy !== undefined && typeof keyBy !== 'function') {
      throw configError(
        'app.source keyBy must be a function',
        keyBy,
        'pass { keyBy: (order) => order.customer }',
      );
    }
    if (keyBy === undefined && options.topics.length > 1) {
      throw configError(
        'app.source with several topics needs keyBy (their partitions are assigned independently, so they are repartitioned into one topic)',
        options.topics,
        'pass { keyBy: (value) => value.key }',
      );
    }
    checkDeadLetterTopic('app.source', options.deadLetterTopic);
    // Issue 19 (point 11): a second app.source replaced the first without a word. The pipeline is
    // built again for every partition task, so "second" means within one build (or before run).
    const first = this.#building === undefined ? this.#source?.topics : this.#building[0];
    if (this.#building !== undefined) this.#building.push([...options.topics]);
    if (first !== undefined && (this.#building === undefined || this.#building.length > 1))
      throw twoSources(first, options.topics);
    this.#source = {
      topics: [...options.topics],
      bufferSize: options.bufferSize ?? 10_000,
      keyed: keyBy === undefined ? options.topics[0]! : this.repartitionTopic,
      keyBy: keyBy as ((value: unknown) => Key | undefined) | undefined,
      deadLetterTopic: options.deadLetterTopic,
      format: resolveFormat(options.format, options.limits),
      parse: options.parse,
      carried: options.carried === true,
    };
    if (options.carried === true && keyBy !== undefined)
      throw configError(
        'app.source with carried: true reads a topic an earlier stage partitioned; it takes no keyBy',
        'keyBy',
        'leave keyBy out',
      );
    const app = this;
    const source: Source<T> = {
      kind: 'kafka-app',
      messaging: { system: 'kafka', destination: options.topics.join(',') },
      eventTimes: true,
      splittable: true,
      ...(options.carried === true ? { carriesWatermarks: true } : {}),
      open(ctx): SourceReader<T> {
        const task = app.#opening;
        if (task === undefined || task.kind !== 'state')
          throw new EddyError('EDDY_STATE_INVALID', 'app.source is read by kafkaApp.run only');
        return appSourceReader<T>(task, app.#source!, ctx, {
          repartitionTopic: app.repartitionTopic,
          partitions: app.#partitions,
          keyOf: () => app.#keyOf,
          limitOf: app.#limitOf,
          resume: () => app.#maybeResume(),
        });
      },
    };
    this.#sources.add(source);
    return source;
  }

  /** Writes to `topic` inside the application's transactions: visible (read_committed) once a checkpoint commits. */
  sink<T>(options: KafkaAppSinkOptions<T>): Sink<T> {
    if (typeof options?.topic !== 'string' || options.topic === '') {
      throw configError('app.sink needs a topic', options?.topic, 'pass { topic: "results" }');
    }
    const policy = options.onProduceError ?? 'fail';
    if (policy !== 'fail' && policy !== 'dead-letter')
      throw configError(
        'app.sink onProduceError must be "fail" or "dead-letter"',
        policy,
        'pass onProduceError: "dead-letter" (with a deadLetterTopic) or leave it out',
      );
    checkDeadLetterTopic('app.sink', options.deadLetterTopic);
    checkCreateTopic('app.sink', options.createTopic);
    const app = this;
    return {
      kind: 'kafka-app',
      guarantee: 'exactly-once',
      messaging: { system: 'kafka', destination: options.topic },
      async open(ctx) {
        const task = app.#opening;
        if (task === undefined)
          throw new EddyError('EDDY_STATE_INVALID', 'app.sink is written by kafkaApp.run only');
        const info = await app.#sinkTopic(options.topic, options.createTopic);
        let dlq: string | undefined;
        if (policy === 'dead-letter') {
          dlq = options.deadLetterTopic ?? app.#source?.deadLetterTopic;
          if (dlq === undefined)
            throw configError(
              `app.sink to "${options.topic}" has onProduceError: "dead-letter" but no dead-letter topic`,
              undefined,
              'pass deadLetterTopic to app.sink or to app.source',
              ctx.stepId,
            );
          if (!app.#limits.has(dlq)) await app.#sinkTopic(dlq, undefined, true);
        }
        return new AppSinkWriter(task, options as KafkaAppSinkOptions<unknown>, {
          info,
          stepId: ctx.stepId,
          policy,
          dlq,
          limitOf: app.#limitOf,
          ...(options.carryEventTime === true
            ? { carry: { from: task.partition, of: app.#partitions } }
            : {}),
        }) as SinkWriter<T>;
      },
    };
  }

  /**
   * A sink's topic, looked up once (created when `create` says so, else a
   * missing topic is an error naming it); `dlq`: a dead-letter topic, created
   * sized like the app's internal topics when missing.
   */
  #sinkTopic(topic: string, create: CreateTopicOptions | undefined, dlq = false): Promise<TopicInfo> {
    let known = this.#sinkTopics.get(topic);
    if (known === undefined) {
      known = (async () => {
        const admin = new Admin({ clientId: `${this.applicationId}-sink`, bootstrapBrokers: this.#brokers });
        try {
          const info = dlq
            ? await ensureTopic(admin, {
                topic,
                partitions: -1,
                minMaxMessageBytes: await this.#internalLimit(admin),
                grow: false,
              })
            : await sinkTopic(admin, `app.sink`, topic, this.#brokers, create);
          this.#limits.set(topic, info.maxMessageBytes);
          return info;
        } finally {
          await admin.close().catch(() => {});
        }
      })();
      known.catch(() => this.#sinkTopics.delete(topic));
      this.#sinkTopics.set(topic, known);
    }
    return known;
  }

  /** The max.message.bytes of the topics eddy creates: the widest input's, plus room for eddy's headers. */
  async #internalLimit(admin: Admin): Promise<number> {
    const inputs = await describeTopics(admin, this.#source?.topics ?? []);
    const widest = Math.max(
      KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
      ...[...inputs.values()].map((i) => i.maxMessageBytes),
    );
    return widest + INTERNAL_HEADROOM_BYTES;
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
    await this.#prepareTopics(inputs, keyBy !== undefined);

    this.#warming = await this.#joinsRunningApp();
    this.#newConsumer();
    // The first stream makes the consumer join the group; it is reopened whenever the tasks change.
    await this.#openStream(topics);

    const stop = options.signal;
    const onStop = () => this.#kick();
    stop?.addEventListener('abort', onStop);
    // Failing to start tasks (brokers away, the group in flux) is retried (#appFailed), and for at
    // most reconnectTimeoutMs in a row.
    let failingSince: number | undefined;
    try {
      this.#startStandbys();
      while (!stop?.aborted) {
        this.#observeLoads();
        const changed = new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#nextWake());
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
      this.#closing = true;
      stop?.removeEventListener('abort', onStop);
      this.#standbys?.stop();
      this.#kick = () => {};
      await Promise.all([...this.#tasks.values()].map((t) => this.#stopTask(t, { savepoint: false })));
      // No request of ours in flight when the consumer closes (an answer left pending could hold the
      // process open after run returns); the brokers away, it is not waited for long.
      const asking = this.#endsAsking;
      if (asking !== undefined) {
        let t: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([asking, new Promise<void>((resolve) => (t = setTimeout(resolve, 5000)))]);
        clearTimeout(t);
      }
      await this.#stream?.close().catch(() => {});
      if (this.#consumer !== undefined) await closeConsumer(this.#consumer);
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
    if (this.#tasks.size > 0) this.#lag();
    const ends = new Map<string, { offset: bigint; at: number }>();
    for (const split of this.#tasks.keys()) {
      const known = this.#ends.get(split);
      if (known !== undefined) ends.set(split, { offset: known.end, at: known.at });
    }
    this.#loads.observe(ends);
    const every = this.#balance.probeIntervalMs;
    const consumer = this.#consumer;
    if (
      every > 0 &&
      !this.#closing &&
      this.#leader &&
      this.#groupSize > 1 &&
      now - this.#probedAt >= every &&
      consumer !== undefined &&
      this.#joined?.generation === consumer.generationId
    ) {
      this.#probedAt = now;
      this.#probes++;
      // The leader rejoining makes every member join again with its loads; the assignor weighs them.
      consumer.joinGroup().catch(() => {});
    }
  }

  /** The load of each partition this process runs, as it joins the group. */
  #partitionLoads(): Map<string, number> | undefined {
    if (this.#balance === undefined) return undefined;
    const lag = this.#lag();
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
      rebalances: this.#rebalances,
      loadBalance: {
        leader: this.#leader,
        probes: this.#probes,
        movesWarming: [...(this.#standbys?.movingHere ?? [])],
        movesHeld: this.#leader ? this.#pendingMoves.size : 0,
        loads: Object.fromEntries(this.#partitionLoads() ?? []),
      },
      commits: { ...this.#commits },
      tasks: [...this.#tasks.keys()].sort(),
      pipelines,
      restores: [...this.#restores],
      standbys: this.#standbys?.held() ?? [],
      warmingUp: this.#warming,
      lag: this.#lag(),
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
    const topic = this.#source?.keyed;
    return (
      this.#joined?.assignments.some((a) => a.topic === topic && a.partitions.includes(partition)) === true
    );
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
        return await describeInstances(
          admin,
          this.applicationId,
          topic,
          this.#consumer?.memberId ?? undefined,
        );
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

  /** What `metrics().lag` says now; asks the brokers for the ends again when the answer is old. */
  #lag(): Record<string, PartitionLag> {
    const now = Date.now();
    const out: Record<string, PartitionLag> = {};
    for (const [split, t] of this.#tasks) {
      const known = this.#ends.get(split);
      out[split] = {
        end: known === undefined ? -1 : Number(known.end),
        next: Number(t.next),
        buffered: t.backlog(),
        lag: known === undefined ? -1 : Math.max(0, Number(known.end - t.next)),
        ageMs: known === undefined ? -1 : now - known.at,
      };
    }
    if (now - this.#endsAsked >= 5_000 && this.#consumer !== undefined && this.#tasks.size > 0) {
      this.#endsAsked = now;
      const consumer = this.#consumer;
      const partitions: Record<string, number[]> = {};
      for (const t of this.#tasks.values()) (partitions[t.topic] ??= []).push(t.partition);
      this.#endsAsking = consumer
        .listOffsets({
          topics: Object.keys(partitions),
          partitions,
          timestamp: -1n,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        })
        .then((ends) => {
          const at = Date.now();
          for (const [topic, offsets] of ends)
            for (const p of partitions[topic] ?? []) {
              const end = offsets[p];
              if (end !== undefined) this.#ends.set(`${topic}:${p}`, { end, at });
            }
        })
        // The brokers away: the last answer stays, and ageMs says how old it is.
        .catch(() => {});
    }
    return out;
  }

  /** Starts keeping warm standby copies, if asked to (`standbys.ts`). */
  #startStandbys(): void {
    if (this.#standbyOptions === undefined) return;
    this.#standbys = new Standbys({
      options: this.#standbyOptions,
      brokers: this.#brokers,
      topic: this.changelogTopic,
      clientId: `${this.applicationId}-${this.#instanceId}-standby`,
      partitions: this.#partitions,
      instances: () => this.instances(),
      assignedHere: (p) => this.#assignedHere(p),
    });
    this.#standbys.start(
      this.#warming
        ? {
            targets: () => this.#warmupTargets(),
            done: () => this.#warmedUp(),
            timeoutMs: this.#warmupTimeoutMs,
          }
        : undefined,
      this.#balance !== undefined && this.#warmupTimeoutMs > 0
        ? { targets: () => this.#moveTargets(), ready: (ps) => this.#movesReady(ps) }
        : undefined,
    );
  }

  /** The key-group partitions the group's load rule would move here (`plannedMovesTo`). */
  #moveTargets(): Promise<number[] | undefined> {
    return this.#askGroup((members, topic, self) =>
      plannedMovesTo(this.#balance, members, topic, this.#partitions, self),
    );
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
    const self = this.#consumer?.memberId;
    const topic = this.#source?.keyed;
    if (self === undefined || self === null || topic === undefined) return undefined;
    const admin = new Admin({ clientId: `${this.applicationId}-members`, bootstrapBrokers: this.#brokers });
    try {
      return plan(await describeSubscriptions(admin, this.applicationId), topic, self);
    } finally {
      await admin.close().catch(() => {});
    }
  }

  /**
   * Copies of partitions a load move will bring here have read to the end:
   * a rejoin reports them, and the leader makes the move it held back. Only
   * for copies not reported yet, and not while a rebalance is under way.
   */
  #movesReady(partitions: readonly number[]): void {
    const consumer = this.#consumer;
    if (this.#closing || consumer === undefined || this.#joined?.generation !== consumer.generationId) return;
    if (partitions.every((p) => this.#reportedWarm.has(p) || this.#assignedHere(p))) return;
    consumer.joinGroup().catch(() => {});
  }

  /**
   * Whether this process should warm up before it takes partitions: it keeps
   * standby copies, warm-up is on, and other instances run the application
   * already (a first start has nobody to take state from, so it does not wait).
   */
  async #joinsRunningApp(): Promise<boolean> {
    const topic = this.#source?.keyed;
    if (this.#standbyOptions === undefined || this.#warmupTimeoutMs === 0 || topic === undefined)
      return false;
    const admin = new Admin({ clientId: `${this.applicationId}-members`, bootstrapBrokers: this.#brokers });
    try {
      const members = await describeSubscriptions(admin, this.applicationId);
      return [...members.values()].some((m) =>
        m.ownedPartitions?.some((o) => o.topic === topic && o.partitions.length > 0),
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
      members.has(self) ? wouldAssign(this.#balance, members, topic, this.#partitions, self) : undefined,
    );
  }

  /** The warm-up is over: say so in the group (a rejoin), which then hands this process its partitions. */
  #warmedUp(): void {
    this.#warming = false;
    if (this.#closing) return;
    this.#consumer?.joinGroup().catch(() => {});
  }

  /** The warm copies this process keeps, as the group hears of them (`topic:partition` → offset read to). */
  #warmCopies(): Map<string, number> | undefined {
    const topic = this.#source?.keyed;
    const copies = topic === undefined ? undefined : this.#standbys?.warmCopies(topic);
    this.#reportedWarm = new Set(
      [...(copies?.keys() ?? [])].map((split) => Number(split.slice(topic!.length + 1))),
    );
    return copies;
  }

  /** How long the run loop may wait before looking again: at most 1 s, less when a task's restart is due. */
  #nextWake(): number {
    let wake = 1000;
    const now = Date.now();
    for (const r of this.#taskRestarts.values()) if (r.at > now) wake = Math.min(wake, r.at - now + 1);
    return wake;
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
    if (read === undefined || this.#source?.keyBy !== undefined) return;
    const keyBys = nodes.filter((n) => n.kind === 'keyBy' && n.inputs.some((i) => i.node === read.id));
    const keyBy = keyBys.length === 1 ? keyBys[0]!.stage : undefined;
    this.#keyOf = keyBy === undefined ? undefined : (keyBy.fn as (value: unknown) => Key);
  }

  /**
   * A consumer in the application's group. The client gives up rejoining the
   * group after a few failed attempts (a broker down for longer) and stays out
   * of it, so the application then makes a new one (#reconcile): the tasks
   * keep running meanwhile, and the new member gets its partitions back from
   * the sticky assignor.
   */
  #newConsumer(): void {
    this.#joined = undefined;
    this.#consumerLost = false;
    const consumer = committedReads(
      new Consumer({
        clientId: `${this.applicationId}-${this.#instanceId}-consumer`,
        bootstrapBrokers: this.#brokers,
        groupId: this.applicationId,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        // Partitions stay where they are when the group changes; only the moved ones are handed over.
        // Its user data tells the other instances who this is and where it answers state queries.
        protocols: [
          {
            name: 'cooperative-sticky',
            version: 3,
            metadata: memberData(this.#instanceId, this.#endpoint),
          },
        ],
        partitionAssigner: loadAwareAssignor(
          this.#balance,
          this.#remembered,
          (members) => {
            this.#groupSize = members;
            this.#probedAt = Date.now();
          },
          undefined,
          // Load moves to an instance without a copy wait while it warms one up (its standbys do).
          this.#standbyOptions !== undefined && this.#warmupTimeoutMs > 0
            ? { timeoutMs: this.#warmupTimeoutMs, pending: this.#pendingMoves }
            : undefined,
        ),
        // Computed at every join: who this is, where it answers, and the load of what it runs.
        protocolsMetadata: () =>
          memberData(
            this.#instanceId,
            this.#endpoint,
            this.#partitionLoads(),
            this.#warmCopies(),
            this.#warming,
          ),
        sessionTimeout: this.#sessionTimeoutMs,
        rebalanceTimeout: Math.max(this.#sessionTimeoutMs, 60_000),
        heartbeatInterval: Math.min(3000, Math.floor(this.#sessionTimeoutMs / 3)),
        // Kafka's own consumer defaults. The client's are 50 MB for both, so one fetch of a backlog
        // could be 50 MB decoded at once: memory far past bufferSize, a long wait for the first record,
        // and a decoding several times slower (fetch.ts).
        ...FETCH_LIMITS,
      }),
    );
    this.#consumer = consumer;
    consumer.on('error', (e: unknown) => {
      if (this.#consumer !== consumer) return;
      this.#consumerLost = true;
      this.#lostBecause = e;
      this.#kick();
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
        this.#kick();
      },
    );
    consumer.on('consumer:group:rebalance', () => this.#kick());
  }

  /**
   * Checks the input topics and creates what the application needs: the
   * changelog and repartition topics, and the dead-letter topic, each taking
   * records at least as large as the widest input's (an older, smaller
   * internal topic is raised), so that every record read can be forwarded
   * or dead-lettered (issue 19, point 9).
   */
  async #prepareTopics(inputs: string[], repartition: boolean): Promise<void> {
    const admin = new Admin({ clientId: `${this.applicationId}-admin`, bootstrapBrokers: this.#brokers });
    try {
      const found = await describeTopics(admin, inputs);
      const counts = new Set(inputs.map((t) => found.get(t)?.partitions ?? 0));
      if (counts.has(0) || (!repartition && counts.size !== 1)) {
        throw configError(
          'the input topics of a Kafka application must exist',
          inputs.map((t) => `${t}:${found.get(t)?.partitions ?? 0} partitions`).join(', '),
          'create them first',
        );
      }
      // The key groups: the repartition topic's partitions (as many as the widest input), or the input's.
      this.#partitions = Math.max(...counts);
      const limit = await this.#internalLimit(admin);
      const dlq = this.#source!.deadLetterTopic;
      if (dlq !== undefined) {
        // Transactional sends do not create topics on the fly. A topic the user made keeps its limit;
        // dead letters are cut to fit it.
        const info = await ensureTopic(admin, {
          topic: dlq,
          partitions: -1,
          minMaxMessageBytes: limit,
          grow: false,
        });
        this.#limits.set(dlq, info.maxMessageBytes);
      }
      const internal: [string, string][] = [[this.changelogTopic, 'compact']];
      if (repartition) internal.push([this.repartitionTopic, 'delete']);
      for (const [topic, policy] of internal) {
        const info = await ensureTopic(admin, {
          topic,
          partitions: this.#partitions,
          configs: { 'cleanup.policy': policy },
          minMaxMessageBytes: limit,
        });
        this.#limits.set(topic, info.maxMessageBytes);
        if (topic === this.changelogTopic && info.partitions !== this.#partitions) {
          throw configError(
            `the changelog topic ${this.changelogTopic} has ${info.partitions} partitions, but the application's key groups are ${this.#partitions}`,
            info.partitions,
            'keep the input partition count, or start a new application id',
          );
        }
      }
    } finally {
      await admin.close().catch(() => {});
    }
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
    if (this.#consumerLost) {
      const delay = this.#appFailed(
        "the application's consumer",
        this.#lostBecause ??
          new EddyError('EDDY_IO_FAILED', 'the consumer left the group and could not rejoin it'),
        Date.now(),
      );
      this.#restarts++;
      options.onRestart?.(
        `the consumer lost the group; joining again with a new one in ${delay} ms`,
        this.#restarts,
      );
      await sleep(delay);
      // The old member leaves first (if the broker still counts it): else the group waits for its
      // session to expire before the new one's join completes.
      await closeConsumer(this.#consumer!);
      this.#newConsumer();
      try {
        await this.#openStream(topics);
      } catch (e) {
        this.#consumerLost = true; // not in the group yet either: next round, another one
        throw e;
      }
      return; // the new member's assignment comes with its join
    }
    const joined = this.#joined;
    const consumer = this.#consumer!;
    // A rebalance in progress: wait for its assignment.
    if (joined === undefined || joined.generation !== consumer.generationId) return;
    const source = this.#source!;
    const want = new Map<string, { topic: string; partition: number; kind: 'state' | 'forward' }>();
    for (const a of joined.assignments) {
      if (!topics.includes(a.topic)) continue;
      const kind = a.topic === source.keyed ? 'state' : 'forward';
      for (const partition of a.partitions)
        want.set(`${a.topic}:${partition}`, { topic: a.topic, partition, kind });
    }
    let changed = this.#streamBroken;
    const now = Date.now();
    for (const task of [...this.#tasks.values()]) {
      const failure = task.failure;
      if (want.has(task.split) && failure === undefined) continue;
      changed = true;
      let delay = 0;
      if (failure !== undefined) {
        // Issue 19 (point 10): a task failing every time (a record its sink refuses, say) restarted
        // ~30 times a second for ever. Now it waits a growing backoff, and too many failures fail the run.
        let r = this.#taskRestarts.get(task.split);
        if (r === undefined)
          this.#taskRestarts.set(
            task.split,
            (r = { strategy: new RestartStrategy(this.#restart), waits: transientWaits(), at: 0 }),
          );
        let d: number | undefined;
        if (task.commits > 0) r.transientSince = undefined;
        if (isTransientKafkaError(task.error)) {
          // The brokers away or busy (an outage, a coordinator loading its transactions after one):
          // waited out for reconnectTimeoutMs, as Kafka Streams' task.timeout.ms does, without using
          // up the failure limit meant for failures that repeat (a refused record, say).
          r.transientSince ??= now;
          if (now - r.transientSince > this.#reconnectTimeoutMs) {
            await this.#stopTask(task, { savepoint: false });
            this.#fatal ??= gaveUp(
              `partition task ${task.split} could not reach the brokers ${this.#brokers.join(',')} for ${now - r.transientSince} ms (reconnectTimeoutMs ${this.#reconnectTimeoutMs}); check that they run, or raise reconnectTimeoutMs`,
              task.error ?? failure,
            );
            throw this.#fatal;
          }
          d = r.waits.onFailure(now);
        } else {
          r.transientSince = undefined;
          d = r.strategy.onFailure(now);
        }
        if (d === undefined) {
          await this.#stopTask(task, { savepoint: false });
          this.#fatal ??= gaveUp(
            r.strategy.exhaustedMessage(`partition task ${task.split}`),
            task.error ?? failure,
          );
          throw this.#fatal;
        }
        delay = d;
        r.at = now + d;
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
      ([split]) => !this.#tasks.has(split) && (this.#taskRestarts.get(split)?.at ?? 0) <= Date.now(),
    );
    if (arriving.length > 0) {
      changed = true;
      // Fence, read offsets and state of all arriving partitions at once; start their jobs one by one.
      const firstStream = this.#streamId + 1;
      const prepared = await Promise.allSettled(
        arriving.map(([, w]) => this.#prepareTask(w.topic, w.partition, w.kind, firstStream)),
      );
      const failed = prepared.find((r) => r.status === 'rejected');
      if (failed !== undefined || this.#joined !== joined) {
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
            limitOf: this.#limitOf,
            intervalMs: this.#intervalMs,
            resume: () => this.#maybeResume(),
          });
        else await this.#startJob(task, restore, await pipelines(), options);
      }
    }
    if (changed) await this.#openStream(topics);
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

  /** A task for an arriving partition: fenced, at its committed offset, its key group read from the changelog. */
  async #prepareTask(
    topic: string,
    partition: number,
    kind: 'state' | 'forward',
    firstStream: number,
  ): Promise<Prepared> {
    const task = new PartitionTask({
      topic,
      partition,
      kind,
      applicationId: this.applicationId,
      clientId: `${this.applicationId}-${this.#instanceId}-producer`,
      brokers: this.#brokers,
      groupId: this.applicationId,
      coordinator: async () => (await this.#consumer!.findGroupCoordinator()) as number,
      firstStream,
      limitOf: this.#limitOf,
    });
    try {
      // Fencing first: the previous owner's open transaction is aborted (or completes) before the
      // offset and the state are read, so both are final.
      await task.fence();
      task.next = await this.#committedOffset(topic, partition);
      if (kind === 'forward') return { task, restore: undefined };
      // After fencing the changelog's end is final: read to it, from the start or from where the
      // warm standby is.
      const started = Date.now();
      const standbys = this.#standbys;
      // Whether a warm copy of it is here (a copy that has read the changelog at least once).
      const warm = standbys?.replica.position(partition) !== undefined;
      const read = () =>
        readChangelog({
          bootstrapBrokers: this.#brokers,
          topic: this.changelogTopic,
          partitions: [partition],
          maxParallelism: this.#partitions,
          pipeline: this.#pipelineName,
          clientId: `${this.applicationId}-${this.#instanceId}`,
          ...(standbys === undefined ? {} : { replica: standbys.replica }),
        });
      const restore = await (standbys === undefined ? read() : standbys.restoring(partition, read));
      this.#restores.push({
        partition,
        ms: Date.now() - started,
        records: restore.records,
        standby: warm,
        at: started,
      });
      if (this.#restores.length > 32) this.#restores.shift();
      const marks = restore.extras.get(partition);
      if (marks !== undefined) {
        const pairs = JSON.parse(marks.toString('utf8')) as [string, string][];
        task.marks = new Map(pairs.map(([split, o]) => [split, BigInt(o)]));
      }
      return { task, restore };
    } catch (e) {
      await task.close();
      throw e;
    }
  }

  /** Starts the job of a key-group partition, restored from its changelog. */
  async #startJob(
    task: PartitionTask,
    restore: Prepared['restore'],
    pipeline: Pipeline,
    options: KafkaAppRunOptions,
  ): Promise<void> {
    const store = new ChangelogStore({
      topic: this.changelogTopic,
      send: (messages) => task.send(messages as TxMessage[]),
      commit: () => task.commit(),
      owned: () => new Set([task.partition]),
      written: restore!.written,
      extras: () =>
        task.marksAtBarrier === undefined ? new Map() : new Map([[task.partition, task.marksAtBarrier]]),
      // Parts well below the changelog's limit: a part also carries its key and the batch's overhead.
      partBytes: Math.min(PART_BYTES, this.#limitOf(this.changelogTopic) - 4096),
    });
    task.idle = () => store.idle();
    if (this.#changelogLayout === 'key-groups' && restore!.entries)
      throw configError(
        `kafkaApp "${this.applicationId}": changelog ${this.changelogTopic} partition ${task.partition} holds state as entries (written with changelog: "entries"), which changelog: "key-groups" cannot take over`,
        'key-groups',
        'keep changelog: "entries" (the default), or reset the application (eddy kafka reset --app-id) and start again from the input',
      );
    const job = pipeline.createJob({
      parallelism: 1,
      maxParallelism: this.#partitions,
      // `entries`: each commit writes only the entries changed since the last one (changelog.ts); a
      // changelog written whole per key group is rewritten as entries once.
      stateBackend:
        this.#changelogLayout === 'key-groups'
          ? new HeapStateBackend(this.#partitions)
          : new HeapStateBackend(this.#partitions, {
              deltas: {
                fullFirst: [...(restore!.written.get(task.partition)?.keys() ?? [])].some((k) =>
                  k.startsWith('c/state/'),
                ),
              },
            }),
      checkpoints: { storage: store, intervalMs: this.#intervalMs },
      ...(restore!.loaded === undefined ? {} : { restoreFrom: restore!.loaded }),
      onCheckpoint: (info) => {
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
      },
    });
    task.job = job;
    this.#opening = task;
    try {
      await job.start();
    } finally {
      this.#opening = undefined;
    }
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
    task.stopping = true;
    if (o.savepoint && task.failure === undefined) {
      task.pausing = true;
      task.wake?.();
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

  /**
   * (Re)opens the message stream: each task's partition at the offset after
   * what it has buffered (or its committed offset), other partitions at their
   * end (until a task runs for them).
   * The new stream is opened before the old one is closed, so the consumer
   * stays in the group.
   */
  async #openStream(topics: string[]): Promise<void> {
    const old = this.#stream;
    const id = ++this.#streamId;
    const offsets = [...this.#tasks.values()].map((t) => ({
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
      this.#consumerLost = true;
      this.#lostBecause = e;
      throw e;
    }
    this.#streamBroken = false;
    if (old !== undefined) {
      old.removeAllListeners('data');
      await old.close().catch(() => {});
    }
    this.#stream = stream;
    const bufferSize = this.#source!.bufferSize;
    stream.on('data', (m: Message) => {
      if (this.#stream !== stream) return;
      const task = this.#tasks.get(`${m.topic}:${m.partition}`);
      // Only a stream opened after the task started reads its partition from where the task is.
      if (task === undefined || task.closed || id < task.firstStream || m.offset < task.next) return;
      task.next = m.offset + 1n;
      task.buffer.push(m);
      if (task.backlog() >= bufferSize && !stream.isPaused()) stream.pause();
      task.wake?.();
    });
    stream.on('error', () => {
      if (this.#stream !== stream) return;
      // The tasks keep what they buffered; the next round opens a new stream where they are.
      this.#streamBroken = true;
      this.#kick();
    });
  }

  #maybeResume(): void {
    const stream = this.#stream;
    if (stream === undefined || !stream.isPaused()) return;
    const half = this.#source!.bufferSize / 2;
    for (const t of this.#tasks.values()) if (t.backlog() >= half) return;
    stream.resume();
  }

  /**
   * The committed offset of a partition, once no transaction that commits
   * an offset for it is pending (the broker answers "unstable" until then);
   * the earliest offset if none was committed.
   */
  async #committedOffset(topic: string, partition: number): Promise<bigint> {
    const admin = new Admin({ clientId: `${this.applicationId}-offsets`, bootstrapBrokers: this.#brokers });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const groups = await admin.listConsumerGroupOffsets({
            groups: [
              { groupId: this.applicationId, topics: [{ name: topic, partitionIndexes: [partition] }] },
            ],
            requireStable: true,
          });
          for (const t of groups[0]?.topics ?? [])
            for (const p of t.partitions)
              if (t.name === topic && p.partitionIndex === partition && p.committedOffset >= 0n)
                return p.committedOffset;
          break;
        } catch (e) {
          if (Date.now() > deadline || !hasKafkaError(e, 'UNSTABLE_OFFSET_COMMIT')) throw e;
          await sleep(50);
        }
      }
      const earliest = await this.#consumer!.listOffsets({ topics: [topic], timestamp: -2n });
      return earliest.get(topic)?.[partition] ?? 0n;
    } finally {
      await admin.close().catch(() => {});
    }
  }
}

type Prepared = { task: PartitionTask; restore: Awaited<ReturnType<typeof readChangelog>> | undefined };

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

/**
 * The delays between a task's restarts while the brokers are away: from
 * 100 ms doubling to 2 s (Kafka's reconnect.backoff.max.ms is 1 s), so a task
 * is back within about 2 s of the brokers; never exhausted (reconnectTimeoutMs
 * bounds how long).
 */
function transientWaits(): RestartStrategy {
  return new RestartStrategy({
    initialBackoffMs: 100,
    maxBackoffMs: 2000,
    maxFailures: Number.MAX_SAFE_INTEGER,
  });
}

/** The error `run` rejects with once restarting gave up: what failed and how often, then the last error. */
function gaveUp(what: string, last: unknown): EddyError {
  const code: ErrorCode = last instanceof EddyError ? last.code : 'EDDY_IO_FAILED';
  return new EddyError(code, `${what}; last error: ${errorText(last)}`, { cause: last });
}
