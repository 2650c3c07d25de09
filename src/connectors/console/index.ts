/**
 * A sink that prints each record as a line to standard output (or any
 * writable stream), waiting when the stream is full.
 */
import type { Writable } from 'node:stream';
import type { Sink } from '../../core/connector.ts';

export interface ConsoleSinkOptions<T> {
  /** Turns a record into its line; default JSON. */
  readonly format?: (value: T) => string;
  /** Where to write; default process.stdout. */
  readonly stream?: Writable;
}

/**
 * Makes a console sink.
 *
 * @example
 * ```ts
 * alerts.sink(consoleSink({ format: (a) => `ALERT ${a.device} ${a.temp}` }));
 * ```
 */
export function consoleSink<T>(options: ConsoleSinkOptions<T> = {}): Sink<T> {
  const format = options.format ?? ((v: T) => JSON.stringify(v));
  return {
    kind: 'console',
    guarantee: 'best-effort',
    open() {
      const stream = options.stream ?? process.stdout;
      return {
        write(values) {
          let text = '';
          for (const v of values) text += `${format(v)}\n`;
          if (!stream.write(text)) return new Promise<void>((resolve) => stream.once('drain', resolve));
        },
      };
    },
  };
}
