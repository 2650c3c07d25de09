/**
 * `eddy kafka reset` (issue 13), against the real broker: refused while an
 * instance runs (naming it); `--dry-run` lists the internal topics and the
 * committed offsets and deletes nothing; a reset deletes them, and the next
 * start reads the input from the beginning with empty state (its running
 * counts start again from 1).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { internalTopics, kafkaApp, kafkaPartition } from '../../src/deploy/kafka/index.ts';
import { eddy } from '../helpers/cli.ts';
import { type Counted, countingPipeline, createTopics, kafkaReady, until } from './helpers.ts';

const kafka = await kafkaReady();
const _BIN = new URL('../../bin/eddy.js', import.meta.url).pathname;

describe('eddy kafka reset', { skip: kafka.skip }, () => {
  it('refuses while an instance runs; a dry run deletes nothing; a reset starts the application over', {
    timeout: 300_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const id = `eddy-reset-${randomUUID().slice(0, 8)}`;
    const input = `${id}-in`;
    const output = `${id}-out`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    const producer = new Producer({
      clientId: 'eddy-test',
      bootstrapBrokers: brokers,
      acks: ProduceAcks.ALL,
    });
    try {
      await createTopics(admin, { [input]: { partitions: 2 }, [output]: { partitions: 2 } });
      const keys = ['a', 'b', 'c', 'd'];
      await producer.send({
        messages: keys.flatMap((key) =>
          [1, 2, 3].map(() => ({
            topic: input,
            key: Buffer.from(key),
            partition: kafkaPartition(key, 2),
            value: Buffer.from(JSON.stringify({ key })),
          })),
        ),
      });
      const read = async () => {
        const out: Counted[] = [];
        await readToEnd({
          bootstrapBrokers: brokers,
          topic: output,
          clientId: 'eddy-test-reset',
          onMessage: (m) => out.push(JSON.parse(m.value!.toString()) as Counted),
        });
        return out;
      };
      // A running count per key, in one instance until `want` outputs are committed.
      const runUntil = async (want: number, during?: () => Promise<void>) => {
        const app = kafkaApp({ applicationId: id, brokers, commitIntervalMs: 200 });
        const stop = new AbortController();
        const running = app.run(() => countingPipeline(app, input, output, 'reset'), { signal: stop.signal });
        try {
          await until(`${want} outputs`, async () => (await read()).length >= want, { timeoutMs: 120_000 });
          await during?.();
        } finally {
          stop.abort();
          await running;
        }
      };
      await runUntil(12, async () => {
        const r = await eddy(['kafka', 'reset', '--app-id', id, '--brokers', brokers.join(',')], {
          timeoutMs: 120_000,
        });
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`"${id}" still runs: 1 instance\\(s\\) in its group .*stop every instance`),
        );
      });
      const topics = internalTopics(id);
      const dry = await eddy(
        ['kafka', 'reset', '--app-id', id, '--brokers', brokers.join(','), '--dry-run'],
        { timeoutMs: 120_000 },
      );
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /dry run: nothing deleted/);
      assert.match(dry.stdout, new RegExp(`internal topics would delete: .*${topics.changelog}`));
      assert.match(dry.stdout, new RegExp(`with 2 committed offsets: .*${input}:0@\\d+`));
      assert.ok((await admin.listTopics()).includes(topics.changelog), 'a dry run deletes nothing');

      const reset = await eddy(['kafka', 'reset', '--app-id', id, '--brokers', brokers.join(',')], {
        timeoutMs: 120_000,
      });
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stdout, /internal topics deleted: /);
      await until('the internal topics are gone', async () => {
        const left = await admin.listTopics();
        return !left.includes(topics.changelog) && !left.includes(topics.repartition);
      });
      // Started again: the input from the beginning, counts from 1 (state empty), 12 more outputs.
      await runUntil(24);
      // Both runs' output (read per partition, so not in run order): each key counted 1, 2, 3 twice.
      const out = (await read()).sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : x.count - y.count));
      assert.deepEqual(
        out,
        keys.flatMap((key) => [1, 1, 2, 2, 3, 3].map((count) => ({ key, count }))),
        'after the reset every key counts again from 1 (with no reset: 4, 5, 6)',
      );
    } finally {
      await producer.close();
      await admin
        .deleteTopics({ topics: [input, output, ...Object.values(internalTopics(id))] })
        .catch(() => {});
      await admin.close();
    }
  });

  it('names a bad --app-id and a bad broker list, exit 2', async () => {
    const noId = await eddy(['kafka', 'reset']);
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /--app-id <id> names the application to reset.*received none/);
    const bad = await eddy(['kafka', 'reset', '--app-id', 'x', '--brokers', 'nohost'], {
      timeoutMs: 120_000,
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Kafka brokers must be host:port/);
  });
});
