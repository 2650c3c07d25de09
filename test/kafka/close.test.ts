/**
 * A group consumer closed while a rejoin is in flight must not outlive its
 * close (real broker). The client arms a heartbeat when a join completes
 * after its leave, and that heartbeat, failing on the closed client,
 * rescheduled itself for ever: a CI test process stayed alive after its
 * tests had passed (test/kafka/load-balance.test.ts, whose leader rejoins
 * every 2 s). `closeConsumer` leaves the group before closing. The child
 * closes seven consumers 0–6 ms after asking each to rejoin and must then
 * exit by itself; with `consumer.close(true)` alone it stayed alive in 7 of 9
 * runs on this machine at 1–2 ms.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { createTopics, kafkaReady } from './helpers.ts';

const kafka = await kafkaReady();
const CHILD = new URL('./fixtures/close-race.ts', import.meta.url).pathname;

describe('closing a group consumer (real broker)', { skip: kafka.skip }, () => {
  it('a consumer closed right after a rejoin leaves nothing running: the process exits by itself', {
    timeout: 120_000,
  }, async () => {
    const brokers = kafka.address!;
    const topic = `eddy-close-${randomUUID().slice(0, 8)}`;
    const admin = new Admin({ clientId: 'eddy-test-close', bootstrapBrokers: brokers.split(',') });
    try {
      await createTopics(admin, { [topic]: { partitions: 2 } });
      const child = spawn(process.execPath, [CHILD, brokers, topic], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // Every consumer closed: from here the child has nothing left to do. Its heartbeat would fire every 300 ms.
      let closedAt: number | undefined;
      const closed = new Promise<void>((resolve) =>
        child.stdout.on('data', () => {
          if (out.includes('closed') && closedAt === undefined) {
            closedAt = Date.now();
            resolve();
          }
        }),
      );
      await Promise.race([closed, exited]);
      assert.ok(out.includes('closed'), `the child closed its consumers: ${err}`);
      const timer = new Promise<'alive'>((resolve) => setTimeout(() => resolve('alive'), 20_000).unref());
      const outcome = await Promise.race([exited, timer]);
      if (outcome === 'alive') child.kill('SIGKILL');
      assert.notEqual(outcome, 'alive', 'the child was still alive 20 s after closing its consumers');
      assert.equal(outcome, 0, err);
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.close();
    }
  });
});
