/**
 * eddy's fast path for fetched records (fast-reads.ts) against the client's
 * own messages, on a real broker: two consumers read the same topic from the
 * same offsets, one through the client's message stream, the other through
 * `fastReads`; every record must be the same in both (topic, partition,
 * offset, timestamp, leader epoch, key, value, headers), in the same order
 * per partition. The topic has keys, headers, tombstones (no value),
 * transactions that abort (their records and markers must not show), and
 * reading starts in the middle of batches (records before the fetch offset
 * must not show). Small fetches, so responses end inside batches.
 *
 * Either path may hand a record out twice: the client's stream fetches again
 * from its start offsets when the group's join completes after it began
 * (eddy's readers drop what they already have by offset), so both sides are
 * compared by offset, first sighting kept.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
} from '@platformatic/kafka';
import { committedReads } from '../../src/connectors/kafka/aborted.ts';
import { fastReads } from '../../src/connectors/kafka/fast-reads.ts';
import type { FetchedMessage } from '../../src/connectors/kafka/fetched.ts';
import { createTopics, kafkaReady, until } from './helpers.ts';

const kafka = await kafkaReady();

type Row = [string, number, string, string, number, string, string, string];

function rowOf(m: FetchedMessage): Row {
  const headers = [...(m.headers ?? [])].map(([k, v]) => `${k.toString()}=${v.toString()}`).join(',');
  return [
    m.topic,
    m.partition,
    String(m.offset),
    String(m.timestamp),
    m.leaderEpoch,
    m.key === undefined || m.key === null ? '<none>' : m.key.toString('hex'),
    m.value === undefined || m.value === null ? '<none>' : m.value.toString('hex'),
    headers,
  ];
}

describe('Kafka fast reads (real broker)', { skip: kafka.skip }, () => {
  it('hands out exactly the records the client would, field for field', { timeout: 120_000 }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const bootstrapBrokers = kafka.address.split(',');
    const topic = `eddy-test-fast-${randomUUID()}`;
    const admin = new Admin({ clientId: 'eddy-test-admin', bootstrapBrokers });
    // Idempotent: a send retried on a loaded machine wrote its records twice (CI: 311 read of 286).
    const plain = new Producer({
      clientId: 'eddy-test-plain',
      bootstrapBrokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    const tx = new Producer({
      clientId: 'eddy-test-tx',
      bootstrapBrokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      transactionalId: `eddy-test-fast-${randomUUID()}`,
    });
    let total = 0;
    try {
      await createTopics(admin, { [topic]: { partitions: 2 } });
      for (let round = 0; round < 6; round++) {
        const messages = Array.from({ length: 50 }, (_, i) => {
          const n = round * 50 + i;
          return {
            topic,
            partition: n % 2,
            ...(n % 3 === 0 ? {} : { key: Buffer.from(`k${n % 7}`) }),
            // Every eleventh record a tombstone; some values with bytes that are not UTF-8.
            ...(n % 11 === 0 ? {} : { value: Buffer.from([n & 255, 0xff, 0xfe, ...Buffer.from(`v${n}`)]) }),
            ...(n % 4 === 0
              ? {
                  headers: new Map([
                    [Buffer.from('h'), Buffer.from(`x${n}`)],
                    [Buffer.from('e'), Buffer.alloc(0)],
                  ]),
                }
              : {}),
            timestamp: BigInt(1_700_000_000_000 + n * 7),
          };
        });
        await plain.send({ messages });
        total += messages.length;
        const t = await tx.beginTransaction();
        await t.send({
          messages: [0, 1].map((partition) => ({ topic, partition, value: Buffer.from(`aborted-${round}`) })),
        });
        if (round % 2 === 0) await t.abort();
        else {
          await t.commit();
          total += 2;
        }
      }
      // Read from offsets inside the first batches: what comes before them must not show.
      const offsets = [
        { topic, partition: 0, offset: 13n },
        { topic, partition: 1, offset: 7n },
      ];
      const skipped = 13 + 7;
      const read = async (fast: boolean) => {
        const consumer = committedReads(
          new Consumer({
            clientId: `eddy-test-${fast ? 'fast' : 'client'}`,
            bootstrapBrokers,
            groupId: `eddy-test-${randomUUID()}`,
            autocommit: false,
            isolationLevel: FetchIsolationLevels.READ_COMMITTED,
            maxBytesPerPartition: 2000,
          }),
        );
        const rows: Row[] = [];
        const seen = new Set<string>();
        const add = (m: FetchedMessage) => {
          const at = `${m.partition}@${m.offset}`;
          if (seen.has(at)) return;
          seen.add(at);
          rows.push(rowOf(m));
        };
        let viaData = 0;
        let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
        try {
          stream = (await consumer.consume({
            topics: [topic],
            mode: MessagesStreamModes.MANUAL,
            offsets,
            autocommit: false,
          })) as MessagesStream<Buffer, Buffer, Buffer, Buffer>;
          if (fast)
            assert.equal(
              fastReads(consumer).attach(stream, (records) => {
                for (const m of records) add(m);
              }),
              true,
              "the stream's connection pool is found: the fast path is taken",
            );
          stream.on('data', (m: Message) => {
            viaData++;
            add(m as FetchedMessage);
          });
          await until(
            `every record after the offsets is read (${fast ? 'fast' : 'client'})`,
            () => rows.length >= total - skipped,
            {
              timeoutMs: 60_000,
              context: () => `${rows.length} of ${total - skipped}`,
            },
          );
          // A little longer: nothing more may come (no aborted records, no markers).
          await new Promise((r) => setTimeout(r, 500));
        } finally {
          await stream?.close().catch(() => {});
          await consumer.close(true);
        }
        return { rows, viaData };
      };
      const client = await read(false);
      const fast = await read(true);
      // What a wrong count holds beyond the expected: records before the offsets, or aborted ones.
      const odd = (rows: Row[]) =>
        rows
          .filter((r) => {
            const start = offsets.find((o) => o.partition === r[1])!.offset;
            const v = r[6] === '<none>' ? '' : Buffer.from(r[6], 'hex').toString('latin1');
            return BigInt(r[2]) < start || /^aborted-[024]$/.test(v);
          })
          .map((r) => `${r[1]}@${r[2]}`)
          .join(' ');
      assert.equal(
        client.rows.length,
        total - skipped,
        `the client reads every committed record after the offsets; before them or aborted: ${odd(client.rows)}`,
      );
      assert.equal(fast.viaData, 0, 'with fast reads no record comes as a data event');
      const byPartition = (rows: Row[], p: number) => rows.filter((r) => r[1] === p);
      for (const p of [0, 1])
        assert.deepEqual(byPartition(fast.rows, p), byPartition(client.rows, p), `partition ${p}`);
      const values = fast.rows.map((r) =>
        r[6] === '<none>' ? '' : Buffer.from(r[6], 'hex').toString('latin1'),
      );
      for (const round of [0, 2, 4])
        assert.ok(!values.includes(`aborted-${round}`), `no record of aborted round ${round}`);
      for (const round of [1, 3, 5])
        assert.equal(values.filter((v) => v === `aborted-${round}`).length, 2, `committed round ${round}`);
    } finally {
      await plain.close();
      await tx.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.close();
    }
  });
});
