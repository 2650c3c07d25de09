/**
 * Kafka connectors (exported as `eddy/kafka`), on @platformatic/kafka (chosen
 * by benchmark: docs/KAFKA.md).
 */
export { type KafkaSinkOptions, kafkaSink } from './sink.ts';
export { type KafkaSourceOptions, kafkaSource } from './source.ts';
