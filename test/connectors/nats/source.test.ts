/**
 * The JetStream source against the local server: acknowledgements wait for
 * the checkpoint that covers them (or the next poll without checkpoints),
 * redeliveries are counted and not handed out twice, malformed payloads are
 * dead-lettered with their reason, and misconfiguration fails fast naming
 * the bad value and the fix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { natsSource } from '../../../src/connectors/nats/index.ts';
import type { SourceContext } from '../../../src/core/connector.ts';
import { collectSink, type DeadLetter, type EddyError, Pipeline, systemClock } from '../../../src/index.ts';
import { waitUntil } from '../broker-service.ts';
import { MALFORMED, NATS_URL, natsFixture, natsService, uniqueName } from './helpers.ts';

const service = await natsService();

interface Rec {
  readonly id: number;
}

const records = (n: number): Rec[] => Array.from({ length: n }, (_, id) => ({ id }));
/** In id order: with EDDY_PARALLELISM=2 two subtasks share the consumer and their records interleave. */
const ids = (values: readonly Rec[]) => values.map((r) => r.id).sort((a, b) => a - b);

function context(over: Partial<SourceContext> = {}): SourceContext & { letters: string[] } {
  const letters: string[] = [];
  return {
    stepId: 'in',
    clock: systemClock,
    batchSize: 100,
    deadLetter: (_code, reason) => void letters.push(reason),
    signal: new AbortController().signal,
    subtask: 0,
    parallelism: 1,
    jobStart: 0,
    checkpointing: true,
    ...over,
    letters,
  };
}

describe('NATS JetStream source', { skip: service.skip }, () => {
  it('with checkpoints, acknowledges only when the checkpoint after the records completes', async () => {
    const nats = await natsFixture();
    const dir = mkdtempSync(join(tmpdir(), 'h1-nats-src-'));
    try {
      const stream = uniqueName('S');
      const consumer = uniqueName('c');
      await nats.stream(stream);
      await nats.publish(
        stream,
        records(300).map((r) => JSON.stringify(r)),
      );
      const out = collectSink<Rec>();
      const p = new Pipeline({ name: 'nats-acks' });
      p.source('in', natsSource<Rec>({ stream, consumer, servers: NATS_URL })).sink(out);
      const running = await p.start({ checkpoints: { dir, intervalMs: 0 }, restart: false });
      await waitUntil('300 records arrive', () => out.values.length === 300);
      // Processed, but no checkpoint yet: every message is still delivered and unacknowledged.
      assert.deepEqual(await nats.consumerState(stream, consumer), { ackPending: 300, pending: 0 });
      assert.equal((await running.checkpoint()).error, undefined);
      await waitUntil('the checkpoint acknowledged them', async () => {
        return (await nats.consumerState(stream, consumer)).ackPending === 0;
      });
      running.stop();
      await running.done;
      assert.deepEqual(ids(out.values), ids(records(300)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await nats.cleanup();
    }
  });

  it('without checkpoints, acknowledges at the next poll; malformed payloads are dead-lettered with the reason', async () => {
    const nats = await natsFixture();
    try {
      const stream = uniqueName('S');
      const consumer = uniqueName('c');
      await nats.stream(stream);
      await nats.publish(stream, [
        ...records(200).map((r) => JSON.stringify(r)),
        ...MALFORMED.map((m) => m.payload),
      ]);
      const out = collectSink<Rec>();
      const dead = collectSink<DeadLetter>();
      const p = new Pipeline({ name: 'nats-plain' });
      const source = natsSource<Rec>({ stream, consumer, servers: NATS_URL });
      p.source('in', source).sink(out);
      p.deadLetters().sink(dead);
      const running = await p.start({ restart: false });
      await waitUntil('every message is handled and acknowledged', async () => {
        const s = await nats.consumerState(stream, consumer);
        return out.values.length === 200 && dead.values.length === MALFORMED.length && s.ackPending === 0;
      });
      running.stop();
      await running.done;
      assert.deepEqual(ids(out.values), ids(records(200)));
      assert.ok(dead.values.every((d) => d.code === 'EDDY_DECODE_FAILED'));
      for (const [i, m] of MALFORMED.entries()) {
        const letter = dead.values.find((d) => d.reason.startsWith(`${m.code}: `))!;
        assert.match(
          letter.reason,
          new RegExp(`^${m.code}: .*\\(subject ${stream}\\.in, stream ${stream} sequence ${201 + i}\\)$`),
        );
      }
      assert.equal(source.stats().deadLettered, MALFORMED.length);
      assert.equal(source.stats().acked, 200 + MALFORMED.length);
    } finally {
      await nats.cleanup();
    }
  });

  it('counts redeliveries and does not hand a message out twice; acknowledges on completion', async () => {
    const nats = await natsFixture();
    try {
      const stream = uniqueName('S');
      const consumer = uniqueName('c');
      await nats.stream(stream);
      await nats.publish(
        stream,
        records(5).map((r) => JSON.stringify(r)),
      );
      const source = natsSource<Rec>({ stream, consumer, servers: NATS_URL, ackWaitMs: 1000 });
      const reader = await source.open(context());
      const got: Rec[] = [];
      // Held unacknowledged past the ack wait, the messages come again: counted, not handed out again.
      await waitUntil('the server redelivers', async () => {
        const b = await reader.poll(100);
        got.push(...(b?.values ?? []));
        return source.stats().redelivered >= 5;
      });
      assert.deepEqual(got, records(5));
      assert.ok(source.stats().skipped >= 5);
      reader.position!(1);
      await reader.checkpointComplete!(1);
      await waitUntil(
        'acknowledged',
        async () => (await nats.consumerState(stream, consumer)).ackPending === 0,
      );
      await reader.close?.();
    } finally {
      await nats.cleanup();
    }
  });

  it('fails fast on misconfiguration, naming the value and the fix', async () => {
    const nats = await natsFixture();
    try {
      assert.throws(
        () => natsSource({ stream: 'S', consumer: 'c', servers: 'http://127.0.0.1:4222' }),
        (e: EddyError) =>
          e.code === 'EDDY_CONFIG_INVALID' && /"http:\/\/127\.0\.0\.1:4222".*nats:\/\//.test(e.message),
      );
      assert.throws(
        () => natsSource({ stream: 'a.b', consumer: 'c' }),
        /option stream must be a NATS name.*received "a\.b"/,
      );
      assert.throws(
        () => natsSource({ stream: 'S', consumer: 'c', ackWait: 5 } as never),
        /natsSource has no option "ackWait".*ackWaitMs/,
      );
      assert.throws(
        () => natsSource({ stream: 'S' } as never),
        /natsSource needs consumer.*pass \{ consumer:/,
      );
      const missing = uniqueName('MISSING');
      await assert.rejects(
        Promise.resolve(natsSource({ stream: missing, consumer: 'c', servers: NATS_URL }).open(context())),
        (e: EddyError) =>
          e.code === 'EDDY_CONFIG_INVALID' &&
          e.message.includes(`stream "${missing}" does not exist`) &&
          e.message.includes('createStream: true'),
      );
      await assert.rejects(
        Promise.resolve(
          natsSource({ stream: 'S', consumer: 'c', servers: '127.0.0.1:1', connectTimeoutMs: 2000 }).open(
            context(),
          ),
        ),
        (e: EddyError) =>
          e.code === 'EDDY_IO_FAILED' &&
          e.message.includes('127.0.0.1:1') &&
          e.message.includes('fix servers'),
      );
      // Told to, the source creates the stream.
      const created = uniqueName('NEW');
      const reader = await natsSource({
        stream: created,
        consumer: 'c',
        servers: NATS_URL,
        createStream: true,
      }).open(context());
      await reader.close?.();
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const jsm = await jetstreamManager(nats.nc);
      assert.deepEqual((await jsm.streams.info(created)).config.subjects, [`${created}.>`]);
      await jsm.streams.delete(created);
    } finally {
      await nats.cleanup();
    }
  });
});
