/**
 * What the Kafka skew benches (skew-kafka.ts, skew-kafka-combine.ts) share:
 * seeded Zipf keys, a group's committed offsets, the instances they start
 * as child processes (each reports JSON lines on stdout, its last one when
 * it stops), their options, and medians.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Admin } from '@platformatic/kafka';

const KEYS = 10_000;

/** Seeded Zipf-distributed keys `k0`…`k9999` (the same sequence every run). */
export function zipfKeys(events: number, s: number): string[] {
  const cdf = new Float64Array(KEYS);
  let total = 0;
  for (let i = 0; i < KEYS; i++) total += 1 / (i + 1) ** s;
  let acc = 0;
  for (let i = 0; i < KEYS; i++) cdf[i] = acc += 1 / (i + 1) ** s / total;
  const out = new Array<string>(events);
  let x = 12345;
  for (let e = 0; e < events; e++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = x / 4294967296;
    let lo = 0;
    let hi = KEYS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[e] = `k${lo}`;
  }
  return out;
}

/** The sum of a group's committed offsets on `topic`. */
export async function committed(
  admin: Admin,
  group: string,
  topic: string,
  partitions: number,
): Promise<number> {
  const groups = await admin.listConsumerGroupOffsets({
    groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: [...Array(partitions).keys()] }] }],
  });
  let sum = 0;
  for (const t of groups[0]?.topics ?? [])
    for (const p of t.partitions) if (p.committedOffset > 0n) sum += Number(p.committedOffset);
  return sum;
}

/** An instance: the child process, and its last JSON line once it exited 0 (rejects otherwise). */
export interface Instance<R> {
  readonly child: ChildProcess;
  readonly report: Promise<R>;
}

/**
 * Starts `script --child ...args` (instance `index`); `onLine` gets each JSON
 * line it writes before its last.
 */
export function startInstance<R>(
  script: string,
  args: readonly string[],
  index: number,
  onLine: (line: Record<string, unknown>) => void = () => {},
): Instance<R> {
  const child = spawn(process.execPath, [script, '--child', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let parsed = 0;
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    for (; parsed < lines.length - 1; parsed++) onLine(JSON.parse(lines[parsed]!) as Record<string, unknown>);
  });
  const report = new Promise<R>((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as R)
        : reject(new Error(`instance ${index} exited ${code}`)),
    ),
  );
  report.catch(() => {}); // awaited by the caller once it stops the instances
  return { child, report };
}

/** The options both benches take. */
export const INSTANCE_OPTIONS = {
  events: { type: 'string', default: '600000' },
  partitions: { type: 'string', default: '6' },
  instances: { type: 'string', default: '3' },
  zipf: { type: 'string', default: '1.5' },
  rounds: { type: 'string', default: '2' },
  brokers: { type: 'string', default: process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092' },
} as const;

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const r3 = (x: number) => Number(x.toFixed(3));

/** The busiest instance's CPU time over the mean of the instances'. */
export const cpuSkew = (cpu: readonly number[]) =>
  Math.max(...cpu) / (cpu.reduce((a, b) => a + b, 0) / cpu.length);
