/**
 * MQTT 5: a QoS 1 publish sink with bounded in-flight publishes
 * (at-least-once), and a QoS 1 source in a persistent, optionally shared,
 * session that is not replayable (at-most-once across a crash). See sink.ts
 * and source.ts.
 */
export type { MqttSinkOptions, MqttSourceOptions } from './options.ts';
export { SINK_SCHEMA as mqttSinkOptions, SOURCE_SCHEMA as mqttSourceOptions } from './options.ts';
export { mqttSink } from './sink.ts';
export { mqttSource } from './source.ts';
