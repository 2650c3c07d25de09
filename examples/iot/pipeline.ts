/**
 * The IoT demo: sensor readings arrive out of order (and a few far too late);
 * eddy computes per-device 10 s averages, raises anomaly alerts from a sliding
 * 10 s window (every 2 s), routes late readings to their own output, and sends malformed
 * readings to the dead-letter output — all on the embedded default.
 *
 *   npm start                               # 500,000 readings at 50,000/s
 *   npm start -- --events 2000000 --rate 200000
 *   npm start -- --duration 30              # as many readings as 30 s at --rate
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Aggregator,
  collectSink,
  definePipeline,
  generatorSource,
  jsonLinesSink,
  Pipeline,
  sliding,
  tumbling,
  type Windowed,
} from '../../src/index.ts';

export interface Reading {
  readonly device: string;
  readonly ts: number;
  readonly temperature: number;
  readonly humidity: number;
}

export interface Stats {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

interface StatsAcc {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** Count, mean, min and max of temperature, mergeable. */
export const temperatureStats: Aggregator<Reading, StatsAcc, Stats> = {
  create: () => ({ count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY }),
  add(acc, r) {
    acc.count++;
    acc.sum += r.temperature;
    if (r.temperature < acc.min) acc.min = r.temperature;
    if (r.temperature > acc.max) acc.max = r.temperature;
    return acc;
  },
  merge: (a, b) => ({
    count: a.count + b.count,
    sum: a.sum + b.sum,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  }),
  result: (acc) => ({
    count: acc.count,
    mean: Math.round((acc.sum / acc.count) * 100) / 100,
    min: acc.min,
    max: acc.max,
  }),
};

const DEVICES = 50;
const ALERT_MEAN = 30;

/**
 * Readings from DEVICES sensors starting at event time `start`. In every 20 s
 * of event time one device overheats for 8 s; 1 in 5,000 readings is malformed.
 */
export function readingsFrom(start: number) {
  return (i: number, g: { readonly time: number; random(): number; int(n: number): number }): Reading => {
    const d = i % DEVICES;
    const device = `sensor-${String(d).padStart(2, '0')}`;
    const base = 18 + (d % 9);
    const since = g.time - start;
    const episode = Math.floor(since / 20_000);
    const overheating = (episode * 7) % DEVICES === d && since % 20_000 < 8_000;
    const temperature = base + g.random() * 2 + (overheating ? 15 : 0);
    if (g.int(5000) === 0) return { device, ts: g.time, temperature: Number.NaN, humidity: -1 }; // a broken sensor
    return {
      device,
      ts: g.time,
      temperature: Math.round(temperature * 10) / 10,
      humidity: Math.round(40 + g.random() * 20),
    };
  };
}

function validate(r: Reading): Reading {
  if (!Number.isFinite(r.temperature)) throw new Error(`temperature is ${r.temperature}`);
  if (r.humidity < 0 || r.humidity > 100) throw new Error(`humidity ${r.humidity} is outside 0..100`);
  return r;
}

export default definePipeline({
  name: 'iot-sensors',
  description:
    'per-device 10 s temperature stats, anomaly alerts and late readings from out-of-order sensor data',
  options: {
    events: { type: 'number', default: 500_000, min: 1, description: 'how many readings to generate' },
    rate: { type: 'number', default: 50_000, min: 1, description: 'readings per second' },
    duration: {
      type: 'number',
      default: 0,
      min: 0,
      description: 'generate for this many seconds at --rate (overrides --events)',
    },
    seed: { type: 'number', default: 42, description: 'random seed' },
    out: { type: 'string', default: 'out/iot', description: 'directory for the JSON Lines outputs' },
  },
  build(o) {
    const count = o.duration > 0 ? Math.round(o.duration * o.rate) : o.events;
    mkdirSync(o.out, { recursive: true });
    const start = Date.now();
    const p = new Pipeline({ name: 'iot-sensors' });
    const readings = p
      .source(
        'readings',
        generatorSource({
          count,
          rate: o.rate,
          seed: o.seed,
          disorder: { maxDelay: 2000, fraction: 0.3 },
          late: { fraction: 0.001, by: 15_000 },
          startTime: start,
          make: readingsFrom(start),
        }),
        { timestamp: (r) => r.ts, maxOutOfOrderness: 2000, idleTimeout: 5000 },
      )
      .map(validate, 'validate');

    const stats = readings
      .keyBy((r) => r.device, 'by-device')
      .window(tumbling(10_000))
      .aggregate(temperatureStats, 'stats-10s');
    stats.sink(jsonLinesSink({ path: join(o.out, 'stats.jsonl') }), 'stats-file');
    stats.late().sink(jsonLinesSink({ path: join(o.out, 'late.jsonl') }), 'late-file');

    const alerts = readings
      .keyBy((r) => r.device, 'by-device-sliding')
      .window(sliding(10_000, 2_000))
      .aggregate(temperatureStats, 'stats-sliding')
      .filter((w) => w.value.mean > ALERT_MEAN, 'anomalies');
    alerts.sink(jsonLinesSink({ path: join(o.out, 'alerts.jsonl') }), 'alerts-file');
    alerts.sink(firstAlerts, 'alerts-sample');
    p.deadLetters().sink(jsonLinesSink({ path: join(o.out, 'dead-letters.jsonl') }), 'dead-letter-file');
    return p;
  },
  summary(m, o) {
    const step = (id: string) => m.steps[id]!;
    const lines = [
      `  10 s windows: ${step('stats-file').recordsIn.toLocaleString('en-US')} results   anomaly alerts: ${step('alerts-file').recordsIn}   late readings: ${step('late-file').recordsIn}   dead letters: ${step('dead-letter-file').recordsIn}`,
      `  outputs in ${o.out}/: stats.jsonl, alerts.jsonl, late.jsonl, dead-letters.jsonl`,
    ];
    for (const a of firstAlerts.values.slice(0, 3)) {
      lines.push(
        `  ALERT ${a.key} mean ${a.value.mean} °C over [${new Date(a.window.start).toISOString().slice(11, 19)}, ${new Date(a.window.end).toISOString().slice(11, 19)})`,
      );
    }
    return lines;
  },
});

const firstAlerts = collectSink<Windowed<string, Stats>>();
