/**
 * Kafka connectors, on @platformatic/kafka (chosen by benchmark:
 * docs/KAFKA.md). `eddy/kafka` is `src/deploy/kafka/index.ts`: these and the
 * Kafka run mode, `kafkaApp`, which builds on the runtime and so lives above
 * it (`src/deploy/kafka/`).
 */

export {
  type KafkaAppMetrics,
  type KafkaAppSinkOptions,
  type KafkaAppSourceOptions,
  kafkaPartition,
  type PartitionLag,
  type RestoreMetrics,
  type RestoreProgress,
} from './app-options.ts';
export {
  DEAD_LETTER_HEADERS,
  DeadLetterTopic,
  deadLetterMessage,
  type KafkaDeadLetter,
  SINK_TOPIC_HEADER,
  sinkDeadLetterMessage,
} from './dead-letters.ts';
export {
  type AvroFormat,
  type AvroFormatOptions,
  avroFormat,
  bytesFormat,
  jsonFormat,
  KAFKA_DECODE_FAILURES,
  type KafkaDecodeFailure,
  type KafkaDecodeResult,
  type KafkaFormat,
  stringFormat,
} from './formats.ts';
export { internalTopics, type ResetOptions, type ResetPlan, resetKafkaApp } from './reset.ts';
export {
  FRAME_HEADER_BYTES,
  frameSchemaRegistry,
  type SchemaRegistryOptions,
  unframeSchemaRegistry,
} from './schema-registry.ts';
export { type KafkaSinkOptions, kafkaSink } from './sink.ts';
export { type KafkaSourceOptions, kafkaSource } from './source.ts';
export { type CreateTopicOptions, TRUNCATED_HEADER } from './topics.ts';
export { type KafkaTransactionalSinkOptions, kafkaTransactionalSink } from './tx-sink.ts';
