/**
 * Issue 13: several keyed stages from the library, without the CLI.
 * `kafkaPipeline(options).run(build)` takes the same two-stage pipeline the
 * CLI test runs (test/cli/fixtures/two-stages.ts: views per user and window,
 * then users and views per activity tier and window), cuts it into one
 * Kafka application per keyed stage, and runs them. Two instances in this
 * process share the partitions; the output, read as Kafka's Java consumer
 * reads it (read_committed), must equal a batch computation written without
 * the engine, each window once. Aborting stops every stage with a savepoint
 * and `run` resolves.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import { readToEnd } from '../../../src/connectors/kafka/read-to-end.ts';
import { type KafkaPipeline, kafkaPipeline } from '../../../src/deploy/kafka/index.ts';
import { clickInput } from '../../cli/both-ways.ts';
import fixture, { type TierCount } from '../../cli/fixtures/two-stages.ts';
import { counted, oracle, WINDOW } from '../../cli/two-stages-oracle.ts';
import { createTopics, kafkaReady, readCommittedJava, until } from '../../kafka/helpers.ts';

const kafka = await kafkaReady();
const PARTITIONS = 3;
const DISORDER = 500;

describe('kafkaPipeline: a pipeline with two keyed stages from the library', { skip: kafka.skip }, () => {
  it(
    'two instances in one process give the batch result, each window once, and stop with a savepoint',
    {
      timeout: 300_000,
    },
    () => twoStages(undefined),
  );

  // A broker refuses Kafka timestamps an hour or more ahead of its clock (log.message.timestamp.
  // after.max.ms): event time crosses the repartition and stage topics in a header, or every
  // transaction carrying such a record failed and the tasks restarted in a loop.
  it(
    'the same with event times three hours ahead of the broker clock',
    {
      timeout: 300_000,
    },
    () => twoStages(Date.now() + 3 * 3_600_000),
  );
});

async function twoStages(base: number | undefined): Promise<void> {
  {
    const brokers = kafka.address!.split(',');
    const seed = Number(process.env['EDDY_SEED'] ?? Date.now() % 100_000);
    const { messages, clicks, end } = clickInput(seed, {
      partitions: PARTITIONS,
      window: WINDOW,
      disorder: DISORDER,
      ...(base === undefined ? {} : { base }),
    });
    const expected = oracle(clicks);
    assert.ok(expected.size > 10, `${expected.size} windows`);
    const id = randomUUID().slice(0, 8);
    const input = `eddy-lib-stages-in-${id}`;
    const output = `eddy-lib-stages-out-${id}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    await createTopics(admin, { [input]: { partitions: PARTITIONS }, [output]: { partitions: PARTITIONS } });
    const build = () =>
      fixture.build({
        brokers: brokers.join(','),
        input,
        output,
        group: `unused-${id}`,
        window: WINDOW,
        disorder: DISORDER,
        idle: 0,
        combine: false,
      });
    const applicationId = `eddy-lib-stages-${id}`;
    const stop = new AbortController();
    const assigned = new Map<string, Set<number>>();
    const instances: { kp: KafkaPipeline; done: Promise<void> }[] = ['i0', 'i1'].map((instanceId) => {
      const kp = kafkaPipeline({ applicationId, brokers, instanceId, commitIntervalMs: 300 });
      const done = kp.run(build, {
        signal: stop.signal,
        onAssigned: (stage, partitions) => {
          for (const p of partitions) {
            const key = `${instanceId}/${stage.applicationId}`;
            assigned.set(key, new Set([...(assigned.get(key) ?? []), p]));
          }
        },
      });
      return { kp, done };
    });
    const producer = new Producer({
      clientId: 'eddy-test',
      bootstrapBrokers: brokers,
      acks: ProduceAcks.ALL,
    });
    try {
      await until('both instances run partitions of both stages', () => assigned.size === 4, {
        timeoutMs: 180_000,
        context: () => JSON.stringify([...assigned].map(([k, v]) => [k, [...v]])),
      });
      for (const { kp } of instances)
        assert.deepEqual(
          kp.apps.map((a) => a.applicationId),
          [applicationId, `${applicationId}-by-tier`],
        );
      for (let i = 0; i < messages.length; i += 500)
        await producer.send({ messages: messages.slice(i, i + 500).map((m) => ({ ...m, topic: input })) });
      const written = async () => {
        const out: TierCount[] = [];
        await readToEnd({
          bootstrapBrokers: brokers,
          topic: output,
          clientId: 'eddy-test-lib-stages',
          onMessage: (m) => out.push(JSON.parse(m.value!.toString()) as TierCount),
        });
        return out;
      };
      await until(
        'every window written',
        async () => counted(await written(), end, 'progress').size >= expected.size,
        {
          timeoutMs: 180_000,
          context: () => `seed ${seed} (EDDY_SEED=${seed} replays it)`,
        },
      );
      assert.ok(
        instances.some(({ kp }) => kp.metrics().sourceRecords > 0),
        'the first stage counts its input',
      );
    } finally {
      stop.abort();
      await producer.close();
    }
    await Promise.all(instances.map((i) => i.done));
    const committed = (await readCommittedJava(brokers.join(','), output, { atLeast: 1 })).map(
      (r) => JSON.parse(r.value) as TierCount,
    );
    const sorted = (m: Map<string, string>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    assert.deepEqual(sorted(counted(committed, end, 'kafkaPipeline')), sorted(expected), `seed ${seed}`);
    await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
    await admin.close();
  }
}
