/**
 * The events files every system of a run reads: JSON Lines of the
 * generator's `Event` objects, written once per run by the peers' exporter
 * (so that eddy, Flink and Kafka Streams read byte-for-byte the same input),
 * and a skewed copy for the skewed-keys profile.
 *
 * @example
 * ```ts
 * const plain = await writeEvents('.bench/nexmark', { count: 1_000_000, seed: 1 });
 * const skewed = await writeSkewedEvents(plain, { exponent: 1.2, seed: 1 });
 * ```
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exportEvents } from '../../peers/export.ts';
import type { Event, NexmarkConfig } from '../generator.ts';
import { type SkewOptions, skewRemapper } from './profiles.ts';

/** An events file and what it holds. */
export interface EventsFile {
  readonly path: string;
  readonly events: number;
  readonly bytes: number;
}

/** Writes `config.count` generated events to `<dir>/events-<count>-s<seed>.jsonl`. */
export async function writeEvents(
  dir: string,
  config: Partial<NexmarkConfig> & { readonly count: number },
): Promise<EventsFile> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `events-${config.count}-s${config.seed ?? 1}.jsonl`);
  const { events, bytes } = await exportEvents(path, config);
  return { path, events, bytes };
}

/**
 * Writes a copy of an events file with bids' bidder and auction ids redrawn
 * from a Zipf distribution (`skewRemapper`), line for line in the same format.
 */
export async function writeSkewedEvents(plain: EventsFile, options: SkewOptions = {}): Promise<EventsFile> {
  const exponent = options.exponent ?? 1.2;
  const path = plain.path.replace(/\.jsonl$/, `-zipf${exponent}.jsonl`);
  const remap = skewRemapper(options);
  const out = createWriteStream(path);
  const lines = createInterface({ input: createReadStream(plain.path), crlfDelay: Number.POSITIVE_INFINITY });
  let events = 0;
  let bytes = 0;
  let buffer = '';
  for await (const line of lines) {
    if (line === '') continue;
    const text = `${JSON.stringify(remap(JSON.parse(line) as Event))}\n`;
    buffer += text;
    bytes += Buffer.byteLength(text);
    events++;
    if (buffer.length >= 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
  return { path, events, bytes };
}
