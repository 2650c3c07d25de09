import type { Sink } from '../../src/index.ts';

/** A sink that discards: for steps whose output the test driver captures anyway. */
export function nullSink<T>(): Sink<T> {
  return { kind: 'null', guarantee: 'best-effort', open: () => ({ write() {} }) };
}
