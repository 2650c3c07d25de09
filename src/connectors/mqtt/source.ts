/**
 * The MQTT source: QoS 1 subscriptions in a persistent session (MQTT 5,
 * `clean: false` with a session expiry), optionally shared
 * (`$share/<group>/<filter>`) so that several instances divide the messages.
 *
 * **Guarantee: at-most-once across a crash; it is not replayable.** MQTT has
 * no position to go back to: a message is gone from the broker once
 * acknowledged. mqtt.js hands a QoS 1 message over and sends its PUBACK
 * together, and takes the next packet only after that, so an acknowledgement
 * cannot be held until a checkpoint completes (a held one would stop the
 * connection; the broker's in-flight window — 20 for Mosquitto — would stop
 * it anyway). Messages are acknowledged when they enter this source's buffer
 * (at most `bufferSize`; when it is full the client stops reading, and TCP
 * and the broker hold the rest — backpressure). So a crash loses the
 * messages in the buffer and the effects of those read since the last
 * checkpoint, whose state the run goes back to; nothing is duplicated by the
 * source. What the session protects: messages published while the pipeline
 * is down (up to the session expiry) are queued by the broker and delivered
 * when it reconnects with the same `clientId`, and a message whose PUBACK a
 * dropped connection lost is delivered again. The broker bounds that queue
 * and drops beyond it — Mosquitto's `max_queued_messages` is 1000 per
 * session by default (its log says "Outgoing messages are being dropped"):
 * raise it for a pipeline that may be away, or restarting, while publishers
 * go on (the outage test found 199 of 3,000 dropped with the default).
 *
 * With `rateControl` the client also stops reading while the admitted rate
 * (Spark Streaming's PID estimate from the rate the pipeline takes messages
 * and the backlog, `../rate-control.ts`, issue 18) is spent, and reads on as
 * tokens come back: under a burst the buffer stays near a second of
 * processing instead of `bufferSize`, and the broker holds the rest.
 *
 * The source declares `replayable: false`; its `position()` is a marker only
 * (runs with checkpoints accept it; a restore starts from the broker's
 * session, not from the checkpoint).
 */
import type { Source, SourceReader } from '../../core/connector.ts';
import { pushRate } from '../rate-control.ts';
import { connectMqtt } from './connect.ts';
import {
  type MqttSourceOptions,
  type MqttSourceStats,
  type ResolvedSourceOptions,
  resolveOptions,
  SOURCE_SCHEMA,
} from './options.ts';

const OWNER = 'mqttSource';

interface Received {
  readonly topic: string;
  readonly payload: Buffer;
}

/**
 * Subscribes to MQTT topics with QoS 1 in a persistent session.
 *
 * @example
 * ```ts
 * p.source('readings', mqttSource<Reading>({
 *   topics: ['plant/+/readings'], clientId: 'eddy-readings-1', group: 'readers',
 * }), { timestamp: (r) => r.ts });
 * ```
 */
export function mqttSource<T = unknown>(
  options: MqttSourceOptions<T>,
): Source<T> & { readonly replayable: false; stats(): Readonly<MqttSourceStats> } {
  const o = resolveOptions<ResolvedSourceOptions<T>>(OWNER, SOURCE_SCHEMA, options);
  const filters = o.topics.map((t) => (o.group === undefined ? t : `$share/${o.group}/${t}`));
  const stats: MqttSourceStats = { received: 0, maxBuffered: 0, held: 0 };
  return {
    kind: 'mqtt',
    messaging: { system: 'mqtt', destination: filters.join(',') },
    replayable: false,
    stats: () => stats,
    async open(ctx): Promise<SourceReader<T>> {
      const buffer: Received[] = [];
      let head = 0;
      // The client waits here while the buffer is full: it reads no further packet until called (backpressure).
      let resume: (() => void) | undefined;
      let failure: Error | undefined;
      const rc = pushRate(
        o.rateControl,
        () => buffer.length - head,
        (rate) => {
          stats.rate = rate;
        },
      );
      let closed = false;
      // A message the rate has no token for waits here; the client reads nothing meanwhile.
      let waiting: ReturnType<typeof setTimeout> | undefined;
      const admit = (callback: () => void) => {
        if (closed) return;
        if (buffer.length - head >= o.bufferSize) {
          resume = () => admit(callback);
          return;
        }
        const now = Date.now();
        if (rc !== undefined && !rc.admit(1, now).ok) {
          stats.held++;
          // One token comes back every 1/rate s.
          waiting = setTimeout(
            () => {
              waiting = undefined;
              admit(callback);
            },
            Math.max(1, Math.ceil(1000 / rc.rate)),
          );
          return;
        }
        callback();
      };
      const client = await connectMqtt(
        o.url,
        {
          clientId: o.clientId,
          clean: false,
          properties: { sessionExpiryInterval: o.sessionExpirySeconds, receiveMaximum: 65_535 },
          resubscribe: true,
        },
        o.connectTimeoutMs,
        OWNER,
        ctx.stepId,
        {
          timeoutMs: o.reconnectTimeoutMs,
          onGiveUp: (e) => {
            failure ??= e;
          },
        },
        (c) => {
          c.on('message', (topic, payload) => {
            buffer.push({ topic, payload });
            stats.received++;
            if (buffer.length - head > stats.maxBuffered) stats.maxBuffered = buffer.length - head;
          });
          c.handleMessage = (_packet, callback) => admit(() => callback());
        },
      );
      try {
        const granted = await client.subscribeAsync(
          Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])),
        );
        const refused = granted.find((g) => g.qos > 2);
        if (refused !== undefined)
          throw new Error(`the broker refused the subscription to ${refused.topic} (reason ${refused.qos})`);
      } catch (e) {
        client.end(true);
        throw e;
      }
      const parse = o.parse;
      return {
        poll(max) {
          rc?.polling();
          // What is buffered is handed out first; then the run fails (and restarts, with backoff).
          if (failure !== undefined && head >= buffer.length) throw failure;
          const end = Math.min(buffer.length, head + max);
          const values: T[] = [];
          for (let i = head; i < end; i++) {
            const m = buffer[i]!;
            try {
              values.push(
                parse === undefined
                  ? (JSON.parse(m.payload.toString('utf8')) as T)
                  : parse(m.payload, m.topic),
              );
            } catch (e) {
              ctx.deadLetter(
                'EDDY_DECODE_FAILED',
                `message on ${m.topic}: ${e instanceof Error ? e.message : String(e)}`,
                m.payload,
              );
            }
          }
          rc?.took(end - head);
          head = end;
          if (head > 4096 && head * 2 > buffer.length) {
            buffer.splice(0, head);
            head = 0;
          }
          if (resume !== undefined && buffer.length - head < o.bufferSize) {
            const r = resume;
            resume = undefined;
            r();
          }
          return { values };
        },
        // Not a replay position: MQTT cannot go back. Kept so runs with checkpoints accept the source.
        position: () => ({ replayable: false }),
        close: () => {
          closed = true;
          rc?.stop();
          clearTimeout(waiting);
          return client.endAsync().catch(() => {});
        },
      };
    },
  };
}
