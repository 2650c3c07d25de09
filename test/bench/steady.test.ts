/**
 * The fair method's arithmetic (bench/nexmark/harness/steady.ts) on made-up
 * progress lines and CPU samples, so nothing here depends on how fast this
 * machine runs: the steady-state window, throughput, CPU-second accounting
 * and the latency definition.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventTimestamp, NEXMARK_DEFAULTS } from '../../bench/nexmark/generator.ts';
import {
  type FairRound,
  fileEvents,
  interval,
  otherCores,
  outputWarnings,
  parseFairSettings,
  sparkRoundArgs,
  summarise,
} from '../../bench/nexmark/harness/fair.ts';
import {
  arrivalTime,
  caughtUp,
  cpuAt,
  cpuBetween,
  drift,
  latencySamples,
  newestEventAt,
  parseProgress,
  percentile,
  procStatCpuMs,
  scheduledArrival,
  selectWindow,
  type Tick,
  windowThroughput,
} from '../../bench/nexmark/harness/steady.ts';

const MS = 1000; // µs per ms

/** Ticks every 100 ms at `rate(i)` events per tick. */
function ticks(n: number, perTick: (i: number) => number, t0 = 1_000_000 * MS): Tick[] {
  const out: Tick[] = [];
  let events = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) events += perTick(i);
    out.push({ t: t0 + i * 100 * MS, events, outputs: events, maxOut: null, maxOutAt: null });
  }
  return out;
}

describe('parseProgress', () => {
  it('reads a progress line with and without an output', () => {
    assert.deepEqual(parseProgress('@p 1700000000000123 500 40 9999 1700000000000100'), {
      t: 1700000000000123,
      events: 500,
      outputs: 40,
      maxOut: 9999,
      maxOutAt: 1700000000000100,
    });
    assert.deepEqual(parseProgress('@p 5 0 0 - -'), {
      t: 5,
      events: 0,
      outputs: 0,
      maxOut: null,
      maxOutAt: null,
    });
  });
  it('ignores other lines', () => {
    assert.equal(parseProgress('{"system":"flink"}'), undefined);
    assert.equal(parseProgress('@p 1 2'), undefined);
    assert.equal(parseProgress('@p x 2 3 - -'), undefined);
  });
});

describe('selectWindow', () => {
  const rule = { warmupEvents: 1000, windowEvents: 5000, windowMs: 60_000 };

  it('starts at the first tick past the warm-up and ends when the window holds its events', () => {
    const ts = ticks(100, () => 100); // 100 events per tick
    const w = selectWindow(ts, rule)!;
    assert.equal(w.start, 10); // 1000 events
    assert.equal(w.end, 60); // 6000 events: 5000 in the window
    assert.equal(w.complete, true);
    assert.deepEqual(windowThroughput(ts, w), { events: 5000, durationMs: 5000, eventsPerSec: 1000 });
  });

  it('ends on the time bound when it comes first', () => {
    const ts = ticks(1000, () => 1);
    const w = selectWindow(ts, { warmupEvents: 10, windowEvents: 1e9, windowMs: 2000 })!;
    assert.equal(w.start, 10);
    assert.equal(w.end, 30); // 20 ticks of 100 ms
    assert.equal(w.complete, true);
  });

  it('excludes a slow start: the warm-up is trimmed the same way for every system', () => {
    // A cold start: 10 events per tick for 50 ticks, then 100.
    const ts = ticks(200, (i) => (i <= 50 ? 10 : 100));
    const w = selectWindow(ts, { warmupEvents: 500, windowEvents: 5000, windowMs: 60_000 })!;
    assert.equal(ts[w.start]!.events, 500);
    assert.equal(windowThroughput(ts, w).eventsPerSec, 1000);
    assert.equal(drift(ts, w), 0);
  });

  it('is incomplete when the input ends first, and leaves out the idle ticks after it', () => {
    const ts = ticks(40, (i) => (i <= 30 ? 100 : 0)); // 3000 events, then idle
    const w = selectWindow(ts, rule)!;
    assert.equal(w.complete, false);
    assert.equal(w.end, 30);
    assert.equal(windowThroughput(ts, w).eventsPerSec, 1000);
  });

  it('has no window when the warm-up never ends', () => {
    assert.equal(
      selectWindow(
        ticks(5, () => 100),
        rule,
      ),
      undefined,
    );
  });

  it('uses the tick timestamps, not the nominal interval', () => {
    // Late ticks (a busy event loop or a GC pause) still give the right rate.
    const ts: Tick[] = [0, 130, 200, 460, 500].map((ms) => ({
      t: ms * MS,
      events: ms * 10,
      outputs: 0,
      maxOut: null,
      maxOutAt: null,
    }));
    const w = selectWindow(ts, { warmupEvents: 1, windowEvents: 1e9, windowMs: 300 })!;
    assert.equal(w.start, 1);
    assert.equal(w.end, 3);
    assert.equal(windowThroughput(ts, w).eventsPerSec, 10_000);
  });
});

describe('drift', () => {
  it('is positive when the second half ran faster (warm-up too short)', () => {
    const ts = ticks(21, (i) => (i <= 10 ? 100 : 150));
    const d = drift(ts, { start: 0, end: 20, complete: true });
    assert.ok(Math.abs(d - 0.5) < 1e-9, String(d));
  });
});

describe('CPU-second accounting', () => {
  it('reads utime + stime from /proc/<pid>/stat, whatever the command name holds', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const stat = '4242 (java (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 40 0';
    assert.equal(procStatCpuMs(stat), 2800);
    assert.equal(procStatCpuMs(stat, 1000), 280);
  });

  it('interpolates the cumulative CPU to the window’s ends', () => {
    const cpu = [
      { t: 0, cpuMs: 0 },
      { t: 100 * MS, cpuMs: 100 },
      { t: 200 * MS, cpuMs: 150 },
      { t: 300 * MS, cpuMs: 250 },
    ];
    assert.equal(cpuAt(cpu, 50 * MS), 50);
    assert.equal(cpuAt(cpu, 150 * MS), 125);
    assert.equal(cpuBetween(cpu, 50 * MS, 250 * MS), 200 - 50);
    // Clamped outside the samples.
    assert.equal(cpuAt(cpu, -5), 0);
    assert.equal(cpuAt(cpu, 10_000 * MS), 250);
  });

  it('gives events per CPU-second of the window only, not of start-up', () => {
    // Start-up burns 5 s of CPU before the window; in the window 2 s of CPU for 4000 events.
    const cpu = [
      { t: 0, cpuMs: 5000 },
      { t: 4000 * MS, cpuMs: 7000 },
    ];
    const events = 4000;
    assert.equal((events * 1000) / cpuBetween(cpu, 0, 4000 * MS), 2000);
  });
});

describe('latency: emit time − arrival of the newest contributing input', () => {
  it('finds the newest generator event at or before an event time', () => {
    const config = NEXMARK_DEFAULTS;
    for (const time of [0, 1, 7, 999, 1000, 123_456]) {
      const n = newestEventAt(time, config.eventsPerSecond);
      assert.ok(eventTimestamp(n, config) <= time, `event ${n} is after ${time}`);
      assert.ok(eventTimestamp(n + 1, config) > time, `event ${n + 1} is not after ${time}`);
    }
    assert.equal(newestEventAt(-1, 10_000), -1);
    assert.equal(newestEventAt(0, 3), 0); // events at 0, 333, 666, …
    assert.equal(newestEventAt(333, 3), 1);
  });

  it('interpolates an input’s arrival between progress lines', () => {
    const ts = ticks(5, () => 100); // 0, 100, 200, 300, 400 events at 0, 100, … ms
    assert.equal(arrivalTime(ts, 150), ts[1]!.t + 50 * MS);
    assert.equal(arrivalTime(ts, 100), ts[1]!.t);
    assert.equal(arrivalTime(ts, 401), undefined);
  });

  it('measures each new newest output once, inside the window only', () => {
    // 1000 events per 100 ms tick; event n has event time n ms. At tick i the newest output is
    // event 1000·(i − 1) − 1 (the 1000·(i − 1)-th input, which arrived at tick i − 1), emitted
    // 40 ms before tick i: 60 ms after its input arrived.
    const base = ticks(11, () => 1000);
    const ts: Tick[] = base.map((k, i) => ({
      ...k,
      maxOut: i < 2 ? null : 1000 * (i - 1) - 1,
      maxOutAt: i < 2 ? null : k.t - 40 * MS,
    }));
    // The same newest output reported by two ticks counts once.
    const repeated = [...ts.slice(0, 6), { ...ts[6]!, t: ts[6]!.t + 1 }, ...ts.slice(6)].sort(
      (x, y) => x.t - y.t,
    );
    const w = { start: 2, end: 10, complete: true };
    const lat = latencySamples(ts, w, (t) => newestEventAt(t, 1000));
    // Tick 2's output left before the window started (warm-up): left out. Ticks 3..10 remain.
    assert.equal(lat.length, 8);
    for (const x of lat) assert.ok(Math.abs(x - 60) < 1e-9, String(x));
    assert.equal(
      latencySamples(repeated, { start: 2, end: 11, complete: true }, (t) => newestEventAt(t, 1000)).length,
      8,
    );
  });

  it('is the time from arrival to emission for a window result', () => {
    // Progress: 100 events per 100 ms. A window closing at event time 149 (events up to index 149)
    // is emitted 250 ms after event 149 arrived.
    const ts = ticks(30, () => 100);
    const arrived = arrivalTime(ts, 150)!; // the 150th event is index 149
    const withOut = ts.map((k, i) => (i >= 10 ? { ...k, maxOut: 149, maxOutAt: arrived + 250 * MS } : k));
    const lat = latencySamples(withOut, { start: 0, end: 29, complete: true }, (t) => newestEventAt(t, 1000));
    assert.deepEqual(lat, [250]);
  });

  it('in a paced round, measures from the schedule: a system that falls behind shows its backlog', () => {
    // Paced at 1,000 events/s (100 per 100 ms tick). For 1 s the system reads on schedule, then at
    // half the rate: by tick 30 it has read 2,000 events, while 3,000 were due.
    const rate = 1000;
    const ts = ticks(31, (i) => (i <= 10 ? 100 : 50));
    const due = scheduledArrival(ts, rate)!;
    // The schedule's origin, read off the ticks where it kept up: they count 100·i events by
    // 100·i ms, so event k is taken as due at k ms after tick 0 (each tick's count is its due count).
    assert.equal(due(1), ts[0]!.t + 1 * MS);
    assert.equal(due(1001), ts[0]!.t + 1001 * MS);
    // Each tick emits the window of everything read by then (its newest input is the last one read).
    const withOut = ts.map((k, i) => (i < 2 ? k : { ...k, maxOut: k.events - 1, maxOutAt: k.t }));
    const w = { start: 2, end: 30, complete: true };
    const newest = (t: number) => newestEventAt(t, 1000);
    const byRead = latencySamples(withOut, w, newest);
    const bySchedule = latencySamples(withOut, w, newest, due);
    // Counted when read, every output looks immediate; from the schedule, the last one waited
    // since event 2,000 was due (at 2 s), emitted at 3 s: about 1 s.
    assert.ok(Math.max(...byRead) < 1, String(byRead));
    assert.ok(Math.abs(bySchedule.at(-1)! - 1000) <= 1, String(bySchedule.at(-1)));
    // While it kept up, both say the same.
    assert.ok(Math.abs(bySchedule[0]! - byRead[0]!) <= 1);
    assert.equal(
      scheduledArrival(
        ticks(3, () => 0),
        rate,
      ),
      undefined,
    );
  });

  it('in a paced round, the window starts once the system has caught up with its schedule', () => {
    // Paced at 1,000 events/s (100 due per 100 ms tick). It starts on schedule (ticks 1–2), stalls
    // (ticks 3–12: a slow start-up), then reads 200 per tick, working off its backlog, until it is
    // within 200 of the schedule (tick 20: 1,800 read of 2,000 due), then keeps pace.
    const perTick = (i: number, read: number) => (i <= 2 ? 100 : i <= 12 ? 0 : Math.min(200, i * 100 - read));
    const ts: Tick[] = [];
    for (let i = 0, read = 0; i < 60; i++) {
      if (i > 0) read += perTick(i, read);
      ts.push({
        t: 1_000_000 * MS + i * 100 * MS,
        events: read,
        outputs: read,
        maxOut: null,
        maxOutAt: null,
      });
    }
    const ready = caughtUp(ts, 1000, 200);
    const rule = { warmupEvents: 500, windowEvents: 1_000_000, windowMs: 2000 };
    const plain = selectWindow(ts, rule)!;
    const paced = selectWindow(ts, rule, ready)!;
    // By the warm-up alone it would start while it was still 1,000 events behind.
    assert.equal(ts[plain.start]!.events, 600);
    assert.ok(!ready(ts[plain.start]!));
    assert.equal(paced.start, 20);
    assert.equal(ts[20]!.events, 1800);
    // The rest of its slack (200 events) is read in the window: 2,200 in 2 s.
    assert.equal(windowThroughput(ts, paced).eventsPerSec, 1100);
    assert.ok(
      windowThroughput(ts, plain).eventsPerSec === 1400,
      'working off its backlog, it read faster than offered',
    );
  });

  it('a paced round warmed at the maximum rate: the schedule starts after the warm-up', () => {
    // 1,000 warm-up events read at 500 per 100 ms tick (ticks 1–2), then paced at 1,000 events/s
    // (100 per tick) from tick 2, on schedule.
    const rate = 1000;
    const warm = 1000;
    const ts = ticks(40, (i) => (i <= 2 ? 500 : 100));
    const due = scheduledArrival(ts, rate, warm)!;
    // The 1,100th event, counted at tick 3, was due by then: the origin is tick 2 + 1 ms.
    assert.equal(due(warm + 1), ts[2]!.t + 1 * MS);
    assert.equal(due(warm + 101), ts[3]!.t + 1 * MS);
    // A warm-up event has no due time: an output whose newest input is one gives no sample.
    assert.equal(due(warm), undefined);
    assert.equal(due(1), undefined);
    // Read at five times the rate, the warm-up is not a backlog: caught up once the schedule runs.
    const ready = caughtUp(ts, rate, 200, warm);
    assert.ok(!ready(ts[1]!) && !ready(ts[2]!), 'not before the schedule starts');
    assert.ok(ready(ts[3]!) && ready(ts[39]!));
    const w = selectWindow(ts, { warmupEvents: warm, windowEvents: 1_000_000, windowMs: 2000 }, ready)!;
    assert.equal(w.start, 3);
    assert.equal(windowThroughput(ts, w).eventsPerSec, rate);
    // Outputs: tick 3's newest input is a warm-up event (index 999), later ones paced events.
    const withOut = ts.map((k, i) =>
      i < 3 ? k : { ...k, maxOut: i === 3 ? warm - 1 : k.events - 1, maxOutAt: k.t + 5 * MS },
    );
    const lat = latencySamples(
      withOut,
      { start: 2, end: 39, complete: true },
      (t) => newestEventAt(t, 1000),
      due,
    );
    assert.equal(lat.length, 35, 'ticks 4–38 (39 emits after the window), not tick 3');
    // Each tick's newest input was due at that tick; its output came 5 ms later.
    for (const l of lat) assert.ok(Math.abs(l - 5) < 1e-9, String(l));
  });

  it('percentiles are nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile(xs, 100), 100);
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});

describe('fair harness settings', () => {
  it('gives a paced Kafka Streams loader the cores the round does not measure', () => {
    assert.equal(otherCores('0', 2), '1');
    assert.equal(otherCores('0-1', 2), undefined);
    assert.equal(otherCores('0,2', 4), '1,3');
    assert.equal(otherCores('1-2', 4), '0,3');
  });

  it('defaults to the issue’s rule: a fixed warm-up, then 10M events or 30 s, parallelism 1 on core 0', () => {
    const s = parseFairSettings([]);
    assert.notEqual(s, 'help');
    if (s === 'help') return;
    assert.deepEqual(s.rule, { warmupEvents: 3_000_000, windowEvents: 10_000_000, windowMs: 30_000 });
    assert.equal(s.parallelism, 1);
    assert.equal(s.cores, '0');
    assert.equal(s.rounds, 3);
    assert.equal(s.durability, 'none');
    assert.equal(fileEvents(s.rule), 13_500_000);
  });

  it('allows a shorter window with --quick or the flags', () => {
    const s = parseFairSettings(['--quick', '--window-s', '3']);
    if (s === 'help') return assert.fail('help');
    assert.equal(s.rule.windowMs, 3000);
    assert.equal(s.rounds, 1);
  });

  it('takes the checkpoint mode, every 10 s unless told', () => {
    const s = parseFairSettings(['--durability', 'checkpoint']);
    if (s === 'help') return assert.fail('help');
    assert.equal(s.durability, 'checkpoint');
    assert.equal(s.checkpointMs, 10_000);
    const t = parseFairSettings(['--durability', 'checkpoint', '--checkpoint-s', '5']);
    if (t === 'help') return assert.fail('help');
    assert.equal(t.checkpointMs, 5000);
  });

  it('adds latency rounds at fractions of each system’s maximum', () => {
    const s = parseFairSettings(['--latency', '0.5,0.8']);
    if (s === 'help') return assert.fail('help');
    assert.deepEqual(s.loads, [0.5, 0.8]);
    assert.equal(s.latencyRounds, 1);
    const none = parseFairSettings([]);
    if (none === 'help') return assert.fail('help');
    assert.deepEqual(none.loads, []);
    assert.throws(() => parseFairSettings(['--latency', '0.5,1.2']), /between 0 and 1/);
  });

  it('brackets paced rounds with a maximum-rate round after them only where there are paced rounds', () => {
    const s = parseFairSettings(['--latency', '0.5,0.8', '--bracket']);
    if (s === 'help') return assert.fail('help');
    assert.equal(s.bracket, true);
    const none = parseFairSettings(['--latency', '0.5']);
    if (none === 'help') return assert.fail('help');
    assert.equal(none.bracket, false);
    assert.throws(() => parseFairSettings(['--bracket']), /give --latency too/);
  });

  it('refuses what it does not implement', () => {
    assert.throws(() => parseFairSettings(['--durability', 'rocksdb']), /none or checkpoint/);
    assert.throws(() => parseFairSettings(['--vs', 'storm']), /unknown system/);
    assert.throws(() => parseFairSettings(['--transport', 'nats']), /file or kafka/);
    assert.throws(
      () => parseFairSettings(['--transport', 'kafka', '--latency', '0.5']),
      /without --transport kafka/,
    );
  });

  it('reads the events file by default, one topic for every system with --transport kafka', () => {
    const d = parseFairSettings([]);
    assert.ok(d !== 'help');
    assert.equal(d.transport, 'file');
    const s = parseFairSettings(['--transport', 'kafka']);
    assert.ok(s !== 'help');
    assert.equal(s.transport, 'kafka');
  });

  it('runs spark-rt (Spark’s real-time trigger) in the Kafka mode only, refusing it by name with the file transport', () => {
    assert.throws(
      () => parseFairSettings(['--vs', 'spark,spark-rt']),
      /--vs spark-rt needs --transport kafka/,
    );
    assert.throws(
      () => parseFairSettings(['--vs', 'spark-rt', '--transport', 'file']),
      /real-time mode reads only .* Kafka source/,
    );
    const s = parseFairSettings(['--vs', 'spark,spark-rt', '--transport', 'kafka']);
    assert.ok(s !== 'help');
    assert.deepEqual(s.systems, ['eddy', 'spark', 'spark-rt']);
    // Without spark-rt, the file transport is as before.
    assert.ok(parseFairSettings(['--vs', 'spark']) !== 'help');
  });

  it('refuses spark-rt checkpoints more often than Spark’s shortest real-time batch (5 s)', () => {
    const base = ['--vs', 'spark-rt', '--transport', 'kafka', '--durability', 'checkpoint'];
    assert.throws(() => parseFairSettings([...base, '--checkpoint-s', '2']), /--checkpoint-s 5 or more/);
    const s = parseFairSettings([...base, '--checkpoint-s', '5']);
    assert.ok(s !== 'help');
    assert.equal(s.checkpointMs, 5000);
  });

  it('gives spark-rt no row cap, and its checkpoint interval as the real-time batch', () => {
    const none = { durability: 'none', checkpointMs: 10_000 } as const;
    const checkpoint = { durability: 'checkpoint', checkpointMs: 10_000 } as const;
    // Micro-batch Spark: 400,000 rows per batch at the maximum rate, none in latency rounds.
    assert.deepEqual(sparkRoundArgs('spark', none, '/c'), ['--max-rows-per-batch', '400000']);
    assert.deepEqual(sparkRoundArgs('spark', checkpoint, '/c'), [
      '--checkpoint-dir',
      '/c',
      '--max-rows-per-batch',
      '400000',
    ]);
    // Real-time: Spark's default batch (5 minutes) without durability; a batch per checkpoint with it.
    assert.deepEqual(sparkRoundArgs('spark-rt', none, '/c'), []);
    assert.deepEqual(sparkRoundArgs('spark-rt', checkpoint, '/c'), [
      '--checkpoint-dir',
      '/c',
      '--trigger-ms',
      '10000',
    ]);
  });

  it('gives a Student t interval over rounds', () => {
    const i = interval([10, 12, 14]);
    assert.equal(i.mean, 12);
    // sd 2, se 2/√3, t(0.975, 2) = 4.303
    assert.ok(Math.abs(i.high - 12 - 4.303 * (2 / Math.sqrt(3))) < 0.01);
  });
});

describe('outputs per event', () => {
  const round = (system: FairRound['system'], outputsPerKEvents: number): FairRound => ({
    system,
    query: 'q5',
    round: 1,
    complete: true,
    events: 1000,
    durationS: 1,
    eventsPerSec: 1000,
    cpuS: 1,
    eventsPerCpuS: 1000,
    drift: 0,
    latencyMs: null,
    peakRssMb: 100,
    outputsPerKEvents,
    startS: 0,
    outputsAtStop: 0,
  });
  it('warns of a peer far from eddy’s outputs per event (lost or repeated results), not of one near', () => {
    const rounds = [round('eddy', 4), round('eddy', 4.2), round('flink', 3.9), round('kafka-streams', 0.5)];
    const w = outputWarnings('q5', rounds);
    assert.equal(w.length, 1);
    assert.match(w[0]!, /^q5 kafka-streams: 0\.50 outputs per 1,000 events against eddy's 4\.10/);
    assert.equal(outputWarnings('q5', [...rounds.slice(0, 3), round('kafka-streams', 7)]).length, 1);
    assert.deepEqual(outputWarnings('q0', rounds), []);
  });
});

describe('the maximum after the paced rounds (--bracket)', () => {
  const round = (eventsPerSec: number, extra: Partial<FairRound> = {}): FairRound => ({
    system: 'eddy',
    query: 'q4',
    round: 1,
    complete: true,
    events: eventsPerSec * 10,
    durationS: 10,
    eventsPerSec,
    cpuS: 10,
    eventsPerCpuS: eventsPerSec,
    drift: 0,
    latencyMs: { p50: 1, p99: 9, max: 20, n: 100 },
    peakRssMb: 100,
    outputsPerKEvents: 5,
    startS: 0,
    outputsAtStop: 0,
    ...extra,
  });
  it('reports it beside the maximum before and gives each offered rate as a fraction of it', () => {
    const s = parseFairSettings(['--queries', 'q4', '--latency', '0.5,0.8', '--bracket']);
    if (s === 'help') return assert.fail('help');
    // The machine slowed by a fifth: 80 % of the maximum before is all of the maximum after.
    const before = [round(500_000), round(500_000)];
    const paced = [
      round(250_000, { load: 0.5, rate: 250_000 }),
      round(380_000, { load: 0.8, rate: 400_000 }),
    ];
    const report = summarise(s, 13_500_000, before, [], paced, [round(400_000, { after: true })]);
    const eddy = report.queries.q4!.eddy as {
      maxAfter: { eventsPerSec: number; change: number };
      atLoad: Record<string, { ofMaxAfter: number; achievedEventsPerSec: number }>;
    };
    assert.deepEqual(eddy.maxAfter, { eventsPerSec: 400_000, eventsPerCpuS: 400_000, change: -0.2 });
    assert.equal(eddy.atLoad['0.5']!.ofMaxAfter, 0.63);
    assert.equal(eddy.atLoad['0.8']!.ofMaxAfter, 1);
    assert.equal(report.method.bracket, true);
    // Without --bracket neither appears.
    const plain = summarise({ ...s, bracket: false }, 13_500_000, before, [], paced);
    const p = plain.queries.q4!.eddy as Record<string, unknown> & { atLoad: Record<string, object> };
    assert.equal(p.maxAfter, undefined);
    assert.equal('ofMaxAfter' in p.atLoad['0.8']!, false);
  });
});
