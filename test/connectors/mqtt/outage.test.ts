/**
 * A Mosquitto broker stopped mid-stream and started again 1.5 s later on the
 * same port and persistence file: an MQTT → MQTT pipeline rides it out
 * without a restart of the run (mqtt.js reconnects; the source's persistent
 * session keeps its subscription and the messages queued for it; the sink's
 * unacknowledged QoS 1 publishes are sent again), and every message
 * published reaches the output at least once. The broker is the test's own
 * (`mosquitto` on a free port), never the shared one. It is stopped with
 * SIGTERM: Mosquitto writes its sessions to disk when it stops and at an
 * interval, so a SIGKILLed Mosquitto loses what it held since — the broker's
 * durability, not the pipeline's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { mqttSink, mqttSource } from '../../../src/connectors/mqtt/index.ts';
import { Pipeline } from '../../../src/index.ts';
import { mosquittoServer } from '../../helpers/server-process.ts';
import { mqttSkip, waitUntil } from './helpers.ts';

const skip = await mqttSkip(); // the binary comes with the shared broker's package

interface Reading {
  readonly id: number;
  readonly value: number;
}

describe('MQTT: a broker restart', { skip }, () => {
  it('the broker stopped mid-stream and restarted 1.5 s later: the run goes on, every message at least once in the output', async () => {
    // Mosquitto queues at most 1000 messages for a session that is away (max_queued_messages) and
    // drops the rest: after the restart the publisher may reconnect before the pipeline does.
    const broker = await mosquittoServer(['max_queued_messages 0']);
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const client = (clientId: string) =>
      mqtt.connectAsync(url, {
        protocolVersion: 5,
        clientId: `${clientId}-${tag}`,
        clean: false,
        properties: { sessionExpiryInterval: 300 },
        reconnectPeriod: 250,
      });
    const collector = await client('collector');
    collector.on('error', () => {});
    const seen = new Map<number, number>();
    collector.on('message', (_topic, payload) => {
      const r = JSON.parse(String(payload)) as Reading;
      seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
    });
    await collector.subscribeAsync('out', { qos: 1 });
    const publisher = await client('publisher');
    publisher.on('error', () => {});

    // The source's session exists before anything is published: the broker queues for it from the first message.
    const session = await client('pipeline');
    await session.subscribeAsync('in', { qos: 1 });
    await session.endAsync();

    const p = new Pipeline({ name: 'mqtt-outage', batchSize: 50 });
    p.source(
      'in',
      mqttSource<Reading>({ url, topics: ['in'], clientId: `pipeline-${tag}`, sessionExpirySeconds: 300 }),
    )
      .map((r): Reading => ({ id: r.id, value: r.value * 2 }), 'double')
      .sink(mqttSink<Reading>({ url, topic: 'out', clientId: `pipeline-out-${tag}` }), 'out');
    const failures: string[] = [];
    const running = await p.start({ parallelism: 1, restart: false });
    running.done.catch((e: unknown) => failures.push(String(e)));
    try {
      const n = 3000;
      let published = 0;
      const publishing = (async () => {
        // In chunks, each acknowledged by the broker (mqtt.js queues them while it reconnects).
        for (; published < n; published += 100) {
          const chunk = Array.from({ length: 100 }, (_, k) => published + k);
          await Promise.all(
            chunk.map((id) => publisher.publishAsync('in', JSON.stringify({ id, value: id }), { qos: 1 })),
          );
        }
      })();
      await waitUntil(() => seen.size >= n / 3 || failures.length > 0, 'a third of the output');
      const atStop = seen.size;
      await broker.stop('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await broker.start();
      await publishing;
      await waitUntil(
        () => seen.size >= n || failures.length > 0,
        'every message in the output',
        60_000,
      ).catch(
        () => {}, // the assertion below says what is missing
      );
      assert.deepEqual(
        failures,
        [],
        `the run failed in the outage:\n${failures.join('\n')}\n${broker.log()}`,
      );
      const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
      assert.equal(
        missing.length,
        0,
        `${missing.length} of ${n} messages missing (${missing.slice(0, 20).join(', ')}…); the broker stopped after ${atStop} were in the output\n${broker.log()}`,
      );
      let twice = 0;
      for (const c of seen.values()) if (c > 1) twice++;
      process.stdout.write(
        `# mqtt outage: ${n} messages, the broker down 1.5 s after ${atStop} were in the output; ${twice} delivered more than once\n`,
      );
    } finally {
      running.stop();
      await running.done.catch(() => {});
      await publisher.endAsync().catch(() => {});
      await collector.endAsync().catch(() => {});
      await broker.close();
    }
  });

  it('a broker that stays away: the run fails after reconnectTimeoutMs with an error naming it', async () => {
    const broker = await mosquittoServer();
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    try {
      const p = new Pipeline({ name: 'mqtt-gone' });
      p.source(
        'in',
        mqttSource<Reading>({ url, topics: ['in'], clientId: `gone-${tag}`, reconnectTimeoutMs: 1500 }),
      ).sink(mqttSink<Reading>({ url, topic: 'out', reconnectTimeoutMs: 1500 }), 'out');
      const running = await p.start({ parallelism: 1, restart: false });
      // Both connected (the broker logs each client): the first connection is not what this is about.
      await waitUntil(
        () => (broker.log().match(/New client connected/g) ?? []).length >= 2,
        'source and sink connected',
      );
      await broker.stop('SIGTERM');
      await assert.rejects(
        running.done,
        /unreachable for \d+ ms \(reconnectTimeoutMs 1500\); start it, or raise reconnectTimeoutMs/,
      );
    } finally {
      await broker.close();
    }
  });
});
