/**
 * The MQTT publish sink: QoS 1, so each message is kept until the broker's
 * PUBACK; at most `maxInFlight` publishes wait for theirs, and the pipeline
 * waits beyond that (backpressure). At a checkpoint and at the end it waits
 * for every PUBACK, so a checkpoint never covers a message the broker has
 * not taken: at-least-once (a run resumed from a checkpoint publishes what
 * came after it again; QoS 1 itself may also deliver twice). While the
 * connection is down mqtt.js keeps the publishes and sends them on
 * reconnecting. A record whose PUBLISH packet is larger than the broker's
 * Maximum Packet Size (from its CONNACK; else MQTT's 256 MiB) is
 * dead-lettered with the reason instead: the broker would drop the
 * connection, and the publish would be sent again on every reconnection.
 */
import { randomUUID } from 'node:crypto';
import type { Sink } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { refuse, tooLarge } from '../refused.ts';
import { connectMqtt, maxPacketBytes, publishPacketBytes } from './connect.ts';
import { type MqttSinkOptions, type ResolvedSinkOptions, resolveOptions, SINK_SCHEMA } from './options.ts';

const OWNER = 'mqttSink';

/**
 * Publishes each record to an MQTT topic with QoS 1.
 *
 * @example
 * ```ts
 * alerts.sink(mqttSink<Alert>({ url: 'mqtt://127.0.0.1:1883', topic: (a) => `alerts/${a.line}` }));
 * ```
 */
export function mqttSink<T>(options: MqttSinkOptions<T>): Sink<T> {
  const o = resolveOptions<ResolvedSinkOptions<T>>(OWNER, SINK_SCHEMA, options);
  return {
    kind: 'mqtt',
    guarantee: 'at-least-once',
    // A topic per record has no one name: the conventions' template is the function's, unknown here.
    messaging: { system: 'mqtt', destination: typeof o.topic === 'string' ? o.topic : '(per record)' },
    // A client per subtask, unless the client id is fixed (two clients with one id would take the session from each other).
    parallel: o.clientId === undefined,
    async open(ctx) {
      const stepId = ctx.stepId;
      let failure: unknown;
      const client = await connectMqtt(
        o.url,
        { clientId: o.clientId ?? `eddy-${stepId}-${randomUUID().slice(0, 8)}`, clean: true },
        o.connectTimeoutMs,
        OWNER,
        stepId,
        {
          timeoutMs: o.reconnectTimeoutMs,
          onGiveUp: (e) => {
            failure ??= e;
            // Publishes waiting for a PUBACK never get one now: wake a write waiting for room.
            const r = room;
            room = undefined;
            r?.();
          },
        },
      );
      const topicOf = o.topic;
      const format = o.format;
      const pending = new Set<Promise<unknown>>();
      // Resolved when a publish settles, so a full window can wait for room.
      let room: (() => void) | undefined;
      const payloadOf = (v: T): string | Buffer => {
        const p = format === undefined ? v : format(v);
        if (typeof p === 'string' || Buffer.isBuffer(p)) return p;
        if (p instanceof Uint8Array) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
        return JSON.stringify(p) ?? 'null';
      };
      const check = () => {
        if (failure !== undefined)
          throw new EddyError(
            'EDDY_IO_FAILED',
            `${OWNER}: a publish to ${o.url} failed: ${failure instanceof Error ? failure.message : String(failure)}`,
            { cause: failure, stepId, retriable: true },
          );
      };
      const publish = (v: T) => {
        const topic = typeof topicOf === 'string' ? topicOf : topicOf(v);
        const payload = payloadOf(v);
        const bytes = publishPacketBytes(
          topic,
          typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length,
        );
        const limit = maxPacketBytes(client);
        if (bytes > limit) {
          // The broker would drop the connection, and mqtt.js send it again on reconnecting, for ever.
          refuse(ctx, tooLarge(OWNER, bytes, limit, "the broker's maximum packet size"), payload);
          return;
        }
        const sent = client.publishAsync(topic, payload, { qos: 1, retain: o.retain }).then(
          () => {},
          (e: unknown) => {
            failure ??= e;
          },
        );
        pending.add(sent);
        void sent.then(() => {
          pending.delete(sent);
          const r = room;
          room = undefined;
          r?.();
        });
      };
      const settleAll = async () => {
        while (pending.size > 0) await Promise.all([...pending]);
        check();
      };
      return {
        async write(values) {
          check();
          for (const v of values) {
            while (pending.size >= o.maxInFlight) {
              await new Promise<void>((resolve) => {
                room = resolve;
              });
              check();
            }
            publish(v);
          }
        },
        flush: settleAll,
        close: async () => {
          await Promise.race([settleAll().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
          await client.endAsync().catch(() => {});
        },
      };
    },
  };
}
