/**
 * eddy's public API. Everything a pipeline author needs is exported here;
 * anything not exported here is internal and may change.
 */

export { type DedupeOptions, dedupe } from './api/dedupe.ts';
export { Pipeline, type PipelineOptions, type RunningPipeline, type RunOptions } from './api/pipeline.ts';
export {
  JoinBuilder,
  KeyedStream,
  LateAwareStream,
  type MapAsyncStepOptions,
  ProcessedStream,
  type ProcessStepOptions,
  StatefulKeyedStream,
  Stream,
  Table,
  WindowedStream,
  WindowJoin,
  type WindowStepOptions,
} from './api/stream.ts';
export {
  type Aggregator,
  session,
  sliding,
  type Timing,
  tumbling,
  type Window,
  type WindowAssigner,
  type Windowed,
} from './api/windows.ts';
export { definePipeline, type OptionSpec, type OptionValues, type PipelineModule } from './cli/define.ts';
export { type ConsoleSinkOptions, consoleSink } from './connectors/console/index.ts';
export {
  type JsonLinesPartsSinkOptions,
  type JsonLinesSinkOptions,
  type JsonLinesSourceOptions,
  jsonLinesPartsSink,
  jsonLinesSink,
  jsonLinesSource,
} from './connectors/file/index.ts';
export {
  type GeneratorContext,
  type GeneratorOptions,
  generatorSource,
} from './connectors/generator/index.ts';
export { arraySource, type CollectSink, collectSink } from './connectors/memory/index.ts';
export { type Clock, ManualClock, systemClock } from './core/clock.ts';
export type {
  DeliveryGuarantee,
  Sink,
  SinkContext,
  SinkWriter,
  Source,
  SourceBatch,
  SourceContext,
  SourceOptions,
  SourceReader,
} from './core/connector.ts';
export type { DeadLetter } from './core/dead-letter.ts';
export type { Key } from './core/key-groups.ts';
export type {
  AppInstance,
  KeyLocation,
  KeyState,
  PipelineMetrics,
  StateScan,
  StateScanOptions,
  StepMetrics,
} from './core/metrics.ts';
export { EddyError, ERROR_CODES, type ErrorCode, type ErrorDomain } from './errors/index.ts';
export type { ErrorPolicy } from './operators/operator.ts';
export {
  type OutputTag,
  outputTag,
  type ProcessContext,
  type ProcessFunction,
  type TimerService,
} from './operators/process.ts';
export type { JobGraph } from './plan/job-graph.ts';
export { REBALANCE_DEFAULTS, type RebalanceSettings } from './runtime/rebalance.ts';
export { RESTART_DEFAULTS, type RestartOptions } from './runtime/restart.ts';
export type { RebalanceInfo } from './runtime/threads/rebalancer.ts';
export type { DurableStateOptions } from './state/durable/index.ts';
export {
  type ListState,
  listState,
  type MapState,
  mapState,
  type StateDescriptor,
  type StateOptions,
  type ValueState,
  valueState,
} from './state/handles.ts';
