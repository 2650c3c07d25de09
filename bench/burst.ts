/**
 * `npm run bench -- burst` (issue 18): HTTP ingest under a 10× burst, with
 * adaptive rate control (`httpSource({ rateControl })`) and without it (only
 * the queue bound, 200,000 records). The pipeline runs in a child process —
 * HTTP ingest → a map that costs about 20 µs of CPU per record → a sink that
 * records each record's latency (its arrival at the sink − when the client
 * first tried to send it) — so its peak RSS is its own. This process is the
 * client: NDJSON POSTs of 500 records at 10,000 records/s for 3 s, then
 * 100,000/s for 3 s, then 10,000/s for 3 s; a refused request (429) is sent
 * again after its Retry-After, so every record gets in in the end. Both modes
 * get the same offered load; they alternate over the rounds.
 *
 * Per mode: peak RSS of the pipeline's process, p50/p99/max latency over all
 * records, the 429s, the most records queued at once, and whether the sink
 * got every record exactly once (it must, in both).
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"burst","rounds":…,"on":{…},"off":{…}}
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { httpSource } from '../src/connectors/http/index.ts';
import type { Sink } from '../src/core/connector.ts';
import { Pipeline } from '../src/index.ts';
import { Histogram } from '../src/util/histogram.ts';

interface Rec {
  readonly id: number;
  /** When the client first tried to send it (epoch ms). */
  readonly t: number;
}

interface ChildResult {
  delivered: number;
  distinct: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  maxRssMb: number;
  maxQueued: number;
}

const PHASES = [
  { rate: 10_000, seconds: 3 },
  { rate: 100_000, seconds: 3 },
  { rate: 10_000, seconds: 3 },
];
const PER_REQUEST = 500;

/** The child: the pipeline, until stdin closes; then its figures on stdout. */
async function pipelineProcess(rateControl: boolean): Promise<void> {
  const source = httpSource<Rec>({
    port: 0,
    queueSize: 200_000,
    maxBodyBytes: 4 * 1024 * 1024,
    ...(rateControl ? { rateControl: { minRate: 1_000 } } : {}),
  });
  const latency = new Histogram();
  const seen = new Set<number>();
  let delivered = 0;
  const sink: Sink<Rec> = {
    kind: 'latency',
    guarantee: 'best-effort',
    open: () => ({
      write(values) {
        const now = Date.now();
        for (const v of values) {
          delivered++;
          seen.add(v.id);
          latency.record(now - v.t);
        }
      },
    }),
  };
  const p = new Pipeline({ name: 'bench-burst', batchSize: 500 });
  p.source('in', source)
    .map((r) => {
      // About 20 µs of work per record: a pipeline slower than the burst.
      const end = performance.now() + 0.02;
      while (performance.now() < end);
      return r;
    }, 'work')
    .sink(sink);
  const running = await p.start({ parallelism: 1, restart: false });
  const { url } = await source.listening();
  process.stdout.write(`${JSON.stringify({ url })}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.resume();
    process.stdin.on('end', () => resolve());
  });
  const expected = Number(process.env['BURST_EXPECTED']);
  // The client is done: wait until the sink has what was accepted, then stop.
  while (delivered < source.stats().accepted) await new Promise((r) => setTimeout(r, 20));
  running.stop();
  await running.done;
  const result: ChildResult = {
    delivered,
    distinct: seen.size,
    p50Ms: latency.percentile(50),
    p99Ms: latency.percentile(99),
    maxMs: latency.max,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    maxQueued: source.stats().maxQueued,
  };
  if (Number.isFinite(expected) && seen.size !== expected)
    process.stderr.write(`burst: the sink has ${seen.size} distinct records of ${expected}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** One run: the child, the client's three phases, the figures. */
async function round(rateControl: boolean): Promise<ChildResult & { refused: number; sent: number }> {
  const total = PHASES.reduce((n, ph) => n + ph.rate * ph.seconds, 0);
  const child: ChildProcess = spawn(
    process.execPath,
    [new URL(import.meta.url).pathname, '--child', rateControl ? 'on' : 'off'],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, BURST_EXPECTED: String(total) } },
  );
  const lines: string[] = [];
  let buffer = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buffer += d;
    let i = buffer.indexOf('\n');
    while (i >= 0) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
      i = buffer.indexOf('\n');
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  while (lines.length === 0) await new Promise((r) => setTimeout(r, 20));
  const { url } = JSON.parse(lines[0]!) as { url: string };
  let refused = 0;
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  const post = async (records: Rec[]): Promise<void> => {
    const body = `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
    // Retried after each Retry-After, at most 120 times: a source that never admits fails the bench.
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body,
      });
      await res.arrayBuffer();
      if (res.status === 202) return;
      if (res.status !== 429) throw new Error(`the source answered ${res.status}`);
      if (attempt >= 120)
        throw new Error(`a request was refused ${attempt} times; the source never admitted it`);
      refused++;
      const after = Number(res.headers.get('retry-after') ?? '1');
      await new Promise((r) => setTimeout(r, after * 1000));
    }
  };
  const start = Date.now();
  let due = 0;
  for (const ph of PHASES) {
    const phaseStart = Date.now();
    const count = ph.rate * ph.seconds;
    for (let sent = 0; sent < count; sent += PER_REQUEST) {
      // Open-loop pacing: each request leaves when it is due, whatever happened to the others.
      due = phaseStart + (sent / ph.rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const now = Date.now();
      const records = Array.from({ length: Math.min(PER_REQUEST, count - sent) }, () => ({
        id: next++,
        t: now,
      }));
      const p = post(records).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }
  await Promise.all(inFlight);
  process.stderr.write(
    `burst: ${rateControl ? 'rate control' : 'queue only  '}: offered ${next} records in ${((Date.now() - start) / 1000).toFixed(1)} s, ${refused} 429s\n`,
  );
  child.stdin!.end();
  await exited;
  const result = JSON.parse(lines.at(-1)!) as ChildResult;
  return { ...result, refused, sent: next };
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { rounds: { type: 'string', default: '3' } } });
  const rounds = Number(values.rounds);
  process.stderr.write(
    `burst: HTTP ingest → 20 µs/record → sink; 10k/s for 3 s, 100k/s for 3 s, 10k/s for 3 s; rate control on vs off; ${rounds} alternating rounds\n`,
  );
  const runs: Record<'on' | 'off', Awaited<ReturnType<typeof round>>[]> = { on: [], off: [] };
  for (let r = 1; r <= rounds; r++)
    for (const mode of r % 2 === 1 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const x = await round(mode === 'on');
      if (x.distinct !== x.sent || x.delivered !== x.sent)
        throw new Error(
          `${mode}: the sink got ${x.distinct} distinct records (${x.delivered} in all) of ${x.sent}`,
        );
      runs[mode].push(x);
      process.stderr.write(
        `burst: ${mode === 'on' ? 'rate control' : 'queue only  '}: peak RSS ${x.maxRssMb} MB, latency p50 ${x.p50Ms} ms p99 ${x.p99Ms} ms max ${x.maxMs} ms, ${x.maxQueued} queued at most, every record once\n`,
      );
    }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = (xs: Awaited<ReturnType<typeof round>>[]) => ({
    maxRssMb: median(xs.map((x) => x.maxRssMb)),
    p50Ms: median(xs.map((x) => x.p50Ms)),
    p99Ms: median(xs.map((x) => x.p99Ms)),
    maxQueued: median(xs.map((x) => x.maxQueued)),
    refused: median(xs.map((x) => x.refused)),
    lost: 0,
  });
  process.stdout.write(
    `${JSON.stringify({ bench: 'burst', rounds, records: runs.on[0]!.sent, on: summary(runs.on), off: summary(runs.off) })}\n`,
  );
}

if (process.argv[2] === '--child') {
  await pipelineProcess(process.argv[3] === 'on');
  process.exit(0);
}
