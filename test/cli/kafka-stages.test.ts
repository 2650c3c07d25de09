/**
 * Issue 13: several keyed stages in one Kafka application. The module
 * test/cli/fixtures/two-stages.ts keys clicks by user (views per user and
 * window), then keys the results again by activity tier (users and views per
 * tier and window). Run embedded, and as a Kafka application of two
 * instances (`eddy run --kafka`: two stage applications joined by a topic,
 * event time and watermarks carried across), over the same seeded, out of
 * order input; both outputs must equal a batch computation written without
 * the engine, each window once. The later stage's windows fire on the
 * watermark carried from every task of the first: with a watermark taken
 * from the records alone, results of a first-stage task that runs ahead
 * would close windows the others still feed.
 *
 * As in kafka-mode.test.ts: one far-future click per partition moves every
 * watermark past the data, and those windows are left out; the Kafka output
 * is read as Kafka's Java consumer reads it (read_committed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { kafkaPartition } from '../../src/connectors/kafka/index.ts';
import { eddy } from '../helpers/cli.ts';
import { kafkaReady, until } from '../kafka/helpers.ts';
import { clickInput, runBothWays } from './both-ways.ts';
import type { TierCount } from './fixtures/two-stages.ts';
import { counted, oracle, WINDOW } from './two-stages-oracle.ts';

const kafka = await kafkaReady();
const MODULE = new URL('./fixtures/two-stages.ts', import.meta.url).pathname;
const PARTITIONS = 3;
const DISORDER = 500;

describe('eddy run --kafka: a module with two keyed stages, embedded and as a Kafka application', {
  skip: kafka.skip,
}, () => {
  it('two instances (two stage applications each), one stopped and started again midway, give the batch result, as the embedded run does', {
    timeout: 600_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const seed = Number(process.env['EDDY_SEED'] ?? Date.now() % 100_000);
    const { messages, clicks, end } = clickInput(seed, {
      partitions: PARTITIONS,
      window: WINDOW,
      disorder: DISORDER,
    });
    await runBothWays<TierCount>({
      brokers,
      seed,
      module: MODULE,
      args: ['--window', String(WINDOW), '--disorder', String(DISORDER)],
      partitions: PARTITIONS,
      instances: 2,
      name: 'tiers',
      stages: (app) => [app, `${app}-by-tier`],
      messages,
      results: (out, label) => counted(out, end, label),
      expected: oracle(clicks),
      restartMidway: true,
      // Reset with the module: both stages' applications and the topic between them go.
      afterKafka: async (app) => {
        const stageTopic = `${app}-by-tier-stage`;
        const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
        try {
          assert.ok((await admin.listTopics()).includes(stageTopic));
          const flags = ['--app-id', app, '--brokers', brokers.join(',')];
          const withoutModule = await eddy(['kafka', 'reset', ...flags, '--dry-run']);
          assert.equal(withoutModule.code, 0, withoutModule.stderr);
          assert.match(
            withoutModule.stdout,
            new RegExp(`not touched: ${stageTopic}.*pass the pipeline module`),
          );
          const reset = await eddy(['kafka', 'reset', ...flags, MODULE]);
          assert.equal(reset.code, 0, reset.stderr);
          assert.match(
            reset.stdout,
            new RegExp(`stage ${app}-by-tier:\\n  internal topics deleted: .*${stageTopic}`),
          );
          await until(
            'the stage topic is gone',
            async () => !(await admin.listTopics()).includes(stageTopic),
          );
        } finally {
          await admin.close();
        }
      },
    });
  });

  it("pre-aggregated (preAggregate: true): the hot user u0's clicks in every partition are counted where read and merged in a stage of their own; one instance restarted midway", {
    timeout: 600_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const seed = Number(process.env['EDDY_SEED'] ?? Date.now() % 100_000);
    const { messages, clicks, end } = clickInput(seed, {
      partitions: PARTITIONS,
      window: WINDOW,
      disorder: DISORDER,
      hot: true,
    });
    await runBothWays<TierCount>({
      brokers,
      seed,
      module: MODULE,
      args: ['--window', String(WINDOW), '--disorder', String(DISORDER), '--combine'],
      partitions: PARTITIONS,
      instances: 2,
      name: 'combine',
      // The input stage (no repartition topic), the merge stage of the views, the tiers.
      stages: (app) => [app, `${app}-views`, `${app}-by-tier`],
      messages,
      results: (out, label) => counted(out, end, label),
      expected: oracle(clicks),
      restartMidway: true,
      afterKafka: async (app) => {
        const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
        try {
          const topics = await admin.listTopics();
          assert.ok(topics.includes(`${app}-views-stage`), 'the partials go through the merge stage topic');
          assert.ok(!topics.includes(`${app}-repartition`), 'no record is repartitioned');
        } finally {
          await admin.close();
        }
      },
    });
  });

  it('an input partition without data goes idle (8 s), and its first-stage task holds the second stage back no more', {
    timeout: 600_000,
  }, async () => {
    const seed = Number(process.env['EDDY_SEED'] ?? Date.now() % 100_000);
    const all = clickInput(seed, { partitions: PARTITIONS, window: WINDOW, disorder: DISORDER });
    // Nothing at all in partition 2, not even its far-future click: only idleness lets event time pass it.
    const messages = all.messages.filter((m) => m.partition !== 2);
    const clicks = all.clicks.filter((c) => c.user === undefined || kafkaPartition(c.user, PARTITIONS) !== 2);
    await runBothWays<TierCount>({
      brokers: kafka.address!.split(','),
      seed,
      module: MODULE,
      // Long enough that no pause of a loaded machine (a task moving, a slow fetch) makes a partition
      // with data look idle: its records would then be late behind the others, here and embedded.
      args: ['--window', String(WINDOW), '--disorder', String(DISORDER), '--idle', '8000'],
      partitions: PARTITIONS,
      instances: 2,
      name: 'idle',
      stages: (app) => [app, `${app}-by-tier`],
      messages,
      results: (out, label) => counted(out, all.end, label),
      expected: oracle(clicks),
    });
  });
});
