/**
 * Sinks that stop at a point of a run, for outage tests: `gatedSink` calls a
 * hook before each write (and waits for it) with the records written so
 * far; `pauseAfter` stops the sink once `threshold` records are written, until
 * the test releases it — so the test can take a server down at a known point
 * of the stream, on any machine speed.
 */
import type { Sink } from '../../src/index.ts';

/** `sink` with `before(written)` awaited ahead of each write. */
export function gatedSink<T>(sink: Sink<T>, before: (written: number) => void | Promise<void>): Sink<T> {
  let written = 0;
  return {
    ...sink,
    async open(ctx) {
      const writer = await sink.open(ctx);
      return {
        ...writer,
        async write(values, times) {
          await before(written);
          await writer.write(values, times);
          written += values.length;
        },
      };
    },
  };
}

/** A gate that holds the sink's writes once `threshold` records are written, until `release()`. */
export function pauseAfter(threshold: number): {
  /** Wraps the sink (pass it as the pipeline's sink wrapper). */
  readonly gate: <T>(sink: Sink<T>) => Sink<T>;
  /** Resolves when the sink has stopped at the threshold. */
  readonly reached: Promise<void>;
  /** Lets the sink go on. */
  readonly release: () => void;
  /** Records written when it stopped (after `reached`). */
  readonly writtenAtPause: () => number;
} {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  let at = 0;
  return {
    gate: (sink) =>
      gatedSink(sink, async (written) => {
        if (written < threshold) return;
        at ||= written;
        reach();
        await released;
      }),
    reached,
    release,
    writtenAtPause: () => at,
  };
}
