/**
 * The checkpoint benchmark: a keyed 10 s tumbling aggregation over 1M keys,
 * with checkpoints every second against the same pipeline without any, in
 * alternating rounds (each in its own child process), plus the time to
 * restore the last checkpoint's 1M keys.
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"checkpoint","ratio":…,"checkpointMs":…,"checkpointBytes":…,"keys":1000000,"recoveryMs":…}
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CheckpointRestore } from '../src/checkpoint/snapshot.ts';
import { loadCheckpoint } from '../src/checkpoint/storage.ts';
import { generatorSource } from '../src/connectors/generator/index.ts';
import { type Aggregator, Pipeline, tumbling } from '../src/index.ts';
import type { CheckpointInfo } from '../src/runtime/checkpoints.ts';
import { HeapStateBackend } from '../src/state/heap.ts';
import { checksumSink } from './checksum.ts';

const KEYS = 1_000_000;
const EVENTS_PER_SECOND = 500_000;

interface Event {
  readonly key: number;
  readonly value: number;
  readonly ts: number;
}

const sumAgg: Aggregator<Event, { n: number; sum: number }, number> = {
  create: () => ({ n: 0, sum: 0 }),
  add(acc, e) {
    acc.n++;
    acc.sum += e.value;
    return acc;
  },
  result: (acc) => acc.sum / acc.n,
};

interface ChildResult {
  secs: number;
  results: number;
  sum: number;
  checkpoints: CheckpointInfo[];
  recoveryMs?: number;
  recoveredKeys?: number;
}

async function runChild(events: number, checkpointDir: string | undefined): Promise<ChildResult> {
  const acc = { n: 0, sum: 0 };
  const p = new Pipeline({ name: 'bench-checkpoint' });
  p.source(
    'events',
    generatorSource({
      count: events,
      startTime: 0,
      eventsPerSecond: EVENTS_PER_SECOND,
      make: (i, g): Event => ({ key: (i * 7919) % KEYS, value: i & 1023, ts: g.time }),
    }),
  )
    .keyBy((e) => e.key)
    .window(tumbling(10_000))
    .aggregate(sumAgg)
    .sink(checksumSink<{ value: number }>(acc, (v) => v.value));
  const checkpoints: CheckpointInfo[] = [];
  const t0 = performance.now();
  await p.run(
    checkpointDir === undefined
      ? {}
      : {
          checkpoints: { dir: checkpointDir, intervalMs: 1000, retain: 1000 },
          onCheckpoint: (info) => checkpoints.push(info),
        },
  );
  const secs = (performance.now() - t0) / 1000;
  const result: ChildResult = { secs, results: acc.n, sum: acc.sum, checkpoints };
  if (checkpointDir !== undefined) {
    // Recovery: read the checkpoint that holds the most state, check it, and put it into a fresh backend.
    const big = checkpoints.filter((c) => c.error === undefined).sort((a, b) => b.entries - a.entries)[0];
    if (big !== undefined) {
      const t1 = performance.now();
      const loaded = await loadCheckpoint(big.dir);
      const restore = new CheckpointRestore(
        loaded,
        1,
        128,
        { steps: new Set(loaded.manifest.chunks.map((c) => c.step)), sources: new Set(['events']) },
        () => false,
      ).restoreSubtask(0, new HeapStateBackend(128));
      result.recoveryMs = performance.now() - t1;
      result.recoveredKeys = restore.entries;
    }
  }
  return result;
}

function child(events: number, checkpoints: boolean): ChildResult {
  const dir = checkpoints ? mkdtempSync(join(tmpdir(), 'eddy-bench-chk-')) : undefined;
  try {
    const out = execFileSync(
      process.execPath,
      [
        new URL(import.meta.url).pathname,
        '--child',
        '--events',
        String(events),
        ...(dir === undefined ? [] : ['--dir', dir]),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 },
    );
    return JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { events: { type: 'string', default: '10000000' }, rounds: { type: 'string', default: '3' } },
  });
  const events = Number(values.events);
  const rounds = Number(values.rounds);
  process.stderr.write(
    `checkpoint: ${events.toLocaleString()} events, ${KEYS.toLocaleString()} keys, 10 s tumbling aggregate; checkpoints every 1 s vs none; ${rounds} alternating rounds\n`,
  );
  const without: number[] = [];
  const withCp: number[] = [];
  const durations: number[] = [];
  const syncs: number[] = [];
  let bytes = 0;
  let recoveryMs = 0;
  let recoveredKeys = 0;
  for (let r = 1; r <= rounds; r++) {
    const a = child(events, false);
    const b = child(events, true);
    if (a.results !== b.results || a.sum !== b.sum)
      throw new Error(`results differ with checkpoints: ${a.results}/${a.sum} vs ${b.results}/${b.sum}`);
    without.push(a.secs);
    withCp.push(b.secs);
    const periodic = b.checkpoints.filter((c) => c.error === undefined && c.entries > 0);
    for (const c of periodic) {
      durations.push(c.durationMs);
      syncs.push(c.alignmentMs + c.syncMs);
    }
    bytes = Math.max(bytes, ...periodic.map((c) => c.bytes));
    recoveryMs = b.recoveryMs ?? 0;
    recoveredKeys = b.recoveredKeys ?? 0;
    process.stderr.write(
      `  round ${r}: none ${(events / a.secs / 1e6).toFixed(2)} M/s, every 1 s ${(events / b.secs / 1e6).toFixed(2)} M/s — ${periodic.length} checkpoints, largest ${(bytes / 1e6).toFixed(1)} MB / ${Math.max(0, ...periodic.map((c) => c.entries)).toLocaleString()} entries, median ${median(periodic.map((c) => c.durationMs)).toFixed(0)} ms (paused ${median(periodic.map((c) => c.alignmentMs + c.syncMs)).toFixed(1)} ms); recovery ${recoveryMs.toFixed(0)} ms for ${recoveredKeys.toLocaleString()} entries\n`,
    );
  }
  const ratio = median(without) / median(withCp);
  console.log(
    JSON.stringify({
      bench: 'checkpoint',
      ratio: Number(ratio.toFixed(3)),
      eventsPerSecNone: Math.round(events / median(without)),
      eventsPerSecCheckpointing: Math.round(events / median(withCp)),
      checkpointMs: Math.round(median(durations)),
      pausedMs: Number(median(syncs).toFixed(1)),
      checkpointBytes: bytes,
      keys: KEYS,
      recoveryMs: Math.round(recoveryMs),
      recoveredEntries: recoveredKeys,
    }),
  );
}

if (process.argv[2] === '--child') {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: { events: { type: 'string' }, dir: { type: 'string' } },
  });
  const r = await runChild(Number(values.events), values.dir);
  console.log(JSON.stringify(r));
}
