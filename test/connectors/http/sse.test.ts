/**
 * The SSE push sink on 127.0.0.1 (ephemeral ports): a client receives every
 * result of an HTTP → SSE pipeline as an event, in order, exactly as
 * serialized; heartbeats arrive on an idle stream; a client that stops
 * reading is dropped with the reason while a reading client keeps every
 * event; a token is required when set; misconfiguration is named.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { describe, it } from 'node:test';
import { httpSource, sseSink } from '../../../src/connectors/http/index.ts';
import { EddyError, Pipeline, systemClock } from '../../../src/index.ts';
import { waitUntil } from '../broker-service.ts';
import { post, sseClient } from './helpers.ts';

const TOKEN = 'h5-sse-token-0123456789';

describe('SSE push sink', () => {
  it('a client receives every result of an HTTP -> SSE pipeline, in order, as sent', async () => {
    const source = httpSource<{ id: number; s: string }>({ port: 0 });
    const sink = sseSink<{ id: number; s: string; twice: number }>({ port: 0, event: 'result' });
    const p = new Pipeline({ name: 'http-sse' });
    p.source('in', source)
      .map((r) => ({ ...r, twice: r.id * 2 }))
      .sink(sink);
    const running = await p.start({ restart: false, parallelism: 1 });
    try {
      const [{ url: ingest }, { url: events }] = await Promise.all([source.listening(), sink.listening()]);
      const client = await sseClient(events);
      assert.equal(client.status, 200);
      await waitUntil('the client is connected', () => sink.stats().clients === 1);
      const input = Array.from({ length: 1000 }, (_, id) => ({ id, s: `ü ${id}\nline two` }));
      for (let i = 0; i < input.length; i += 100) {
        const body = input
          .slice(i, i + 100)
          .map((r) => JSON.stringify(r))
          .join('\n');
        assert.equal((await post(ingest, 'application/x-ndjson', body)).status, 202);
      }
      await waitUntil('1000 events arrive', () => client.events.length >= 1000);
      assert.deepEqual(
        client.events.map((e) => JSON.parse(e.data)),
        input.map((r) => ({ ...r, twice: r.id * 2 })),
      );
      assert.ok(client.events.every((e, i) => e.event === 'result' && e.id === String(i + 1)));
      client.close();
    } finally {
      running.stop();
      await running.done;
    }
  });

  it('heartbeats keep an idle stream alive; a token is required when set', async () => {
    const sink = sseSink<number>({ port: 0, heartbeatMs: 50, token: TOKEN });
    const w = await sink.open({ stepId: 'out', clock: systemClock, checkpointing: false });
    try {
      const { url } = await sink.listening();
      const denied = await sseClient(url);
      assert.equal(denied.status, 401);
      const wrong = await sseClient(url, `${TOKEN}!`);
      assert.equal(wrong.status, 401);
      const client = await sseClient(url, TOKEN);
      assert.equal(client.status, 200);
      await waitUntil('two heartbeats', () => client.comments.filter((c) => c === 'heartbeat').length >= 2);
      await w.write([1, 2], [0, 0]);
      await waitUntil('two events', () => client.events.length >= 2);
      assert.deepEqual(
        client.events.map((e) => e.data),
        ['1', '2'],
      );
      client.close();
    } finally {
      await w.close?.();
    }
  });

  it('a client that stops reading is dropped with the reason; a reading client keeps every event', async () => {
    const sink = sseSink<{ n: number; pad: string }>({ port: 0, clientBufferBytes: 64 * 1024 });
    const w = await sink.open({ stepId: 'out', clock: systemClock, checkpointing: false });
    try {
      const { url } = await sink.listening();
      const fast = await sseClient(url);
      // The slow client reads the headers, then nothing: its socket and then the sink's buffer fill up.
      const slow = await new Promise<import('node:http').IncomingMessage>((resolve, reject) =>
        get(url, resolve).on('error', reject),
      );
      slow.pause();
      slow.on('error', () => {});
      await waitUntil('both connected', () => sink.stats().clients === 2);
      const pad = 'x'.repeat(1000);
      let n = 0;
      // Lock-step with the reading client (it has every event before the next batch), bounded in time.
      await waitUntil(
        'the slow client is dropped',
        async () => {
          const batch = Array.from({ length: 20 }, () => ({ n: n++, pad }));
          await w.write(batch, []);
          await waitUntil('the reading client has the batch', () => fast.events.length >= n, 60_000);
          return sink.stats().dropped >= 1;
        },
        180_000,
      );
      const s = sink.stats();
      assert.equal(s.dropped, 1, JSON.stringify(s));
      assert.match(
        s.drops[0] ?? '',
        /^slow client 127\.0\.0\.1:\d+ dropped: \d+ bytes still unsent and \d+ more would exceed clientBufferBytes 65536$/,
      );
      assert.equal(s.clients, 1, 'the reading client stays');
      assert.deepEqual(
        fast.events.map((e) => (JSON.parse(e.data) as { n: number }).n),
        Array.from({ length: n }, (_, i) => i),
      );
      process.stdout.write(`# sse slow client dropped after ${n} events of ~1 KB\n`);
      fast.close();
      slow.destroy();
    } finally {
      await w.close?.();
    }
  });

  it('misconfiguration fails fast, naming the value and the fix', () => {
    assert.throws(
      () => sseSink({ host: '0.0.0.0' }),
      (e: unknown) =>
        e instanceof EddyError &&
        e.code === 'EDDY_CONFIG_INVALID' &&
        /sseSink would listen on "0\.0\.0\.0".*pass token/.test(e.message),
    );
    assert.throws(() => sseSink({ clientBufferBytes: 10 }), /clientBufferBytes must be at least 1024/);
    assert.throws(() => sseSink({ event: 'a\nb' }), /option event is not valid/);
    assert.equal(sseSink({ port: 0 }).guarantee, 'best-effort');
  });
});
