/**
 * PostgreSQL: a sink with batched, parameterised upserts (exactly-once with
 * checkpoints: each checkpoint's rows and its id in one transaction) and a
 * polling source over columns that only grow. See sink.ts and source.ts.
 */
export type { PostgresSinkOptions, PostgresSourceOptions } from './options.ts';
export { SINK_SCHEMA as postgresSinkOptions, SOURCE_SCHEMA as postgresSourceOptions } from './options.ts';
export { postgresSink } from './sink.ts';
export { postgresSource } from './source.ts';
