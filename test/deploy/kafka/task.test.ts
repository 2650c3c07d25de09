/**
 * A Kafka application's partition task (deploy/kafka/task.ts) against the
 * real broker: once a commit failed, no later commit of the task may
 * succeed.
 *
 * The bug it pins (CI, the broker-restart suite): a commit failed while the
 * broker was away, the task's writers stayed sealed (the output made after
 * that checkpoint's barrier was held for the next transaction), and the
 * run's next checkpoint committed the same open transaction with the later
 * offset once the broker was back. The task then went back to its last
 * commit — which now covered records whose output had never been written:
 * one partition's outputs 1130–1999 were missing from the committed output.
 * Here the failure is injected deterministically (the group coordinator
 * lookup fails once) instead of waiting for an outage to fall between two
 * checkpoints.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin, Consumer, type Message } from '@platformatic/kafka';
import { readToEnd } from '../../../src/connectors/kafka/read-to-end.ts';
import { PartitionTask, TxWriter } from '../../../src/deploy/kafka/task.ts';
import { EddyError } from '../../../src/index.ts';
import { createTopics, kafkaReady } from '../../kafka/helpers.ts';

const kafka = await kafkaReady();

describe('a partition task (real broker)', { skip: kafka.skip }, () => {
  const brokers = (kafka.address ?? '').split(',');

  it('refuses every commit after a failed one, so held output is never passed by a committed offset', {
    timeout: 90_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const id = randomUUID().slice(0, 8);
    const input = `eddy-task-in-${id}`;
    const output = `eddy-task-out-${id}`;
    const group = `eddy-task-${id}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      await createTopics(admin, { [input]: { partitions: 1 }, [output]: { partitions: 1 } });
    } finally {
      await admin.close();
    }
    let lookups = 0;
    // The group's coordinator, found as the application finds it (its consumer).
    const consumer = new Consumer({ groupId: group, clientId: 'eddy-test', bootstrapBrokers: brokers });
    const findCoordinator = async () => (await consumer.findGroupCoordinator()) as number;
    const task = new PartitionTask({
      topic: input,
      partition: 0,
      kind: 'state',
      applicationId: `eddy-task-${id}`,
      clientId: 'eddy-test-task',
      brokers,
      groupId: group,
      // The first commit fails where an outage makes it fail: after the output was sent.
      coordinator: async () => {
        if (lookups++ === 0) throw new Error('the group coordinator is not available (injected)');
        return findCoordinator();
      },
      firstStream: 0,
    });
    const sink = new TxWriter(task);
    const out = (n: number) => ({ topic: output, partition: 0, value: Buffer.from(String(n)) });
    // Input records `from` to `to - 1` buffered and taken, as the stream and the source do.
    const take = (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        task.receive({ topic: input, partition: 0, offset: BigInt(n) } as Message, 0);
        task.take();
      }
    };
    try {
      await task.fence();
      // Checkpoint 1: records 0-4 taken, their output sent, the barrier at offset 5.
      await sink.send([out(0), out(1), out(2), out(3), out(4)]);
      take(0, 5);
      task.markBarrier();
      sink.seal();
      await assert.rejects(task.commit(), /injected/);
      // Records 5-9 are processed: their output is held for the next transaction.
      await sink.send([out(5), out(6), out(7), out(8), out(9)]);
      // Checkpoint 2, the coordinator back: its offset (10) would cover output that is only held.
      take(5, 10);
      task.markBarrier();
      await assert.rejects(task.commit(), (e: unknown) => {
        assert.ok(e instanceof EddyError, String(e));
        assert.equal(e.code, 'EDDY_STATE_INVALID');
        assert.match(e.message, /no commit after a failed one; the task goes back to its last commit/);
        return true;
      });
      assert.equal(task.commits, 0);
    } finally {
      await task.close();
      await consumer.close();
    }
    // Nothing committed: no offset for the group, no output visible to read_committed readers.
    const check = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      const offsets = await check.listConsumerGroupOffsets({
        groups: [{ groupId: group, topics: [{ name: input, partitionIndexes: [0] }] }],
      });
      const committed = offsets[0]?.topics.flatMap((t) => t.partitions.map((p) => p.committedOffset)) ?? [];
      assert.ok(
        committed.every((o) => o < 0n),
        `no offset committed for the group (got ${committed.join(',')})`,
      );
    } finally {
      await check.close();
    }
    const seen: string[] = [];
    await readToEnd({
      bootstrapBrokers: brokers,
      topic: output,
      clientId: 'eddy-test-read',
      onMessage: (m) => seen.push(m.value!.toString()),
    });
    assert.deepEqual(seen, [], 'no output committed');
  });
});
