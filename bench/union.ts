/**
 * The union benchmark (issue 13: fold what composes where benchmarks show no
 * loss): what a `union` step costs. Three pipelines over the same
 * materialised events, each map → filter → keyBy → 10 s tumbling count →
 * sink, each in its own child process, alternating for five rounds; each
 * side's median round is reported and the results are checked to agree:
 *
 * - `one`: one source of every event (no union; the in-run baseline);
 * - `union`: two sources of half the events each, merged by `union`;
 * - `keyed`: the same two sources each keyed first (`keyBy(...).union(...)`),
 *   so the union's batches carry keys it must drop.
 *
 * `unionRatio` and `keyedRatio` are the union pipelines' rates over `one`'s;
 * they include a second source loop as well as the union step, the same
 * before and after a change to the union operator.
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"union","unionRatio":…,"keyedRatio":…,"oneEventsPerSec":…,…}
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { arraySource, Pipeline, type Stream, tumbling } from '../src/index.ts';
import { checksumSink } from './checksum.ts';

interface Event {
  readonly device: number;
  readonly value: number;
}

const KEYS = 1000;
const WINDOW = 10_000;
const EVENTS_PER_SECOND = 100_000;
const ROUNDS = 5;

type Side = 'one' | 'union' | 'keyed';

/** The events, `parts` interleaved shares of them (each in time order), made before the clock starts. */
function materialise(events: number, parts: number): { values: Event[]; times: number[] }[] {
  const out = Array.from({ length: parts }, () => ({ values: [] as Event[], times: [] as number[] }));
  for (let i = 0; i < events; i++) {
    const part = out[i % parts]!;
    part.values.push({ device: (i * 7919) % KEYS, value: i & 1023 });
    part.times.push(Math.floor((i * 1000) / EVENTS_PER_SECOND));
  }
  (globalThis as { gc?: () => void }).gc?.();
  return out;
}

async function run(side: Side, events: number): Promise<{ secs: number; results: number; sum: number }> {
  const acc = { n: 0, sum: 0 };
  const p = new Pipeline({ name: `bench-union-${side}` });
  const parts = materialise(events, side === 'one' ? 1 : 2);
  const sources = parts.map((part, i) => p.source(`events-${i}`, arraySource(part.values, part.times)));
  let merged: Stream<Event>;
  if (side === 'one') merged = sources[0]!;
  else if (side === 'union') merged = sources[0]!.union(sources[1]!);
  else merged = sources[0]!.keyBy((e) => e.device).union(sources[1]!.keyBy((e) => e.device));
  merged
    .map((e) => ({ device: e.device, value: e.value * 2 }))
    .filter((e) => e.value % 3 !== 0)
    .keyBy((e) => e.device)
    .window(tumbling(WINDOW))
    .count()
    .sink(checksumSink<{ value: number }>(acc, (v) => v.value));
  const t0 = performance.now();
  await p.run();
  return { secs: (performance.now() - t0) / 1000, results: acc.n, sum: acc.sum };
}

type Run = { secs: number; results: number; sum: number };

function child(side: Side, events: number): Run {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', new URL(import.meta.url).pathname, '--child', side, '--events', String(events)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

function median(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.secs - b.secs)[Math.floor(runs.length / 2)]!;
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { events: { type: 'string', default: '10000000' } } });
  const events = Number(values.events);
  process.stderr.write(`union: ${events.toLocaleString()} events, ${ROUNDS} alternating rounds\n`);
  const runs: Record<Side, Run[]> = { one: [], union: [], keyed: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const line: string[] = [];
    for (const side of ['one', 'union', 'keyed'] as const) {
      const r = child(side, events);
      runs[side].push(r);
      line.push(`${side} ${(events / r.secs / 1e6).toFixed(2)} M/s`);
    }
    process.stderr.write(`  round ${round}: ${line.join(', ')}\n`);
  }
  const one = median(runs.one);
  const union = median(runs.union);
  const keyed = median(runs.keyed);
  for (const r of [union, keyed])
    if (r.results !== one.results || r.sum !== one.sum)
      throw new Error(`the pipelines disagree: ${r.results}/${r.sum} vs ${one.results}/${one.sum}`);
  const rate = (r: Run) => Math.round(events / r.secs);
  console.log(
    JSON.stringify({
      bench: 'union',
      events,
      unionRatio: Number((one.secs / union.secs).toFixed(3)),
      keyedRatio: Number((one.secs / keyed.secs).toFixed(3)),
      oneEventsPerSec: rate(one),
      unionEventsPerSec: rate(union),
      keyedEventsPerSec: rate(keyed),
    }),
  );
}

if (process.argv[2] === '--child') {
  const { values } = parseArgs({ args: process.argv.slice(4), options: { events: { type: 'string' } } });
  console.log(JSON.stringify(await run(process.argv[3] as Side, Number(values.events))));
}
