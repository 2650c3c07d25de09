/**
 * HTTP ingest with adaptive rate control (issue 18), on 127.0.0.1: while the
 * pipeline is held a burst four times its queue's worth is mostly refused
 * (429 naming the rate and a Retry-After) instead of queued, so the queue —
 * the memory — stays small; every record answered 202 reaches the sink
 * exactly once after the pipeline is let go; and the admitted rate rises
 * again once it processes. Every wait is for a condition, never a duration.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpSource } from '../../../src/connectors/http/index.ts';
import { collectSink, EddyError, Pipeline } from '../../../src/index.ts';
import { waitUntil } from '../broker-service.ts';
import { post } from './helpers.ts';

describe('HTTP ingest: adaptive rate control', () => {
  it('a burst against a held pipeline is refused, not queued; what was accepted arrives once; the rate recovers', {
    timeout: 120_000,
  }, async () => {
    const QUEUE = 5_000;
    const source = httpSource<{ id: number }>({
      port: 0,
      queueSize: QUEUE,
      rateControl: { minRate: 20, intervalMs: 20 },
      parse: (v) => v as { id: number },
    });
    let held = true;
    const waiting: (() => void)[] = [];
    const sink = collectSink<{ id: number }>();
    const p = new Pipeline({ name: 'rate-control', batchSize: 50 });
    p.source('in', source)
      .mapAsync(
        async (r) => {
          if (held) await new Promise<void>((resolve) => waiting.push(resolve));
          return r;
        },
        { concurrency: 4 },
      )
      .sink(sink);
    const running = await p.start({ restart: false, parallelism: 1 });
    const { url } = await source.listening();
    let next = 0;
    const accepted: number[] = [];
    const refusedBodies: string[] = [];
    const send = async (n: number) => {
      const ids = Array.from({ length: n }, () => next++);
      const r = await post(
        url,
        'application/x-ndjson',
        `${ids.map((id) => JSON.stringify({ id })).join('\n')}\n`,
      );
      if (r.status === 202) accepted.push(...ids);
      else {
        assert.equal(r.status, 429, JSON.stringify(r.body));
        assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
        refusedBodies.push(r.body.error ?? '');
      }
      return r.status;
    };
    try {
      // Held: the async step takes a few records and stops; the rest wait in the queue, not taken: a stall.
      for (let i = 0; i < 10 && source.stats().rate !== 20; i++) await send(50);
      await waitUntil('the stall drove the rate to its minimum', () => source.stats().rate === 20);
      // A burst four times the queue's size (20,000 records in 400 requests) against a pipeline doing nothing.
      for (let i = 0; i < 400; i++) await send(50);
      const stats = source.stats();
      const refusedByRate = refusedBodies.filter((b) => /rateControl/.test(b)).length;
      assert.ok(refusedByRate > 300, `${refusedByRate} of 400 refused by the rate`);
      assert.ok(accepted.length < QUEUE, `${accepted.length} accepted while held`);
      assert.equal(
        refusedBodies.filter((b) => /queue is full/.test(b)).length,
        0,
        'the queue never filled up',
      );
      assert.ok(
        stats.maxQueued <= accepted.length && stats.maxQueued < QUEUE,
        `${stats.maxQueued} queued at most`,
      );
      assert.match(
        refusedBodies.find((b) => /rateControl/.test(b)) ?? '',
        /processes about 20 records\/s \(rateControl\); retry after \d+ s/,
      );
      // Let go: everything accepted arrives once.
      held = false;
      for (const w of waiting.splice(0)) w();
      await waitUntil('every accepted record at the sink', () => sink.values.length >= accepted.length);
      assert.deepEqual(
        sink.values.map((r) => r.id).sort((a, b) => a - b),
        [...accepted].sort((a, b) => a - b),
      );
      // Processing freely, the admitted rate rises above its floor.
      await waitUntil('the rate recovered', async () => {
        await send(5);
        return (source.stats().rate ?? 0) > 20;
      });
      await waitUntil('the last records at the sink', () => sink.values.length >= accepted.length);
      assert.equal(new Set(sink.values.map((r) => r.id)).size, sink.values.length, 'no duplicates');
    } finally {
      held = false;
      for (const w of waiting.splice(0)) w();
      running.stop();
      await running.done;
    }
  });

  it('misconfiguration fails fast, naming the option', () => {
    for (const rateControl of [{ minRate: 0 }, { intervalMs: 1 }, { gain: 1 }, 'yes'])
      assert.throws(
        () => httpSource({ port: 0, rateControl: rateControl as never }),
        (e: unknown) => e instanceof EddyError && /rateControl/.test(e.message),
      );
  });
});
