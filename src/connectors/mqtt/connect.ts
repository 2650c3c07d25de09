/**
 * Opening an MQTT 5 connection: a broker that does not answer within the
 * timeout, or refuses the client (bad credentials, a client id it rejects),
 * fails the open with the URL and the fix instead of retrying for ever in
 * the background; after that, mqtt.js reconnects on its own, every second,
 * until the broker has been away for `reconnectTimeoutMs`: then the client
 * stops and `onGiveUp` gets an error naming the option.
 */
import mqtt from 'mqtt';
import { configError, EddyError } from '../../errors/index.ts';

export type MqttClient = mqtt.MqttClient;

/** How long mqtt.js waits before reconnecting a dropped connection. */
const RECONNECT_MS = 1000;

/** MQTT's own bound on a packet: a remaining length of at most 268,435,455 bytes, plus the fixed header. */
const PROTOCOL_MAX_PACKET = 268_435_455 + 5;

// The Maximum Packet Size each client's broker advertised in its latest CONNACK (MQTT 5).
const packetLimits = new WeakMap<MqttClient, number>();

/** The largest packet `client`'s broker takes: what its CONNACK advertised, else MQTT's own bound. */
export function maxPacketBytes(client: MqttClient): number {
  return packetLimits.get(client) ?? PROTOCOL_MAX_PACKET;
}

/** The size of a QoS 1 PUBLISH packet (MQTT 5, no properties) of `payloadBytes` to `topic`. */
export function publishPacketBytes(topic: string, payloadBytes: number): number {
  const remaining = 2 + Buffer.byteLength(topic) + 2 + 1 + payloadBytes;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remaining;
}

/** After the first connection: how long the broker may be away, and who is told when that has passed. */
export interface Reconnecting {
  readonly timeoutMs: number;
  readonly onGiveUp: (e: EddyError) => void;
}

/** Connects with MQTT 5; `options` are mqtt.js's; `setup` attaches listeners before the connection opens. */
export async function connectMqtt(
  url: string,
  options: mqtt.IClientOptions,
  timeoutMs: number,
  owner: string,
  stepId: string,
  reconnecting: Reconnecting,
  setup?: (client: MqttClient) => void,
): Promise<MqttClient> {
  // Not connected until setup has run: a stored session's messages follow CONNACK at once.
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    connectTimeout: timeoutMs,
    // No reconnects until the first connection stands: a failed open must not leave a client retrying for ever.
    reconnectPeriod: 0,
    ...options,
    manualConnect: true,
  });
  setup?.(client);
  client.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      client.once('connect', (connack) => {
        clearTimeout(timer);
        noteLimit(client, connack);
        resolve();
      });
      client.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } catch (e) {
    client.end(true);
    const message = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: unknown }).code;
    // CONNACK reason codes of MQTT 5: 0x85 client id, 0x86 credentials, 0x87 not authorized.
    if (code === 133 || code === 134 || code === 135)
      throw configError(
        `${owner}: the broker at ${url} refused the client: ${message}`,
        options.clientId,
        'check the client id, username and password',
        stepId,
      );
    throw new EddyError(
      'EDDY_IO_FAILED',
      `${owner} cannot connect to ${url}: ${message}; check that the broker runs there (the run restarts with backoff)`,
      { cause: e, stepId, retriable: true },
    );
  }
  // Later errors (a dropped connection) are ridden out by mqtt.js's reconnects; without a listener they would throw.
  client.on('error', () => {});
  client.options.reconnectPeriod = RECONNECT_MS;
  let away: NodeJS.Timeout | undefined;
  const since = { at: 0 };
  client.on('close', () => {
    if (away !== undefined || client.disconnecting) return;
    since.at = Date.now();
    away = setTimeout(() => {
      if (client.connected || client.disconnecting) return;
      client.end(true);
      reconnecting.onGiveUp(
        new EddyError(
          'EDDY_IO_FAILED',
          `${owner}: the broker at ${url} has been unreachable for ${Date.now() - since.at} ms (reconnectTimeoutMs ${reconnecting.timeoutMs}); start it, or raise reconnectTimeoutMs`,
          { stepId, retriable: true },
        ),
      );
    }, reconnecting.timeoutMs);
    away.unref();
  });
  client.on('connect', (connack) => {
    clearTimeout(away);
    away = undefined;
    noteLimit(client, connack);
  });
  return client;
}

function noteLimit(client: MqttClient, connack: mqtt.IConnackPacket): void {
  const max = connack.properties?.maximumPacketSize;
  if (max !== undefined && max > 0) packetLimits.set(client, max);
  else packetLimits.delete(client);
}
