/**
 * Writes Nexmark events as JSON lines, the input the Flink and Kafka Streams
 * peers read. Line `n` is `JSON.stringify(generateEvent(n, config, random))`
 * with one random stream, so the file holds exactly the events
 * `generateEvents(overrides)` returns and an eddy run over the same overrides
 * sees the same events.
 *
 * Streamed with backpressure: lines are gathered into ~1 MiB chunks and the
 * writer waits for `drain` whenever the stream's buffer is full, so 10M events
 * never sit in memory at once.
 *
 * ```sh
 * node bench/peers/export.ts /tmp/nexmark-1m.jsonl --count 1000000 [--seed 1] [--eventsPerSecond 10000]
 * ```
 *
 * @example
 * ```ts
 * const { events, bytes } = await exportEvents('/tmp/events.jsonl', { count: 200_000 });
 * ```
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { NexmarkConfig } from '../nexmark/generator.ts';
import { generateEvent, nexmarkConfig, nexmarkRandom } from '../nexmark/generator.ts';

const CHUNK_CHARS = 1 << 20;

/** Writes `overrides.count` (default `NEXMARK_DEFAULTS.count`) events to `path`, one JSON object per line. */
export async function exportEvents(
  path: string,
  overrides: Partial<NexmarkConfig>,
): Promise<{ events: number; bytes: number }> {
  const config = nexmarkConfig(overrides);
  if (!Number.isFinite(config.count)) throw new RangeError('exportEvents needs a finite count');
  const random = nexmarkRandom(config.seed);
  const out = createWriteStream(path);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => {});
  let bytes = 0;
  let chunk = '';
  const write = async (s: string): Promise<void> => {
    bytes += Buffer.byteLength(s);
    // Honour the stream's backpressure: wait for drain (or fail on error) when its buffer is full.
    if (!out.write(s)) await Promise.race([once(out, 'drain'), failed]);
  };
  for (let n = 0; n < config.count; n++) {
    chunk += JSON.stringify(generateEvent(n, config, random)) + '\n';
    if (chunk.length >= CHUNK_CHARS) {
      await write(chunk);
      chunk = '';
    }
  }
  if (chunk.length > 0) await write(chunk);
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return { events: config.count, bytes };
}

const NUMERIC_FLAGS = new Set<keyof NexmarkConfig>([
  'seed',
  'eventsPerSecond',
  'count',
  'startTime',
  'hotAuctionRatio',
  'hotBiddersRatio',
  'hotSellersRatio',
  'numInFlightAuctions',
  'numActivePeople',
  'avgPersonByteSize',
  'avgAuctionByteSize',
  'avgBidByteSize',
]);

/** Parses `<path> [--<config field> <number>]...`. */
export function parseExportArgs(args: readonly string[]): {
  path: string;
  overrides: Partial<NexmarkConfig>;
} {
  let path: string | undefined;
  const overrides: Record<string, number> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      if (path !== undefined) throw new Error(`export: one output path expected; received also "${a}"`);
      path = a;
      continue;
    }
    const name = a.slice(2) as keyof NexmarkConfig;
    const value = Number(args[++i]);
    if (!NUMERIC_FLAGS.has(name)) {
      throw new Error(
        `export: unknown flag "${a}"; use one of ${[...NUMERIC_FLAGS].map((f) => `--${f}`).join(' ')}`,
      );
    }
    if (!Number.isFinite(value)) throw new Error(`export: ${a} needs a number; received "${args[i]}"`);
    overrides[name] = value;
  }
  if (path === undefined)
    throw new Error('usage: node bench/peers/export.ts <path> [--count N] [--seed S] ...');
  return { path, overrides };
}

if (import.meta.main) {
  const { path, overrides } = parseExportArgs(process.argv.slice(2));
  const t0 = performance.now();
  const { events, bytes } = await exportEvents(path, overrides);
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(
    `export: ${events} events, ${(bytes / 1e6).toFixed(1)} MB to ${path} in ${s.toFixed(1)} s\n`,
  );
}
