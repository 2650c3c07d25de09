/**
 * A record larger than the broker takes: Mosquitto of the test's own with
 * `max_packet_size 10000` (advertised in its CONNACK). The sink dead-letters
 * the 20 KB record with the reason and delivers the others; the run ends
 * without a restart (the broker would otherwise drop the connection and
 * mqtt.js send the packet again on every reconnection).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { mqttSink } from '../../../src/connectors/mqtt/index.ts';
import { big, runRefusing } from '../../helpers/refused.ts';
import { mosquittoServer } from '../../helpers/server-process.ts';
import { mqttSkip, waitUntil } from './helpers.ts';

const skip = await mqttSkip(); // the binary comes with the shared broker's package

describe('MQTT: records larger than the broker takes', { skip, timeout: 120_000 }, () => {
  it("a record over the broker's maximum packet size is dead-lettered, the others delivered", async () => {
    const broker = await mosquittoServer(['max_packet_size 10000']);
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const collector = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const got: number[] = [];
      collector.on('message', (_t, payload) => got.push((JSON.parse(String(payload)) as { id: number }).id));
      await collector.subscribeAsync('out', { qos: 1 });
      const dead = await runRefusing(
        mqttSink<{ id: number; pad: string }>({ url, topic: 'out' }),
        [0, 1, 2, 3, 4].map((id) => ({ id, pad: id === 2 ? big(20_000) : '' })),
      );
      assert.equal(dead.length, 1);
      assert.match(
        dead[0]!.reason,
        /mqttSink: a record of 200\d\d bytes is larger than the broker's maximum packet size \(10000 bytes\)/,
      );
      await waitUntil(() => got.length >= 4, 'the other records');
      assert.deepEqual(got.sort(), [0, 1, 3, 4]);
    } finally {
      await collector.endAsync().catch(() => {});
      await broker.close();
    }
  });
});
