/**
 * `eddy/kafka`: the Kafka connectors (`src/connectors/kafka/`) and the Kafka
 * run mode, `kafkaApp` — a pipeline as one instance of a Kafka application
 * (consumer group, changelog state, transactions). The run mode builds
 * Pipelines and runs jobs, so it lives above the runtime (a deployment, as the
 * embedded runtime is the other), while the connectors below it know nothing
 * of it.
 */

export * from '../../connectors/kafka/index.ts';
export { KafkaApp, type KafkaAppOptions, type KafkaAppRunOptions, kafkaApp } from './app.ts';
export { deployOnKafka } from './deploy.ts';
export {
  KafkaPipeline,
  type KafkaPipelineRunOptions,
  type KafkaPipelineView,
  kafkaPipeline,
} from './pipeline.ts';
