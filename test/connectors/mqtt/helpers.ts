/**
 * The MQTT suites' broker (Mosquitto at 127.0.0.1:1883) and a plain mqtt.js
 * client for publishing and collecting beside the pipeline. Under CI=true a
 * closed port is a failure; elsewhere the suite is skipped with one loud line.
 */
import { Socket } from 'node:net';
import mqtt from 'mqtt';

export const URL = 'mqtt://127.0.0.1:1883';

/** The `skip` option for node:test. */
export async function mqttSkip(): Promise<string | false> {
  const ok = await new Promise<boolean>((resolve) => {
    const socket = new Socket();
    const done = (v: boolean) => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(1883, '127.0.0.1', () => done(true));
  });
  if (ok || process.env['CI'] === 'true') return false;
  const why = 'Mosquitto is not reachable at 127.0.0.1:1883: start it (mosquitto -d, or .ci/run)';
  process.stderr.write(`\n!!! SKIPPING MQTT suite — ${why}\n\n`);
  return why;
}

/** A topic prefix no other run uses. */
export function uniquePrefix(tag: string): string {
  return `eddy-h2/${tag}/${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Connects a plain client (MQTT 5). */
export async function plainClient(options: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(URL, { protocolVersion: 5, reconnectPeriod: 0, ...options });
}

/** Waits until `check` holds, polling; fails after `timeoutMs` (generous: the machine is loaded). */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
