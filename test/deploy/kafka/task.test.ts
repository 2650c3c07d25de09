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
 *
 * And the send path of a commit: writers hand their messages to the task
 * without waiting for them to be acknowledged (backpressure only past
 * `TX_QUEUE_MESSAGES`), sends queued behind one in flight go out together,
 * the offset and EndTxn follow all of them, and a commit fails when any send
 * of its transaction failed, awaited by the sender or not (the changelog's
 * are not).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin, Consumer, type Message } from '@platformatic/kafka';
import { readToEnd } from '../../../src/connectors/kafka/read-to-end.ts';
import { PartitionTask, TX_QUEUE_MESSAGES, TxWriter } from '../../../src/deploy/kafka/task.ts';
import { EddyError } from '../../../src/index.ts';
import { createTopics, kafkaReady } from '../../kafka/helpers.ts';

const kafka = await kafkaReady();

describe('a partition task (real broker)', { skip: kafka.skip }, () => {
  const brokers = (kafka.address ?? '').split(',');

  /**
   * A task of a fresh input, output (2 partitions) and group, with a changelog topic if asked;
   * `coordinator` may stand between the task and the group coordinator's lookup.
   */
  async function setUp(
    withChangelog: boolean,
    coordinator: (find: () => Promise<number>) => Promise<number> = (find) => find(),
  ) {
    const id = randomUUID().slice(0, 8);
    const input = `eddy-task-in-${id}`;
    const output = `eddy-task-out-${id}`;
    const changelog = `eddy-task-changelog-${id}`;
    const group = `eddy-task-${id}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      await createTopics(admin, {
        [input]: { partitions: 1 },
        [output]: { partitions: 2 },
        ...(withChangelog ? { [changelog]: { partitions: 1 } } : {}),
      });
    } finally {
      await admin.close();
    }
    const consumer = new Consumer({ groupId: group, clientId: 'eddy-test', bootstrapBrokers: brokers });
    const task = new PartitionTask({
      topic: input,
      partition: 0,
      kind: 'state',
      applicationId: `eddy-task-${id}`,
      clientId: 'eddy-test-task',
      brokers,
      groupId: group,
      // Found as the application finds it (its consumer).
      coordinator: () => coordinator(async () => (await consumer.findGroupCoordinator()) as number),
      firstStream: 0,
      ...(withChangelog ? { changelog } : {}),
    });
    const take = (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        task.receive({ topic: input, partition: 0, offset: BigInt(n) } as Message, 0);
        task.take();
      }
    };
    const close = async () => {
      await task.close();
      await consumer.close();
    };
    const committed = async () => {
      const check = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
      try {
        const offsets = await check.listConsumerGroupOffsets({
          groups: [{ groupId: group, topics: [{ name: input, partitionIndexes: [0] }] }],
        });
        return offsets[0]?.topics.flatMap((t) => t.partitions.map((p) => p.committedOffset)) ?? [];
      } finally {
        await check.close();
      }
    };
    const read = async (topic: string) => {
      const seen: string[] = [];
      await readToEnd({
        bootstrapBrokers: brokers,
        topic,
        clientId: 'eddy-test-read',
        onMessage: (m) => seen.push(m.value!.toString()),
      });
      return seen;
    };
    return { task, take, close, committed, read, input, output, changelog };
  }

  it('writes without waiting for acknowledgements until too much is unacknowledged; one commit makes all of it visible', {
    timeout: 90_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const t = await setUp(true);
    const sink = new TxWriter(t.task);
    const dlq = new TxWriter(t.task);
    const out = (n: number) => ({ topic: t.output, partition: n % 2, value: Buffer.from(String(n)) });
    try {
      await t.task.fence();
      // Small writes return no promise: the pipeline goes on while they are sent.
      for (let b = 0; b < 20; b++) {
        const batch = Array.from({ length: 10 }, (_, i) => out(b * 10 + i));
        assert.equal(sink.write(batch), undefined, `write ${b} returned a promise`);
        if (b % 5 === 0) assert.equal(dlq.write([out(1000 + b)]), undefined);
      }
      // Past the bound, a write returns its promise: backpressure.
      const big = Array.from({ length: TX_QUEUE_MESSAGES }, (_, i) => out(2000 + i));
      const pressed = sink.write(big);
      assert.ok(pressed instanceof Promise, 'a write past TX_QUEUE_MESSAGES returns a promise');
      await pressed;
      assert.equal(sink.write([out(200)]), undefined, 'room again once acknowledged');
      // The barrier: the changelog's send is not awaited by its sender; the commit waits for it.
      t.take(0, 7);
      t.task.markBarrier();
      sink.seal();
      dlq.seal();
      void t.task.send([
        { topic: t.changelog, partition: 0, key: Buffer.from('k'), value: Buffer.from('v') },
      ]);
      // After the barrier: held for the next transaction.
      assert.equal(sink.write([out(9999)]), undefined);
      await t.task.commit();
      assert.equal(t.task.commits, 1);
    } finally {
      await t.close();
    }
    assert.deepEqual(await t.committed(), [7n], 'the offset as of the barrier');
    assert.deepEqual(await t.read(t.changelog), ['v']);
    const seen = await t.read(t.output);
    const expected = [
      ...Array.from({ length: 200 }, (_, i) => String(i)),
      ...[0, 5, 10, 15].map((b) => String(1000 + b)),
      ...Array.from({ length: TX_QUEUE_MESSAGES }, (_, i) => String(2000 + i)),
      '200',
    ];
    assert.deepEqual(
      [...seen].sort(),
      [...expected].sort(),
      'every write before the barrier, once; none after',
    );
    // In order per partition, as written.
    for (const p of [0, 1]) {
      const mine = expected.filter((v) => Number(v) % 2 === p && Number(v) < 1000);
      assert.deepEqual(
        seen.filter((v) => Number(v) % 2 === p && Number(v) < 1000),
        mine,
        `partition ${p} in write order`,
      );
    }
  });

  it('fails the commit when a send of its transaction failed, though nobody awaited that send', {
    timeout: 90_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const t = await setUp(false);
    try {
      await t.task.fence();
      const sink = new TxWriter(t.task);
      sink.write([{ topic: t.output, partition: 0, value: Buffer.from('a') }]);
      // Acknowledged: the send below is one of its own (else the two go out as one, and fail together).
      await sink.settled();
      // A changelog send as the store makes it (not awaited), to a topic that does not exist.
      t.task
        .send([
          { topic: `${t.changelog}-missing`, partition: 0, key: Buffer.from('k'), value: Buffer.from('v') },
        ])
        .catch(() => {});
      t.take(0, 3);
      t.task.markBarrier();
      sink.seal();
      await assert.rejects(t.task.commit());
      assert.equal(t.task.commits, 0);
    } finally {
      await t.close();
    }
    assert.ok(
      (await t.committed()).every((o) => o < 0n),
      'no offset committed',
    );
    assert.deepEqual(await t.read(t.output), [], 'no output committed');
  });

  it('refuses every commit after a failed one, so held output is never passed by a committed offset', {
    timeout: 90_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    let lookups = 0;
    // The first commit fails where an outage makes it fail: after the output was sent.
    const t = await setUp(false, (find) => {
      if (lookups++ === 0) throw new Error('the group coordinator is not available (injected)');
      return find();
    });
    const { task, take } = t;
    const sink = new TxWriter(task);
    const out = (n: number) => ({ topic: t.output, partition: 0, value: Buffer.from(String(n)) });
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
      await t.close();
    }
    // Nothing committed: no offset for the group, no output visible to read_committed readers.
    const committed = await t.committed();
    assert.ok(
      committed.every((o) => o < 0n),
      `no offset committed for the group (got ${committed.join(',')})`,
    );
    assert.deepEqual(await t.read(t.output), [], 'no output committed');
  });
});
