/**
 * The MQTT source with adaptive rate control (issue 18), against the real
 * Mosquitto: while the pipeline is held, the admitted rate falls to its
 * minimum and a burst is left with the broker instead of filling the
 * source's buffer (the client stops reading: memory stays bounded); once the
 * pipeline is let go every message arrives and the rate rises again. Without
 * rate control the same burst fills the buffer. Every wait is for a
 * condition, never a duration.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mqttSource } from '../../../src/connectors/mqtt/index.ts';
import { collectSink, EddyError, Pipeline } from '../../../src/index.ts';
import { mqttSkip, plainClient, uniquePrefix, waitUntil } from './helpers.ts';

const skip = await mqttSkip();

/** Ends a persistent session at the broker. */
async function forget(clientId: string): Promise<void> {
  const c = await plainClient({ clientId, clean: true, properties: { sessionExpiryInterval: 0 } });
  await c.endAsync();
}

/** A pipeline whose async step holds every record while `gate.held`, behind an MQTT source. */
async function heldRun(rateControl: boolean, tag: string) {
  const topic = `${uniquePrefix(tag)}/in`;
  const clientId = `eddy-rc-${tag}-${process.pid}`;
  const BUFFER = 400;
  const source = mqttSource<{ id: number }>({
    topics: [topic],
    clientId,
    bufferSize: BUFFER,
    ...(rateControl ? { rateControl: { minRate: 20, intervalMs: 20 } } : {}),
  });
  const gate = { held: true, waiting: [] as (() => void)[] };
  const sink = collectSink<{ id: number }>();
  const p = new Pipeline({ name: `mqtt-rate-${tag}`, batchSize: 50 });
  p.source('in', source)
    .mapAsync(
      async (r) => {
        if (gate.held) await new Promise<void>((resolve) => gate.waiting.push(resolve));
        return r;
      },
      { concurrency: 4 },
    )
    .sink(sink);
  const running = await p.start({ restart: false, parallelism: 1 });
  const pub = await plainClient({ clientId: `${clientId}-pub` });
  let next = 0;
  const published: number[] = [];
  const publish = async (n: number) => {
    const ids = Array.from({ length: n }, () => next++);
    await Promise.all(ids.map((id) => pub.publishAsync(topic, JSON.stringify({ id }), { qos: 1 })));
    published.push(...ids);
  };
  const release = () => {
    gate.held = false;
    for (const w of gate.waiting.splice(0)) w();
  };
  const finish = async () => {
    release();
    await pub.endAsync();
    running.stop();
    await running.done;
    await forget(clientId);
  };
  return { BUFFER, source, sink, publish, published, release, finish };
}

describe('MQTT source: adaptive rate control', { skip, timeout: 180_000 }, () => {
  it('a burst against a held pipeline stays with the broker, not in the buffer; every message arrives; the rate recovers', async (t) => {
    const run = await heldRun(true, 'on');
    try {
      // Held: the async step takes a few messages and stops; the rest wait in the buffer, not taken: a stall.
      for (let i = 0; i < 20 && run.source.stats().rate !== 20; i++) await run.publish(20);
      await waitUntil(() => run.source.stats().rate === 20, 'the stall drove the rate to its minimum');
      const before = run.source.stats().received;
      // A burst of 600 (within Mosquitto's 1,000 queued per session) against a pipeline doing nothing.
      await run.publish(600);
      const stats = run.source.stats();
      assert.ok(stats.held > 0, 'the client stopped reading for the rate');
      assert.ok(stats.maxBuffered < run.BUFFER, `${stats.maxBuffered} buffered at most, of ${run.BUFFER}`);
      assert.ok(stats.received - before < 600, `${stats.received - before} of the burst read while held`);
      t.diagnostic(
        `rate control: ${stats.received - before} of a 600-message burst read while held, at most ${stats.maxBuffered} buffered (bound ${run.BUFFER}), ${stats.held} holds`,
      );
      // Let go: everything published arrives, and the admitted rate rises above its floor.
      run.release();
      await waitUntil(
        () => new Set(run.sink.values.map((r) => r.id)).size >= run.published.length,
        'every message at the sink',
      );
      assert.deepEqual(
        [...new Set(run.sink.values.map((r) => r.id))].sort((a, b) => a - b),
        [...run.published].sort((a, b) => a - b),
      );
      await waitUntil(async () => {
        await run.publish(5);
        return (run.source.stats().rate ?? 0) > 20;
      }, 'the rate recovered');
    } finally {
      await run.finish();
    }
  });

  it('without rate control the same burst fills the buffer (the bound is the only limit)', async (t) => {
    const run = await heldRun(false, 'off');
    try {
      await run.publish(600);
      await waitUntil(() => run.source.stats().maxBuffered >= run.BUFFER, 'the buffer full');
      assert.equal(run.source.stats().held, 0);
      t.diagnostic(
        `no rate control: ${run.source.stats().maxBuffered} buffered at most (bound ${run.BUFFER})`,
      );
      run.release();
      await waitUntil(
        () => new Set(run.sink.values.map((r) => r.id)).size >= run.published.length,
        'every message at the sink',
      );
    } finally {
      await run.finish();
    }
  });

  it('misconfiguration fails fast, naming the option', () => {
    for (const rateControl of [{ minRate: 0 }, { intervalMs: 1 }, { gain: 1 }, 'yes'])
      assert.throws(
        () => mqttSource({ topics: ['a/b'], clientId: 'x', rateControl: rateControl as never }),
        (e: unknown) => e instanceof EddyError && /rateControl/.test(e.message),
      );
  });
});
