/**
 * kafkaSource with checkpoints commits the group's offsets only when a
 * checkpoint completes, up to that checkpoint's barrier (against the real
 * broker).
 *
 * Found by CI (the CQRS projection's SIGKILL test, test/patterns/projection):
 * the source committed offsets once a second after processing, checkpoints or
 * not. A process killed after such a commit but before its first checkpoint
 * completed left the group's offsets past records whose effect on keyed state
 * was lost with it; the next start found no checkpoint, read from the
 * committed offsets, and folded later events onto empty state ("event version
 * 8 after 0").
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaSource } from '../../src/connectors/kafka/index.ts';
import { collectSink, Pipeline, valueState } from '../../src/index.ts';
import { createTopics, kafkaReady, sleep, until } from './helpers.ts';

const kafka = await kafkaReady();

interface Tick {
  readonly key: string;
  readonly n: number;
}

describe('kafkaSource offsets with checkpoints', { skip: kafka.skip }, () => {
  it('commits nothing before a checkpoint completes, then exactly up to its barrier', {
    timeout: 120_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const brokers = kafka.address.split(',');
    const run = `eddy-commit-${process.pid}-${Date.now()}`;
    const topic = `${run}-in`;
    const groupId = `${run}-g`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    const producer = new Producer({
      clientId: 'eddy-test',
      bootstrapBrokers: brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    const dir = mkdtempSync(join(tmpdir(), 'eddy-source-commit-'));
    const committed = async (): Promise<Map<number, bigint>> => {
      const at = new Map<number, bigint>();
      const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
      for (const t of group?.topics ?? [])
        for (const p of t.partitions)
          if (p.committedOffset >= 0n) at.set(p.partitionIndex, p.committedOffset);
      return at;
    };
    try {
      await createTopics(admin, { [topic]: { partitions: 2 } });
      const ticks: Tick[] = Array.from({ length: 200 }, (_, n) => ({ key: `k${n % 10}`, n }));
      await producer.send({
        messages: ticks.map((t) => ({
          topic,
          key: Buffer.from(t.key),
          value: Buffer.from(JSON.stringify(t)),
        })),
      });
      const seen = collectSink<number>();
      const p = new Pipeline({ name: 'source-commit' });
      p.source('ticks', kafkaSource<Tick>({ topics: [topic], groupId, brokers }))
        .keyBy((t) => t.key)
        .withState({ count: valueState<number>() })
        .process<number>({
          processElement(_t, ctx) {
            const n = (ctx.state.count.get() ?? 0) + 1;
            ctx.state.count.set(n);
            ctx.emit(n);
          },
        })
        .sink(seen);
      // No periodic checkpoint completes during the test: only the one taken by hand below.
      const running = await p.start({ checkpoints: { dir, intervalMs: 3_600_000 } });
      try {
        await until('all 200 records passed through', () => seen.values.length >= ticks.length);
        // The source keeps polling (empty batches); without checkpoints it would commit within a second.
        await sleep(3000);
        assert.deepEqual(
          [...(await committed())],
          [],
          'no offset committed while no checkpoint has completed: state for those records is not durable',
        );
        await running.checkpoint();
        let last = new Map<number, bigint>();
        await until(
          'the checkpoint’s offsets (all 200 records, over both partitions) are committed',
          async () => {
            last = await committed();
            return [...last.values()].reduce((s, o) => s + o, 0n) === 200n;
          },
          { context: () => `committed: ${[...last].map(([p, o]) => `${p}@${o}`).join(', ')}` },
        );
      } finally {
        running.stop();
        await running.done;
      }
      assert.equal(seen.values.length, ticks.length);
    } finally {
      await producer.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.deleteGroups({ groups: [groupId] }).catch(() => {});
      await admin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
