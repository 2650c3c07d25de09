/**
 * `npm run bench -- file-sink` (issue 15: sinks that can run in parallel
 * do): every record of a generator, mapped, to JSON Lines, exactly-once
 * (checkpoints every second, two-phase commit), on
 *
 * - **p1**: one thread, one file (`jsonLinesSink`);
 * - **p2-gather**: two worker threads, one file: every record crosses into
 *   subtask 0, whose writer is the only one;
 * - **p2-parts**: two worker threads, part files (`jsonLinesPartsSink`):
 *   each thread writes its own.
 *
 * Each side runs in its own child process; three alternating rounds;
 * medians. Every run's output is counted (lines). One JSON line:
 * {"bench":"file-sink","events":…,"p1EventsPerSec":…,"gatherEventsPerSec":…,"partsEventsPerSec":…,"gatherRatio":…,"partsRatio":…}
 * Ratios are over p1.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const MODULE = new URL('./file-sink-pipeline.ts', import.meta.url);
type Side = 'p1' | 'p2-gather' | 'p2-parts';

async function runChild(side: Side, events: number, dir: string): Promise<{ secs: number; lines: number }> {
  const mod = (await import(MODULE.href)) as typeof import('./file-sink-pipeline.ts');
  const parts = side === 'p2-parts';
  const out = parts ? join(dir, 'parts') : join(dir, 'out.jsonl');
  if (parts) mkdirSync(out);
  const values = { events, out, parts };
  const pipeline = await mod.default.build(values);
  const checkpoints = { dir: join(dir, 'cp'), intervalMs: 1000 };
  const t0 = performance.now();
  if (side === 'p1') await pipeline.run({ parallelism: 1, checkpoints });
  else await (await pipeline.startInThreads(MODULE.href, values, { parallelism: 2, checkpoints })).done;
  const secs = (performance.now() - t0) / 1000;
  const files = parts ? readdirSync(out).map((n) => join(out, n)) : [out];
  let lines = 0;
  for (const f of files) for (const b of readFileSync(f)) if (b === 10) lines++;
  return { secs, lines };
}

function child(side: Side, events: number): { secs: number; lines: number } {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-file-sink-'));
  try {
    const out = execFileSync(
      process.execPath,
      [new URL(import.meta.url).pathname, '--child', side, String(events), dir],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return JSON.parse(out.trim().split('\n').at(-1)!) as { secs: number; lines: number };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { events: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '3' } },
  });
  const events = Number(values.events);
  const rounds = Number(values.rounds);
  process.stderr.write(
    `file-sink: ${events.toLocaleString('en-US')} records to JSON Lines, exactly-once, ${rounds} rounds\n`,
  );
  const secs: Record<Side, number[]> = { p1: [], 'p2-gather': [], 'p2-parts': [] };
  for (let r = 1; r <= rounds; r++) {
    for (const side of ['p1', 'p2-gather', 'p2-parts'] as const) {
      const run = child(side, events);
      if (run.lines !== events) throw new Error(`${side} wrote ${run.lines} lines of ${events}`);
      secs[side].push(run.secs);
    }
    const m = (s: Side) => (events / secs[s].at(-1)! / 1e6).toFixed(2);
    process.stderr.write(
      `  round ${r}: p1 ${m('p1')} M/s, p2 gather ${m('p2-gather')} M/s, p2 parts ${m('p2-parts')} M/s\n`,
    );
  }
  const rate = (s: Side) => events / median(secs[s]);
  const r3 = (x: number) => Number(x.toFixed(3));
  console.log(
    JSON.stringify({
      bench: 'file-sink',
      events,
      p1EventsPerSec: Math.round(rate('p1')),
      gatherEventsPerSec: Math.round(rate('p2-gather')),
      partsEventsPerSec: Math.round(rate('p2-parts')),
      gatherRatio: r3(rate('p2-gather') / rate('p1')),
      partsRatio: r3(rate('p2-parts') / rate('p1')),
    }),
  );
}

if (process.argv[2] === '--child') {
  const [side, events, dir] = process.argv.slice(3);
  console.log(JSON.stringify(await runChild(side as Side, Number(events), dir!)));
}
