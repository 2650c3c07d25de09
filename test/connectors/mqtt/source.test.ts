/**
 * mqttSource against a real Mosquitto: QoS 1 messages reach the pipeline
 * (totals equal a batch sum over the same seeded input, with checkpoints
 * on); undecodable payloads are dead-lettered; the persistent session keeps
 * what is published while the pipeline is down; a shared subscription
 * divides the messages between two instances, each message to one. The
 * source declares that it is not replayable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mqttSource } from '../../../src/connectors/mqtt/index.ts';
import { collectSink, type DeadLetter, Pipeline } from '../../../src/index.ts';
import { Random } from '../../../src/util/random.ts';
import { mqttSkip, plainClient, uniquePrefix, waitUntil } from './helpers.ts';

const skip = await mqttSkip();

interface Reading {
  readonly id: number;
  readonly device: string;
  readonly value: number;
}

function readings(n: number, seed: number, from = 0): Reading[] {
  const g = new Random(seed);
  return Array.from({ length: n }, (_, i) => ({ id: from + i, device: `d${g.int(7)}`, value: g.int(100) }));
}

async function publishAll(topic: string, values: readonly unknown[]): Promise<void> {
  const pub = await plainClient({ clientId: `h2-pub-${process.pid}-${Math.random().toString(36).slice(2)}` });
  try {
    await Promise.all(
      values.map((v) => pub.publishAsync(topic, typeof v === 'string' ? v : JSON.stringify(v), { qos: 1 })),
    );
  } finally {
    await pub.endAsync();
  }
}

/** Ends a persistent session at the broker. */
async function forget(clientId: string): Promise<void> {
  const c = await plainClient({ clientId, clean: true, properties: { sessionExpiryInterval: 0 } });
  await c.endAsync();
}

function pipelineOf(topic: string, clientId: string, group?: string) {
  const out = collectSink<Reading>();
  const dead = collectSink<DeadLetter>();
  const p = new Pipeline({ batchSize: 256 });
  p.source(
    'readings',
    mqttSource<Reading>({ topics: [topic], clientId, ...(group === undefined ? {} : { group }) }),
  ).sink(out);
  p.deadLetters().sink(dead);
  return { p, out, dead };
}

describe('mqttSource', { skip, timeout: 180_000 }, () => {
  it('declares that it cannot replay', () => {
    assert.equal(mqttSource({ topics: ['a/#'], clientId: 'x' }).replayable, false);
    assert.throws(() => mqttSource({ topics: ['$share/g/a'], clientId: 'x' }), /group option/);
    assert.throws(() => mqttSource({ topics: ['a/#'] } as never), /needs clientId/);
  });

  it('delivers QoS 1 messages (totals equal a batch sum) with checkpoints on, and dead-letters undecodable payloads', async () => {
    const prefix = uniquePrefix('source');
    const clientId = `h2-src-${process.pid}-${Date.now()}`;
    const dir = mkdtempSync(join(tmpdir(), 'h2-mqtt-'));
    const { p, out, dead } = pipelineOf(`${prefix}/readings`, clientId);
    const running = await p.start({ checkpoints: { dir, intervalMs: 100 } });
    try {
      const input = readings(3000, 23);
      await publishAll(`${prefix}/readings`, [
        ...input.slice(0, 1500),
        '{not json',
        ...input.slice(1500),
        'nope',
      ]);
      await waitUntil(() => out.values.length >= input.length && dead.values.length >= 2, 'all messages');
      running.stop();
      await running.done;
      const sum = (rs: readonly Reading[]) => {
        const m = new Map<string, number>();
        for (const r of rs) m.set(r.device, (m.get(r.device) ?? 0) + r.value);
        return m;
      };
      const ids = new Set(out.values.map((r) => r.id));
      assert.equal(ids.size, input.length, 'every message arrived');
      // QoS 1 may deliver a message twice only after a lost PUBACK; nothing was lost here, so the sums match exactly.
      assert.deepEqual(sum(out.values), sum(input));
      assert.equal(dead.values.length, 2);
      assert.ok(
        dead.values.every((d) => d.code === 'EDDY_DECODE_FAILED' && d.reason.includes(`${prefix}/readings`)),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await forget(clientId);
    }
  });

  it('keeps what is published while the pipeline is down in its persistent session', async () => {
    const prefix = uniquePrefix('session');
    const clientId = `h2-sess-${process.pid}-${Date.now()}`;
    try {
      const first = pipelineOf(`${prefix}/r`, clientId);
      const r1 = await first.p.start();
      await publishAll(`${prefix}/r`, readings(100, 1));
      await waitUntil(() => first.out.values.length >= 100, 'the first 100');
      r1.stop();
      await r1.done;
      // Down: these wait at the broker under the session.
      const later = readings(500, 2, 100);
      await publishAll(`${prefix}/r`, later);
      const second = pipelineOf(`${prefix}/r`, clientId);
      const r2 = await second.p.start();
      await waitUntil(() => second.out.values.length >= later.length, 'the 500 published while down');
      r2.stop();
      await r2.done;
      assert.deepEqual(new Set(second.out.values.map((r) => r.id)), new Set(later.map((r) => r.id)));
    } finally {
      await forget(clientId);
    }
  });

  it('with a shared subscription two instances divide the messages, each message to one of them', async () => {
    const prefix = uniquePrefix('shared');
    const group = `g${process.pid}`;
    const ids = [`h2-sh-a-${process.pid}-${Date.now()}`, `h2-sh-b-${process.pid}-${Date.now()}`];
    const a = pipelineOf(`${prefix}/r`, ids[0]!, group);
    const b = pipelineOf(`${prefix}/r`, ids[1]!, group);
    const ra = await a.p.start();
    const rb = await b.p.start();
    try {
      const input = readings(2000, 9);
      await publishAll(`${prefix}/r`, input);
      await waitUntil(
        () => a.out.values.length + b.out.values.length >= input.length,
        'all 2000 between the two',
      );
      const seenA = new Set(a.out.values.map((r) => r.id));
      const seenB = new Set(b.out.values.map((r) => r.id));
      assert.ok(
        seenA.size > 0 && seenB.size > 0,
        `both instances got messages (${seenA.size}, ${seenB.size})`,
      );
      assert.equal([...seenA].filter((id) => seenB.has(id)).length, 0, 'no message went to both');
      assert.equal(seenA.size + seenB.size, input.length);
    } finally {
      ra.stop();
      rb.stop();
      await Promise.all([ra.done, rb.done]);
      await Promise.all(ids.map(forget));
    }
  });
});
