/**
 * The core benchmark: generator → map → filter → keyBy → 10 s tumbling count
 * → sink, against a hand-written loop that computes the same counts from the
 * same events. Both run in this process, one after the other, so the ratio is
 * comparable even on a noisy machine; each side is measured in its own child
 * process so that peak RSS is its own. Both make their events inside the
 * timed region (eddy's generator, the loop's own call of the same function).
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"core","eddyEventsPerSec":…,"baselineEventsPerSec":…,"ratio":…,"peakRssMb10M":…,"peakRssMb50M":…}
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { generatorSource } from '../src/connectors/generator/index.ts';
import type { Sink } from '../src/core/connector.ts';
import { Pipeline, tumbling } from '../src/index.ts';

interface Event {
  readonly device: number;
  readonly value: number;
  readonly ts: number;
}

const KEYS = 1000;
const WINDOW = 10_000;
const EVENTS_PER_SECOND = 100_000;

/** The events both sides compute over: deterministic, cheap to make. */
function makeEvent(i: number, g: { readonly time: number }): Event {
  return { device: (i * 7919) % KEYS, value: i & 1023, ts: g.time };
}
const mapFn = (e: Event) => ({ device: e.device, value: e.value * 2, ts: e.ts });
const filterFn = (e: { value: number }) => e.value % 3 !== 0;

/** A sink that only checksums what it gets, so that no result is optimised away. */
function checksumSink(acc: { n: number; sum: number }): Sink<{ value: number }> {
  return {
    kind: 'checksum',
    guarantee: 'best-effort',
    open: () => ({
      write(values) {
        for (const v of values) {
          acc.n++;
          acc.sum += v.value;
        }
      },
    }),
  };
}

async function runEddy(events: number): Promise<{ secs: number; results: number; sum: number }> {
  const acc = { n: 0, sum: 0 };
  const p = new Pipeline({ name: 'bench-core' });
  p.source(
    'events',
    generatorSource({ count: events, startTime: 0, eventsPerSecond: EVENTS_PER_SECOND, make: makeEvent }),
  )
    .map(mapFn)
    .filter(filterFn)
    .keyBy((e) => e.device)
    .window(tumbling(WINDOW))
    .count()
    .sink(checksumSink(acc));
  const t0 = performance.now();
  await p.run();
  return { secs: (performance.now() - t0) / 1000, results: acc.n, sum: acc.sum };
}

function runBaseline(events: number): { secs: number; results: number; sum: number } {
  // Makes each event inside the timed loop, as eddy's generator does inside its run (issue 15:
  // both sides make their events in the timed region; until then the baseline timed a loop over
  // events made before its clock started).
  const g = { time: 0 };
  const windows = new Map<number, Map<number, number>>();
  let results = 0;
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < events; i++) {
    g.time = Math.floor((i * 1000) / EVENTS_PER_SECOND);
    const e = mapFn(makeEvent(i, g));
    if (!filterFn(e)) continue;
    const start = e.ts - (e.ts % WINDOW);
    let w = windows.get(start);
    if (w === undefined) {
      // In-order input: a new window means the older ones are complete.
      for (const [s, counts] of windows) {
        for (const c of counts.values()) {
          results++;
          sum += c;
        }
        windows.delete(s);
      }
      windows.set(start, (w = new Map()));
    }
    w.set(e.device, (w.get(e.device) ?? 0) + 1);
  }
  for (const counts of windows.values()) {
    for (const c of counts.values()) {
      results++;
      sum += c;
    }
  }
  return { secs: (performance.now() - t0) / 1000, results, sum };
}

const ROUNDS = 3;

/** The round with the median time. */
function median<T extends { secs: number }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.secs - b.secs)[Math.floor(runs.length / 2)]!;
}

/** Runs one side in a child process and returns its figures and peak RSS. */
function child(
  side: 'eddy' | 'baseline',
  events: number,
): { secs: number; results: number; sum: number; peakRssMb: number } {
  const out = execFileSync(
    process.execPath,
    [new URL(import.meta.url).pathname, '--child', side, '--events', String(events)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '10000000' },
      'rss-events': { type: 'string', default: '50000000' },
    },
  });
  const events = Number(values.events);
  const big = Number(values['rss-events']);
  process.stderr.write(
    `core: ${events.toLocaleString()} events, ${KEYS} keys, 10 s tumbling count, ${ROUNDS} alternating rounds\n`,
  );
  // This machine is noisy: alternate the two sides and take each side's median round.
  const bases: ReturnType<typeof child>[] = [];
  const eddys: ReturnType<typeof child>[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const b = child('baseline', events);
    const e = child('eddy', events);
    bases.push(b);
    eddys.push(e);
    process.stderr.write(
      `  round ${round}: baseline ${(events / b.secs / 1e6).toFixed(2)} M/s, eddy ${(events / e.secs / 1e6).toFixed(2)} M/s (peak RSS ${e.peakRssMb} MB)\n`,
    );
  }
  const base = median(bases);
  const eddy = median(eddys);
  if (eddy.results !== base.results || eddy.sum !== base.sum) {
    throw new Error(
      `eddy and the baseline disagree: ${eddy.results}/${eddy.sum} vs ${base.results}/${base.sum}`,
    );
  }
  process.stderr.write(`  eddy at ${big.toLocaleString()} events for peak RSS...\n`);
  const eddyBig = child('eddy', big);
  process.stderr.write(
    `  eddy (${big / 1e6}M): ${(big / eddyBig.secs / 1e6).toFixed(2)} M events/s, peak RSS ${eddyBig.peakRssMb} MB\n`,
  );
  const eddyRate = events / eddy.secs;
  const baseRate = events / base.secs;
  console.log(
    JSON.stringify({
      bench: 'core',
      eddyEventsPerSec: Math.round(eddyRate),
      baselineEventsPerSec: Math.round(baseRate),
      ratio: Number((eddyRate / baseRate).toFixed(3)),
      peakRssMb10M: Math.max(...eddys.map((e) => e.peakRssMb)),
      peakRssMb50M: eddyBig.peakRssMb,
    }),
  );
}

if (process.argv[2] === '--child') {
  const { values } = parseArgs({ args: process.argv.slice(4), options: { events: { type: 'string' } } });
  const events = Number(values.events);
  const r = process.argv[3] === 'eddy' ? await runEddy(events) : runBaseline(events);
  console.log(JSON.stringify({ ...r, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}
