/**
 * HTTP connectors: `httpSource` (JSON/NDJSON POST ingest on `node:http`,
 * bounded queue answered 429 under backpressure, not replayable) and
 * `sseSink` (results pushed as Server-Sent Events, best-effort). Both bind
 * 127.0.0.1 unless given another host and a bearer token. Imported as their
 * own entry.
 *
 * @example
 * ```ts
 * import { httpSource, sseSink } from 'eddy/http';
 * p.source('in', httpSource({ port: 8080 })).map(score).sink(sseSink({ port: 8081 }));
 * ```
 */
export type { Bound } from './listen.ts';
export {
  HTTP_SOURCE_OPTIONS,
  type HttpSourceOptions,
  SSE_SINK_OPTIONS,
  type SseSinkOptions,
} from './options.ts';
export { type HttpSource, type HttpSourceStats, httpSource } from './source.ts';
export { type SseSink, type SseSinkStats, sseSink } from './sse.ts';
