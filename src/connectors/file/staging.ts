/**
 * The staging files of the exactly-once file sinks (`jsonLinesSink`,
 * `jsonLinesPartsSink`): text appended to a numbered in-progress file, with
 * backpressure; at a checkpoint barrier the file is closed and fsync'd,
 * ready for the sink to rename, and the next write opens the next file.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';

export class Staging {
  readonly #name: (seq: number) => string;
  #seq = 0;
  #path = '';
  #stream: WriteStream | undefined;
  #written = 0;
  #failed: Error | undefined;

  /** `name(n)`: the path of the n-th staging file (1, 2, …). */
  constructor(name: (seq: number) => string) {
    this.#name = name;
  }

  /** Throws the error a write ran into, if any. */
  check(): void {
    if (this.#failed !== undefined) throw this.#failed;
  }

  /** Appends `text`; a promise when the file's buffer is full (backpressure). */
  write(text: string): void | Promise<void> {
    this.check();
    let s = this.#stream;
    if (s === undefined) {
      this.#path = this.#name(++this.#seq);
      s = createWriteStream(this.#path, { flags: 'w' });
      s.on('error', (e) => {
        this.#failed = e;
      });
      this.#stream = s;
      this.#written = 0;
    }
    this.#written += Buffer.byteLength(text);
    if (!s.write(text)) return new Promise<void>((resolve) => s.once('drain', resolve));
  }

  /**
   * Closes the open file and fsyncs it: its path and length, or undefined
   * when nothing was written since the last. What is written once this is
   * called goes to the next file.
   */
  async seal(): Promise<{ path: string; length: number } | undefined> {
    this.check();
    if (this.#stream === undefined || this.#written === 0) return undefined;
    const sealed = { path: this.#path, length: this.#written };
    await this.close();
    await fsyncFile(sealed.path);
    return sealed;
  }

  /** Settles once what was written so far has reached the file. */
  async flush(): Promise<void> {
    const s = this.#stream;
    if (s !== undefined)
      await new Promise<void>((resolve, reject) => s.write('', (e) => (e ? reject(e) : resolve())));
  }

  /** Closes the open file, if any. */
  close(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const s = this.#stream;
      this.#stream = undefined;
      if (s === undefined) return resolve();
      s.end((e?: Error | null) => (e ? reject(e) : resolve()));
    });
  }
}

/** Records as JSON Lines text: each one (through `format`, when given) on a line of its own. */
export function jsonLines<T>(values: readonly T[], format: ((value: T) => unknown) | undefined): string {
  let text = '';
  for (const v of values) text += `${JSON.stringify(format === undefined ? v : format(v))}\n`;
  return text;
}

/**
 * A file written straight through, opened at once with `flags` ('w' or 'a'):
 * the file sinks' writer when the run takes no checkpoints (at-least-once).
 */
export function openTextFile(path: string, flags: 'w' | 'a') {
  const stream = createWriteStream(path, { flags });
  let failed: Error | undefined;
  stream.on('error', (e) => {
    failed = e;
  });
  return {
    write(text: string): void | Promise<void> {
      if (failed !== undefined) throw failed;
      if (!stream.write(text)) return new Promise<void>((resolve) => stream.once('drain', resolve));
    },
    flush: () => new Promise<void>((resolve, reject) => stream.write('', (e) => (e ? reject(e) : resolve()))),
    close: () => new Promise<void>((resolve) => stream.end(resolve)),
  };
}

/** Makes a file's content durable. */
export async function fsyncFile(path: string): Promise<void> {
  const h = await open(path, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
