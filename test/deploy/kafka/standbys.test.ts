/**
 * A Kafka application's standby copies (src/deploy/kafka/standbys.ts): a
 * restore that reads through them is reported while it runs
 * (`Standbys.inFlight`, what `KafkaAppMetrics.restoring` reports): when it
 * began, the changelog records read so far, the offset read next and the end
 * it reads to — and no longer once it has settled. The first test needs no
 * broker; the second reads a real topic and samples the restore between its
 * fetches: every sample's next offset is the records read (a topic written
 * without transactions, from offset 0), and a finished cold restore has read
 * exactly its end; a warm one then reads only the tail, from the copy's
 * position.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admin, type MessageToProduce } from '@platformatic/kafka';
import type { RestoreProgress } from '../../../src/connectors/kafka/app-options.ts';
import { Standbys } from '../../../src/deploy/kafka/standbys.ts';
import { createTopics, kafkaReady, testProducer } from '../../kafka/helpers.ts';

const kafka = await kafkaReady();

function standbys(brokers: string[], topic: string): Standbys {
  return new Standbys({
    options: { intervalMs: 60_000, replicas: 'all' },
    brokers,
    topic,
    clientId: `${topic}-test`,
    partitions: 2,
    instances: async () => [],
    assignedHere: () => false,
  });
}

/** Runs `restore` of partition `p` and samples `inFlight()` at every turn of the event loop until it settles. */
async function sampled<T>(
  s: Standbys,
  p: number,
  restore: () => Promise<T>,
): Promise<{ result: T; samples: RestoreProgress[][] }> {
  const samples: RestoreProgress[][] = [];
  let settled = false;
  const run = s.restoring(p, restore).finally(() => {
    settled = true;
  });
  while (!settled) {
    samples.push(s.inFlight());
    await new Promise((r) => setImmediate(r));
  }
  return { result: await run, samples };
}

describe('Standbys: restores under way', () => {
  it('reports a restore from when it begins until it settles, failed or not', async () => {
    const s = standbys(['127.0.0.1:1'], 'nowhere');
    let finish!: (v: string) => void;
    const before = Date.now();
    const done = s.restoring(1, () => new Promise<string>((r) => (finish = r)));
    const [entry, ...others] = s.inFlight();
    assert.deepEqual(others, []);
    assert.deepEqual(
      { ...entry!, at: 0 },
      { partition: 1, at: 0, records: 0, offset: -1, end: -1, standby: false },
    );
    assert.ok(entry!.at >= before && entry!.at <= Date.now(), `began at ${entry!.at}`);
    finish('restored');
    assert.equal(await done, 'restored');
    assert.deepEqual(s.inFlight(), []);
    await assert.rejects(
      s.restoring(0, async () => {
        assert.equal(s.inFlight()[0]?.partition, 0);
        throw new Error('the brokers are away');
      }),
      /the brokers are away/,
    );
    assert.deepEqual(s.inFlight(), [], 'a failed restore is no longer under way');
  });

  it('on the broker: records read, next offset and end while it reads; a cold restore reads to its end, a warm one the tail', {
    skip: kafka.skip,
    timeout: 120_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const topic = `standbys-progress-${Date.now().toString(36)}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    const producer = testProducer(brokers);
    const value = Buffer.alloc(1000, 'v');
    // Partition 1 gets about 3 MB: several fetches of at most 1 MiB each, so the restore is seen between them.
    const produce = async (from: number, count: number) => {
      for (let i = from; i < from + count; i += 500) {
        const messages: MessageToProduce[] = [];
        for (let k = i; k < Math.min(i + 500, from + count); k++)
          messages.push({ topic, partition: 1, key: Buffer.from(`k${k}`), value });
        await producer.send({ messages });
      }
    };
    try {
      await createTopics(admin, { [topic]: { partitions: 2 } });
      await produce(0, 3000);
      await producer.send({ messages: [{ topic, partition: 0, key: Buffer.from('other'), value }] });
      const s = standbys(brokers, topic);

      const cold = await sampled(s, 1, () => s.replica.catchUp([1]));
      assert.equal(cold.result, 3000);
      const seen = cold.samples.flat();
      assert.ok(seen.length > 0);
      assert.ok(
        seen.every((r) => r.partition === 1 && !r.standby),
        'only partition 1, read cold',
      );
      const reading = seen.filter((r) => r.offset >= 0);
      assert.ok(
        reading.some((r) => r.end === 3000 && r.records < 3000),
        `seen mid-read: ${JSON.stringify(reading.map((r) => [r.records, r.offset, r.end]))}`,
      );
      for (const r of reading) {
        assert.equal(r.end, 3000, 'the end it reads to');
        assert.equal(r.offset, r.records, 'from offset 0, the next offset is the records read');
      }
      for (let i = 1; i < seen.length; i++)
        assert.ok(seen[i]!.records >= seen[i - 1]!.records, 'never goes back');
      assert.deepEqual(s.inFlight(), []);
      assert.equal(s.replica.position(1), 3000n, 'read == end once finished');

      await produce(3000, 500);
      const warm = await sampled(s, 1, () => s.replica.catchUp([1]));
      assert.equal(warm.result, 500, 'the warm copy reads only the tail');
      const tail = warm.samples.flat();
      assert.ok(
        tail.every((r) => r.standby),
        'read on from the copy kept here',
      );
      for (const r of tail.filter((x) => x.offset >= 0)) {
        assert.equal(r.end, 3500);
        assert.equal(r.offset, 3000 + r.records);
      }
      assert.equal(s.replica.position(1), 3500n);
      assert.deepEqual(s.inFlight(), []);
    } finally {
      await producer.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.close();
    }
  });
});
