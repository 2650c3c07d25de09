/**
 * The core benchmark: generator → map → filter → keyBy → 10 s tumbling count
 * → sink, against a hand-written loop that computes the same counts from the
 * same events. Each side runs in its own child process (so peak RSS is its
 * own), the sides alternate for three rounds and each side's median round is
 * reported; the results are checked to agree. Two methods (issue 15: time
 * both sides the same way), each with its own ratio:
 *
 * - **materialised** (`ratio`, the target's): both sides get the same events
 *   made before their clock starts (eddy from an `arraySource` over them, the
 *   loop from the array) and time only the computation.
 * - **generated** (`ratioGenerated`): both make each event inside the timed
 *   region (eddy's generator; the loop calls the same function). V8 then
 *   removes the loop's event and mapped-record objects altogether (escape
 *   analysis), which no engine that hands batches between steps can.
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"core","ratio":…,"eddyEventsPerSec":…,"baselineEventsPerSec":…,"ratioGenerated":…,…,"peakRssMb10M":…,"peakRssMb50M":…}
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { generatorSource } from '../src/connectors/generator/index.ts';
import { arraySource, Pipeline, tumbling } from '../src/index.ts';
import { checksumSink } from './checksum.ts';

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

/** The same events, made before the clock starts: values and their event times. */
function materialise(events: number): { values: Event[]; times: number[] } {
  const values = new Array<Event>(events);
  const times = new Array<number>(events);
  const g = { time: 0 };
  for (let i = 0; i < events; i++) {
    g.time = Math.floor((i * 1000) / EVENTS_PER_SECOND);
    values[i] = makeEvent(i, g);
    times[i] = g.time;
  }
  // Collect the making's garbage before the clock starts: neither side is timed with GC debt it did not make.
  (globalThis as { gc?: () => void }).gc?.();
  return { values, times };
}

async function runEddy(
  events: number,
  materialised: boolean,
  hotKeys = false,
): Promise<{ secs: number; cpuSecs: number; results: number; sum: number }> {
  const acc = { n: 0, sum: 0 };
  const p = new Pipeline({ name: 'bench-core' });
  const input = materialised ? materialise(events) : undefined;
  p.source(
    'events',
    input === undefined
      ? generatorSource({ count: events, startTime: 0, eventsPerSecond: EVENTS_PER_SECOND, make: makeEvent })
      : arraySource(input.values, input.times),
  )
    .map(mapFn)
    .filter(filterFn)
    .keyBy((e) => e.device)
    .window(tumbling(WINDOW))
    .count()
    .sink(checksumSink<{ value: number }>(acc, (v) => v.value));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await p.run(hotKeys ? { hotKeys: true } : {});
  const cpu = process.cpuUsage(cpu0);
  return {
    secs: (performance.now() - t0) / 1000,
    cpuSecs: (cpu.user + cpu.system) / 1e6,
    results: acc.n,
    sum: acc.sum,
  };
}

function runBaseline(events: number, materialised: boolean): { secs: number; results: number; sum: number } {
  const input = materialised ? materialise(events) : undefined;
  const g = { time: 0 };
  const windows = new Map<number, Map<number, number>>();
  let results = 0;
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < events; i++) {
    let event: Event;
    if (input === undefined) {
      g.time = Math.floor((i * 1000) / EVENTS_PER_SECOND);
      event = makeEvent(i, g);
    } else event = input.values[i]!;
    const e = mapFn(event);
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

type Run = ReturnType<typeof child>;

/** The round with the median time. */
function median<T extends { secs: number }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.secs - b.secs)[Math.floor(runs.length / 2)]!;
}

/** The V8 flags of the eddy command (bin/eddy.js), unless EDDY_SEMI_SPACE_MB=0 leaves V8's default. */
const NODE_FLAGS =
  process.env['EDDY_SEMI_SPACE_MB'] === '0'
    ? []
    : [`--max-semi-space-size=${process.env['EDDY_SEMI_SPACE_MB'] ?? '16'}`];

/** Runs one side in a child process and returns its figures and peak RSS. */
function child(
  side: 'eddy' | 'baseline',
  events: number,
  method: 'materialised' | 'generated',
  hotKeys = false,
): { secs: number; cpuSecs?: number; results: number; sum: number; peakRssMb: number } {
  const out = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      // Both sides with the young generation the eddy command starts Node with (bin/eddy.js).
      ...NODE_FLAGS,
      new URL(import.meta.url).pathname,
      '--child',
      side,
      '--events',
      String(events),
      '--method',
      method,
      ...(hotKeys ? ['--hot-keys'] : []),
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

/**
 * `--metrics-ab <pairs>`: issue 17's metrics overhead alone, measured in
 * adjacent pairs (metrics off, then on, or on then off: the order alternates)
 * of eddy's generated run, each in its own child process. Each pair's ratio
 * (on ÷ off − 1) is taken for wall time and for CPU time (user + system), and
 * the median of the pairs is reported with their range: drift on a shared
 * machine hits both runs of a pair alike, where separate medians of the two
 * sides do not cancel it.
 */
async function metricsAb(events: number, pairs: number): Promise<void> {
  process.stderr.write(`core --metrics-ab: ${pairs} pairs of ${events.toLocaleString()} generated events\n`);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    const [a, b] = order.map((on) => child('eddy', events, 'generated', on));
    const [off, on] = order[0] ? [b!, a!] : [a!, b!];
    if (off.sum !== on.sum || off.results !== on.results) throw new Error('metrics on and off disagree');
    wall.push(on.secs / off.secs - 1);
    cpu.push(on.cpuSecs! / off.cpuSecs! - 1);
    process.stderr.write(
      `  pair ${i + 1}: off ${off.secs.toFixed(3)} s (cpu ${off.cpuSecs!.toFixed(3)}), on ${on.secs.toFixed(3)} s (cpu ${on.cpuSecs!.toFixed(3)})\n`,
    );
  }
  const mid = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const r = (x: number) => Number(x.toFixed(3));
  console.log(
    JSON.stringify({
      bench: 'core-metrics-ab',
      events,
      pairs,
      metricsOverhead: r(mid(wall)),
      metricsOverheadCpu: r(mid(cpu)),
      wallRange: [r(Math.min(...wall)), r(Math.max(...wall))],
      cpuRange: [r(Math.min(...cpu)), r(Math.max(...cpu))],
    }),
  );
}

export async function main(args: string[]): Promise<void> {
  if (args[0] === '--metrics-ab') {
    const pairs = Number(args[1] ?? 9);
    await metricsAb(10_000_000, Number.isInteger(pairs) && pairs > 0 ? pairs : 9);
    return;
  }
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
  // This machine is noisy: alternate the sides and take each side's median round.
  // What eddy run --metrics-port (or --ui) adds on the hot path: hot-key sampling on keyed steps.
  const metricsOn: Run[] = [];
  const runs = {
    materialised: { base: [] as Run[], eddy: [] as Run[] },
    generated: { base: [] as Run[], eddy: [] as Run[] },
  };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const method of ['materialised', 'generated'] as const) {
      const b = child('baseline', events, method);
      const e = child('eddy', events, method);
      runs[method].base.push(b);
      runs[method].eddy.push(e);
      if (method === 'generated') metricsOn.push(child('eddy', events, 'generated', true));
      process.stderr.write(
        `  round ${round}, ${method}: baseline ${(events / b.secs / 1e6).toFixed(2)} M/s, eddy ${(events / e.secs / 1e6).toFixed(2)} M/s (peak RSS ${e.peakRssMb} MB)\n`,
      );
    }
  }
  const figures = (method: 'materialised' | 'generated') => {
    const base = median(runs[method].base);
    const eddy = median(runs[method].eddy);
    if (eddy.results !== base.results || eddy.sum !== base.sum) {
      throw new Error(
        `${method}: eddy and the baseline disagree: ${eddy.results}/${eddy.sum} vs ${base.results}/${base.sum}`,
      );
    }
    const eddyRate = events / eddy.secs;
    const baseRate = events / base.secs;
    return {
      eddyRate: Math.round(eddyRate),
      baseRate: Math.round(baseRate),
      ratio: Number((eddyRate / baseRate).toFixed(3)),
    };
  };
  const m = figures('materialised');
  const g = figures('generated');
  process.stderr.write(`  eddy at ${big.toLocaleString()} generated events for peak RSS...\n`);
  const eddyBig = child('eddy', big, 'generated');
  process.stderr.write(
    `  eddy (${big / 1e6}M): ${(big / eddyBig.secs / 1e6).toFixed(2)} M events/s, peak RSS ${eddyBig.peakRssMb} MB\n`,
  );
  console.log(
    JSON.stringify({
      bench: 'core',
      ratio: m.ratio,
      eddyEventsPerSec: m.eddyRate,
      baselineEventsPerSec: m.baseRate,
      ratioGenerated: g.ratio,
      eddyGeneratedEventsPerSec: g.eddyRate,
      baselineGeneratedEventsPerSec: g.baseRate,
      metricsOverhead: Number((median(metricsOn).secs / median(runs.generated.eddy).secs - 1).toFixed(3)),
      peakRssMb10M: Math.max(...runs.generated.eddy.map((e) => e.peakRssMb)),
      peakRssMb50M: eddyBig.peakRssMb,
      nodeFlags: NODE_FLAGS,
    }),
  );
}

if (process.argv[2] === '--child') {
  const { values } = parseArgs({
    args: process.argv.slice(4),
    options: { events: { type: 'string' }, method: { type: 'string' }, 'hot-keys': { type: 'boolean' } },
  });
  const events = Number(values.events);
  const materialised = values.method === 'materialised';
  const r =
    process.argv[3] === 'eddy'
      ? await runEddy(events, materialised, values['hot-keys'] === true)
      : runBaseline(events, materialised);
  console.log(JSON.stringify({ ...r, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}
