/**
 * The Nexmark harness without the peers: flag parsing, which event an
 * output's latency is measured from, an eddy round in-process at the maximum
 * and at a fixed rate over a small events file, and the report's renderings.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { latencyStart, runRoundHere } from '../../bench/nexmark/harness/eddy.ts';
import { writeEvents, writeSkewedEvents } from '../../bench/nexmark/harness/events.ts';
import { parseSettings } from '../../bench/nexmark/harness/main.ts';
import { chart, markdown, type NexmarkReport, summaryLine } from '../../bench/nexmark/harness/report.ts';
import { summarize } from '../../bench/nexmark/harness/stats.ts';

describe('flags', () => {
  it('defaults, and --quick', () => {
    const full = parseSettings([]);
    assert.ok(full !== 'help');
    assert.deepEqual(full.systems, ['eddy']);
    assert.equal(full.events, 1_000_000);
    assert.deepEqual(full.profiles, ['max', 'constant']);
    const quick = parseSettings(['--quick', '--cold-peers', 'kafka-streams,flink']);
    assert.ok(quick !== 'help');
    assert.deepEqual(quick.systems, ['eddy', 'flink', 'kafka-streams']);
    assert.deepEqual(quick.queries, ['q0', 'q2', 'q5']);
    assert.equal(quick.events, 100_000);
    const some = parseSettings(['--profile', 'skew,ramp', '--events', '1_000', '--fractions', '0.3']);
    assert.ok(some !== 'help');
    assert.deepEqual(some.profiles, ['max', 'skew', 'ramp']);
    assert.equal(some.events, 1000);
    assert.deepEqual(some.fractions, [0.3]);
    assert.equal(some.chart, undefined);
    const charted = parseSettings(['--chart', 'docs/img/nexmark.svg']);
    assert.ok(charted !== 'help');
    assert.equal(charted.chart, 'docs/img/nexmark.svg');
  });
  it('errors name the flag and the fix', () => {
    assert.throws(() => parseSettings(['--bogus']), /unknown flag --bogus; run with --help/);
    assert.throws(
      () => parseSettings(['--events', 'ten']),
      /--events must be a whole number >= 1; received "ten"/,
    );
    assert.throws(
      () => parseSettings(['--cold-peers', 'spark']),
      /--cold-peers: unknown system "spark"; use flink, kafka-streams or both \(for a fair comparison: --vs\)/,
    );
    // Peers are compared by the fair method: nexmark's main hands --vs to nexmark-fair.
    assert.throws(
      () => parseSettings(['--vs', 'flink']),
      /--vs compares by the fair method: run npm run bench -- nexmark-fair/,
    );
    assert.throws(() => parseSettings(['--queries', 'q99']), /unknown query "q99"; eddy has q0,/);
    assert.throws(() => parseSettings(['--profile', 'spiky']), /unknown profile "spiky"/);
    assert.throws(
      () => parseSettings(['--chart', 'x.png']),
      /--chart: the chart is an SVG file; received "x.png"/,
    );
    assert.equal(parseSettings(['--help']), 'help');
  });
});

describe('latency start', () => {
  const times = Float64Array.from([0, 0, 1, 1, 1, 5, 9]);
  it('is the newest event at or before the output time', () => {
    assert.equal(latencyStart(times, -1), -1);
    assert.equal(latencyStart(times, 0), 1);
    assert.equal(latencyStart(times, 1), 4);
    assert.equal(latencyStart(times, 4), 4); // a window ending at 5 closes on its last event, time 1
    assert.equal(latencyStart(times, 9), 6);
    assert.equal(latencyStart(times, 100), 6);
  });
});

describe('an eddy round, in-process', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'eddy-nexmark-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  it('counts events and outputs at the maximum rate and times outputs at a fixed one', async () => {
    // 1,000 events per second of event time: 10 s, so that some windows close before the input ends.
    const file = await writeEvents(dir, { count: 10_000, seed: 2, eventsPerSecond: 1000 });
    assert.equal(file.events, 10_000);
    const max = await runRoundHere({
      query: 'q2',
      eventsFile: file.path,
      events: file.events,
      profile: { kind: 'max' },
      intervalMs: 20,
    });
    assert.equal(max.events, 10_000);
    assert.ok(max.outputs > 0);
    assert.equal(max.latency, null);
    assert.ok(max.peakRssMb > 0 && max.cpuMs > 0);
    const paced = await runRoundHere({
      query: 'q2',
      eventsFile: file.path,
      events: file.events,
      profile: { kind: 'constant', rate: 100_000 },
      intervalMs: 20,
    });
    assert.equal(paced.outputs, max.outputs, 'the same events give the same outputs');
    assert.ok(paced.elapsedMs >= 95, `10,000 events at 100,000/s take 100 ms; took ${paced.elapsedMs}`);
    assert.ok(paced.latency !== null);
    assert.ok(paced.latency.count > 0 && paced.latency.count <= paced.outputs);
    assert.ok(paced.latency.p50 >= 0 && paced.latency.p99 >= paced.latency.p50);
    assert.ok(paced.latency.encoded.length > 0);
    // Windows: the same outputs paced as at full speed; the end-of-input flush is not timed.
    const windowed = await runRoundHere({
      query: 'q5',
      eventsFile: file.path,
      events: file.events,
      profile: { kind: 'constant', rate: 200_000 },
      intervalMs: 20,
    });
    assert.ok(windowed.flushOutputs > 0);
    assert.ok(windowed.latency !== null && windowed.latency.count > 0);
    assert.equal(windowed.latency?.count, windowed.outputs - windowed.flushOutputs);
    const skewed = await writeSkewedEvents(file, { exponent: 1.2, seed: 1 });
    assert.equal(skewed.events, 10_000);
    const onSkew = await runRoundHere({
      query: 'q5',
      eventsFile: skewed.path,
      events: skewed.events,
      profile: { kind: 'max' },
      intervalMs: 20,
    });
    assert.ok(onSkew.outputs > 0);
  });
});

describe('the report', () => {
  const s = (m: number) => summarize([[m * 0.98, m * 1.02, m * 0.99, m * 1.01, m]], { dropWarmup: false });
  const system = (name: 'eddy' | 'flink', m: number) => ({
    system: name,
    throughput: s(m),
    throughputFrom: 'samples' as const,
    wallEventsPerSec: m,
    outputs: 55,
    cpuMs: 4200,
    peakRssMb: 210,
    latency: [
      {
        profile: 'constant',
        fraction: 0.5,
        rate: m / 2,
        p50: 1.2,
        p99: 9.5,
        p999: 20,
        count: 1000,
        rounds: 1,
      },
    ],
    rounds: [],
    errors: [],
  });
  const report: NexmarkReport = {
    bench: 'nexmark',
    date: '2026-11-24',
    machine: { cpus: 2, memoryGb: 24, node: '24.21.0', os: 'linux x64' },
    config: {
      events: 1000,
      rounds: 3,
      latencyRounds: 1,
      queries: ['q5'],
      systems: ['eddy', 'flink'],
      profiles: ['max', 'constant'],
      fractions: [0.5],
      intervalMs: 250,
      parallelism: 1,
      seed: 1,
      zipf: 1.2,
      quick: false,
    },
    histograms: 'hdr-histogram-js, WebAssembly',
    skipped: [],
    queries: [
      {
        query: 'q5',
        systems: { eddy: system('eddy', 300_000), flink: system('flink', 600_000) },
        ratios: {},
        warnings: [],
      },
    ],
    elapsedS: 12,
  };
  it('renders a table row per system, a JSON line and a chart', () => {
    const md = markdown(report);
    assert.match(md, /\| q5 \| eddy \| 300k ± [\d.]+ % \| 9\.50 \| 4\.2 \| 210 \| 55 \|/);
    assert.match(md, /\| q5 \| Flink \| 600k/);
    assert.deepEqual(summaryLine(report), {
      bench: 'nexmark',
      queries: { q5: { eddy: 300_000, flink: 600_000, ratioVsFlink: null } },
    });
    const svg = chart(report);
    assert.match(svg, /^<svg [^>]*>/);
    assert.equal((svg.match(/<rect x="\d/g) ?? []).length, 2 + 2, 'two bars and two legend keys');
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.doesNotMatch(svg, /outputs differ/);
  });
  it("marks a peer whose outputs differ from eddy's in the chart", () => {
    const q5 = report.queries[0]!;
    const differs: NexmarkReport = {
      ...report,
      queries: [{ ...q5, systems: { ...q5.systems, flink: { ...system('flink', 600_000), outputs: 0 } } }],
    };
    const svg = chart(differs);
    assert.equal((svg.match(/font-weight="bold">\*<\/text>/g) ?? []).length, 1);
    assert.match(svg, /\* outputs differ from eddy's/);
  });
});
