/**
 * mqttSink against a real Mosquitto (127.0.0.1:1883): every record of a
 * seeded input published with QoS 1 (few publishes in flight, so the
 * pipeline waits on PUBACKs) arrives at an independent subscriber, on the
 * topic the record chose; misconfiguration fails fast.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mqttSink } from '../../../src/connectors/mqtt/index.ts';
import { arraySource, EddyError, Pipeline } from '../../../src/index.ts';
import { Random } from '../../../src/util/random.ts';
import { mqttSkip, plainClient, uniquePrefix, waitUntil } from './helpers.ts';

const skip = await mqttSkip();

describe('mqttSink', { skip, timeout: 180_000 }, () => {
  it('publishes each record with QoS 1 to the topic it names; the run ends only once every PUBACK came', async () => {
    const prefix = uniquePrefix('sink');
    const g = new Random(17);
    const input = Array.from({ length: 5000 }, (_, id) => ({ id, line: `l${g.int(3)}`, v: g.int(1000) }));
    const got = new Map<number, { topic: string; body: { id: number; line: string; v: number } }[]>();
    const sub = await plainClient({ clientId: `h2-sub-${process.pid}-${Date.now()}`, clean: true });
    try {
      sub.on('message', (topic, payload) => {
        const body = JSON.parse(payload.toString()) as { id: number; line: string; v: number };
        got.set(body.id, [...(got.get(body.id) ?? []), { topic, body }]);
      });
      await sub.subscribeAsync(`${prefix}/#`, { qos: 1 });
      const p = new Pipeline({ batchSize: 300 });
      p.source('input', arraySource(input)).sink(
        mqttSink<(typeof input)[number]>({ topic: (r) => `${prefix}/${r.line}`, maxInFlight: 8 }),
      );
      await p.run();
      await waitUntil(() => got.size === input.length, `all ${input.length} messages (got ${got.size})`);
      for (const r of input) {
        const copies = got.get(r.id)!;
        // QoS 1 may deliver twice; every copy is the record, on its topic.
        for (const c of copies) {
          assert.equal(c.topic, `${prefix}/${r.line}`);
          assert.deepEqual(c.body, r);
        }
      }
    } finally {
      await sub.endAsync();
    }
  });

  it('fails fast on a topic with wildcards, and names the broker it cannot reach', async () => {
    assert.throws(() => mqttSink({ topic: 'a/+/b' }), /no wildcards/);
    assert.throws(() => mqttSink({ topic: 'a', maxInFlight: 0 }), /maxInFlight.*from 1 to 65535/);
    await assert.rejects(
      Promise.resolve(
        mqttSink({ topic: 'a', url: 'mqtt://127.0.0.1:1', connectTimeoutMs: 5000 }).open({
          stepId: 'mqtt-out',
          clock: { now: () => 0 } as never,
          checkpointing: false,
        }),
      ),
      (e: unknown) => {
        assert.ok(e instanceof EddyError);
        assert.equal(e.code, 'EDDY_IO_FAILED');
        assert.match(e.message, /cannot connect to mqtt:\/\/127\.0\.0\.1:1/);
        return true;
      },
    );
  });
});
