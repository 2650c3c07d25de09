/**
 * The shape of a pipeline module that `eddy run` loads: options declared as a
 * schema (parsed from the command line, shown by `--help`), and a function
 * that builds the pipeline from them.
 */
import type { Pipeline } from '../api/pipeline.ts';
import type { PipelineMetrics } from '../core/metrics.ts';

export type OptionSpec =
  | { readonly type: 'number'; readonly default: number; readonly description: string; readonly min?: number }
  | { readonly type: 'string'; readonly default: string; readonly description: string }
  | { readonly type: 'boolean'; readonly default: boolean; readonly description: string };

type ValueOf<S extends OptionSpec> = S['type'] extends 'number'
  ? number
  : S['type'] extends 'boolean'
    ? boolean
    : string;

export type OptionValues<O extends Record<string, OptionSpec>> = { readonly [N in keyof O]: ValueOf<O[N]> };

export interface PipelineModule<O extends Record<string, OptionSpec>> {
  readonly name: string;
  readonly description: string;
  readonly options: O;
  build(options: OptionValues<O>): Pipeline | Promise<Pipeline>;
  /** Lines printed when the run ends. */
  summary?(metrics: PipelineMetrics, options: OptionValues<O>): string[];
}

/**
 * Declares a pipeline module for `eddy run`.
 *
 * @example
 * ```ts
 * export default definePipeline({
 *   name: 'hello', description: 'counts to N',
 *   options: { n: { type: 'number', default: 10, description: 'how far to count' } },
 *   build: ({ n }) => { const p = new Pipeline(); p.source('n', arraySource([...Array(n).keys()])).sink(consoleSink()); return p; },
 * });
 * ```
 */
export function definePipeline<O extends Record<string, OptionSpec>>(
  module: PipelineModule<O>,
): PipelineModule<O> {
  return module;
}
