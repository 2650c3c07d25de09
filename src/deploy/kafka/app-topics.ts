/**
 * The topics a Kafka application reads and writes (app.ts): its input
 * checked, its internal topics (changelog, repartition) and dead-letter topic
 * created or raised, its sinks' topics looked up once, and the
 * `max.message.bytes` of every topic its tasks write to, by which sends are
 * split and records too large are dead-lettered (issue 19, point 9).
 */
import { Admin } from '@platformatic/kafka';
import {
  type CreateTopicOptions,
  describeTopics,
  ensureTopic,
  INTERNAL_HEADROOM_BYTES,
  KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
  sinkTopic,
  type TopicInfo,
} from '../../connectors/kafka/topics.ts';
import { configError } from '../../errors/index.ts';

export interface AppTopicsOptions {
  readonly applicationId: string;
  readonly brokers: string[];
  readonly changelogTopic: string;
  readonly repartitionTopic: string;
  /** The input topics (the app.source's), once known. */
  readonly inputs: () => readonly string[];
}

export class AppTopics {
  readonly #o: AppTopicsOptions;
  /** The sinks' topics, looked up (or created) once. */
  readonly #sinks = new Map<string, Promise<TopicInfo>>();
  /** max.message.bytes of every topic the tasks write to. */
  readonly #limits = new Map<string, number>();
  /** A topic's max.message.bytes (Kafka's default for one not looked up). */
  readonly limitOf = (topic: string): number => this.#limits.get(topic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;

  constructor(o: AppTopicsOptions) {
    this.#o = o;
  }

  #inputPartitions = new Map<string, number>();

  /**
   * Input partition `partition` of `topic` as one of all input partitions
   * (`from`, in the order of the inputs) and their number (`of`): a
   * forwarding task's place in the watermarks it carries (forwarder.ts).
   */
  inputIndex(topic: string, partition: number): { readonly from: number; readonly of: number } {
    let from = 0;
    let of = 0;
    let found = false;
    for (const [t, n] of this.#inputPartitions) {
      if (t === topic) {
        from = of + partition;
        found = true;
      }
      of += n;
    }
    if (!found) throw new Error(`${topic} is not an input topic of the application`);
    return { from, of };
  }

  /** Whether `topic`'s limit is known (it was looked up or created). */
  known(topic: string): boolean {
    return this.#limits.has(topic);
  }

  /**
   * Checks the input topics and creates what the application needs: the
   * changelog and repartition topics, and the dead-letter topic, each taking
   * records at least as large as the widest input's (an older, smaller
   * internal topic is raised), so that every record read can be forwarded
   * or dead-lettered. Returns the number of key groups: the repartition
   * topic's partitions (as many as the widest input), or the input's.
   */
  async prepare(o: { repartition: boolean; deadLetterTopic: string | undefined }): Promise<number> {
    const inputs = [...this.#o.inputs()];
    const admin = this.#admin('admin');
    try {
      const found = await describeTopics(admin, inputs);
      const counts = new Set(inputs.map((t) => found.get(t)?.partitions ?? 0));
      if (counts.has(0) || (!o.repartition && counts.size !== 1)) {
        throw configError(
          'the input topics of a Kafka application must exist',
          inputs.map((t) => `${t}:${found.get(t)?.partitions ?? 0} partitions`).join(', '),
          'create them first',
        );
      }
      this.#inputPartitions = new Map(inputs.map((t) => [t, found.get(t)!.partitions]));
      const partitions = Math.max(...counts);
      const limit = await this.#internalLimit(admin);
      if (o.deadLetterTopic !== undefined) {
        // Transactional sends do not create topics on the fly. A topic the user made keeps its limit;
        // dead letters are cut to fit it.
        const info = await ensureTopic(admin, {
          topic: o.deadLetterTopic,
          partitions: -1,
          minMaxMessageBytes: limit,
          grow: false,
        });
        this.#limits.set(o.deadLetterTopic, info.maxMessageBytes);
      }
      const changelog = this.#o.changelogTopic;
      const internal: [string, string][] = [[changelog, 'compact']];
      if (o.repartition) internal.push([this.#o.repartitionTopic, 'delete']);
      for (const [topic, policy] of internal) {
        const info = await ensureTopic(admin, {
          topic,
          partitions,
          configs: { 'cleanup.policy': policy },
          minMaxMessageBytes: limit,
        });
        this.#limits.set(topic, info.maxMessageBytes);
        if (topic === changelog && info.partitions !== partitions) {
          throw configError(
            `the changelog topic ${changelog} has ${info.partitions} partitions, but the application's key groups are ${partitions}`,
            info.partitions,
            'keep the input partition count, or start a new application id',
          );
        }
      }
      return partitions;
    } finally {
      await admin.close().catch(() => {});
    }
  }

  /**
   * A sink's topic, looked up once (created when `create` says so, else a
   * missing topic is an error naming it); `dlq`: a dead-letter topic, created
   * sized like the app's internal topics when missing.
   */
  sink(topic: string, create: CreateTopicOptions | undefined, dlq = false): Promise<TopicInfo> {
    let known = this.#sinks.get(topic);
    if (known === undefined) {
      known = (async () => {
        const admin = this.#admin('sink');
        try {
          const info = dlq
            ? await ensureTopic(admin, {
                topic,
                partitions: -1,
                minMaxMessageBytes: await this.#internalLimit(admin),
                grow: false,
              })
            : await sinkTopic(admin, 'app.sink', topic, this.#o.brokers, create);
          this.#limits.set(topic, info.maxMessageBytes);
          return info;
        } finally {
          await admin.close().catch(() => {});
        }
      })();
      known.catch(() => this.#sinks.delete(topic));
      this.#sinks.set(topic, known);
    }
    return known;
  }

  /** The max.message.bytes of the topics eddy creates: the widest input's, plus room for eddy's headers. */
  async #internalLimit(admin: Admin): Promise<number> {
    const inputs = await describeTopics(admin, [...this.#o.inputs()]);
    const widest = Math.max(
      KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
      ...[...inputs.values()].map((i) => i.maxMessageBytes),
    );
    return widest + INTERNAL_HEADROOM_BYTES;
  }

  #admin(role: string): Admin {
    return new Admin({ clientId: `${this.#o.applicationId}-${role}`, bootstrapBrokers: this.#o.brokers });
  }
}
