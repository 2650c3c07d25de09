/**
 * `npm run bench -- decode` (issue 15's decoding goal): a JSON Lines
 * pipeline against bare `JSON.parse` over the same lines.
 *
 * - **pipeline**: `jsonLinesSource` (safe decoding: UTF-8 checked, size and
 *   depth bounded, `__proto__`/`constructor`/`prototype` refused) → a counting
 *   sink, over a file of Nexmark-like bids (about 150 bytes a line).
 * - **bare**: the same file read whole, decoded from UTF-8 16 KiB of lines at
 *   a time, split at newlines and each line given to `JSON.parse`, counted:
 *   no safety checks, no batches. (Until 2026-12-07 it decoded each line's
 *   bytes on its own, which costs about a sixth of a line; the pipeline now
 *   decodes regions of lines, so the baseline does too.)
 * - **decoder**: eddy's `decodeJson` over each line's bytes, without the
 *   pipeline — to tell the decoder's cost from the engine's.
 * - **typed** and **selective**: the measured alternative, a decoder compiled
 *   from the bid's JSON Schema (`typed-json.ts`), declaring all seven fields
 *   or only the three a price query reads (the others checked and skipped),
 *   over each line's bytes like `decoder`.
 *
 * Each side reads the file from the page cache (it is read once before the
 * rounds) in its own child process; the sides other than the pipeline read
 * it whole before their clock starts (since 2026-12-07: allocating and
 * filling 153 MB took about 0.4 s of their time), the pipeline's clock
 * includes its 64 KiB reads; the sides alternate for three rounds and
 * each side's median is reported. One JSON line:
 * {"bench":"decode","lines":N,"bytes":B,"pipelineLinesPerSec":…,"bareLinesPerSec":…,"decoderLinesPerSec":…,"typedLinesPerSec":…,"selectiveLinesPerSec":…,"ratio":…,"decoderRatio":…,"typedRatio":…,"selectiveRatio":…}
 * `ratio` = pipeline ÷ bare (target ≥ 0.8); the other ratios are that side ÷ bare.
 * Flags: --lines N (default 1,000,000).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeJson } from '../src/codec/json.ts';
import { jsonLinesSource } from '../src/connectors/file/index.ts';
import { Pipeline } from '../src/index.ts';
import { bid } from './bids.ts';
import { compileJsonDecoder, type JsonShape } from './typed-json.ts';

type Side = 'pipeline' | 'bare' | 'decoder' | 'typed' | 'selective';
const SIDES: readonly Side[] = ['bare', 'decoder', 'typed', 'selective', 'pipeline'];

const INT = { type: 'integer' } as const;
const STR = { type: 'string' } as const;
/** The bid of `bids.ts`, every field declared. */
const BID: JsonShape = {
  type: 'object',
  properties: { auction: INT, bidder: INT, price: INT, channel: STR, url: STR, dateTime: INT, extra: STR },
  required: ['auction', 'bidder', 'price', 'channel', 'url', 'dateTime', 'extra'],
};
/** What a price query reads of it. */
const BID_PRICE: JsonShape = {
  type: 'object',
  properties: { auction: INT, price: INT, dateTime: INT },
  required: ['auction', 'price', 'dateTime'],
};

function writeInput(path: string, lines: number): number {
  const parts: string[] = [];
  for (let i = 0; i < lines; i++) parts.push(bid(i));
  const text = `${parts.join('\n')}\n`;
  writeFileSync(path, text);
  return Buffer.byteLength(text);
}

async function runSide(side: Side, path: string): Promise<{ secs: number; count: number }> {
  let t0 = performance.now();
  let count = 0;
  if (side === 'pipeline') {
    const p = new Pipeline({ name: 'bench-decode' });
    p.source('bids', jsonLinesSource<{ price: number }>({ path }), { timestamp: 'ingestion' }).sink(
      {
        kind: 'count',
        guarantee: 'best-effort',
        open: () => ({
          write(values) {
            count += values.length;
          },
        }),
      },
      'count',
    );
    await p.run({ parallelism: 1 });
  } else {
    const decode =
      side === 'typed'
        ? compileJsonDecoder(BID)
        : side === 'selective'
          ? compileJsonDecoder(BID_PRICE)
          : decodeJson;
    if (side === 'bare') {
      // Decoded 16 KiB of lines at a time: the whole file as one string is slower (0.46 against
      // 0.73 M/s per-line; a string that large lives in V8's large-object space).
      const bytes = readFileSync(path);
      t0 = performance.now(); // reading 153 MB whole costs about 0.4 s (a fresh buffer's pages): not timed
      const utf8 = new TextDecoder('utf-8', { fatal: true });
      for (let start = 0; start < bytes.length; ) {
        let last = bytes.lastIndexOf(10, Math.min(bytes.length, start + 16 * 1024) - 1);
        if (last < start) last = bytes.indexOf(10, start);
        if (last < 0) break;
        const text = utf8.decode(bytes.subarray(start, last + 1));
        for (let q = 0; q < text.length; ) {
          const end = text.indexOf('\n', q);
          const v = JSON.parse(text.slice(q, end)) as { price: number };
          if (v.price >= 0) count++;
          q = end + 1;
        }
        start = last + 1;
      }
    } else {
      const bytes = readFileSync(path);
      t0 = performance.now();
      for (let start = 0; ; ) {
        const end = bytes.indexOf(10, start);
        if (end < 0) break;
        const d = decode(bytes.subarray(start, end));
        if (d.ok) count++;
        start = end + 1;
      }
    }
  }
  return { secs: (performance.now() - t0) / 1000, count };
}

function child(side: Side, path: string): { secs: number; count: number } {
  const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, '--child', side, path], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { secs: number; count: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { lines: { type: 'string', default: '1000000' } } });
  const lines = Number(values.lines);
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-decode-'));
  try {
    const path = join(dir, 'bids.jsonl');
    const bytes = writeInput(path, lines);
    readFileSync(path); // into the page cache before any round
    process.stderr.write(
      `decode: ${lines.toLocaleString('en-US')} lines, ${(bytes / 1e6).toFixed(1)} MB, 3 alternating rounds\n`,
    );
    const secs: Record<Side, number[]> = { pipeline: [], bare: [], decoder: [], typed: [], selective: [] };
    for (let round = 1; round <= 3; round++) {
      for (const side of SIDES) {
        const r = child(side, path);
        if (r.count !== lines) throw new Error(`${side} counted ${r.count} of ${lines} lines`);
        secs[side].push(r.secs);
      }
      process.stderr.write(
        `  round ${round}: ${SIDES.map((s) => `${s} ${(lines / secs[s].at(-1)! / 1e6).toFixed(2)} M/s`).join(', ')}\n`,
      );
    }
    const rate = (side: Side) => lines / median(secs[side]);
    console.log(
      JSON.stringify({
        bench: 'decode',
        lines,
        bytes,
        pipelineLinesPerSec: Math.round(rate('pipeline')),
        bareLinesPerSec: Math.round(rate('bare')),
        decoderLinesPerSec: Math.round(rate('decoder')),
        typedLinesPerSec: Math.round(rate('typed')),
        selectiveLinesPerSec: Math.round(rate('selective')),
        ratio: Number((rate('pipeline') / rate('bare')).toFixed(3)),
        decoderRatio: Number((rate('decoder') / rate('bare')).toFixed(3)),
        typedRatio: Number((rate('typed') / rate('bare')).toFixed(3)),
        selectiveRatio: Number((rate('selective') / rate('bare')).toFixed(3)),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const side = process.argv[3] as Side;
  console.log(JSON.stringify(await runSide(side, process.argv[4]!)));
}
