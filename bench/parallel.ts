/**
 * The parallel benchmark: the same keyed 10 s tumbling aggregation over 10M
 * events (bench/parallel-pipeline.ts) on 1 thread and on 2 worker threads,
 * in alternating rounds, each in its own child process. The ratio is the
 * speed-up from the second core, measured end to end (the second thread's
 * start-up, ~0.3 s of module loading, included) and from the moment every
 * thread runs (`runRatio`). Each round also runs the same job written by hand
 * without eddy on 1 and 2 threads (bench/parallel-baseline.ts): its ratio,
 * `machineRatio`, is what this machine gives a second thread for this kind of
 * work at all. The hand-written job's clock starts once its threads are up
 * (module loading is not the job), so `runRatio` is the figure measured as
 * it is; `runVsMachine` = runRatio ÷ machineRatio and `vsMachine` = ratio ÷
 * machineRatio (issue 15's goal: ≥ 0.9) give both.
 *
 * `--sessions` runs the same job with session windows instead (500 ms gap):
 * windows that merge cannot be pre-aggregated before the exchange, so every
 * record crosses threads (issue 15's non-combinable keyed pipeline; the
 * hand-written job, and so `machineRatio`, stays the tumbling one).
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"parallel","p1EventsPerSec":…,"p2EventsPerSec":…,"ratio":…,"runRatio":…,"machineRatio":…,"vsMachine":…,"runVsMachine":…}
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { baseline } from './parallel-baseline.ts';

const MODULE = new URL('./parallel-pipeline.ts', import.meta.url);

interface Result {
  /** Seconds from start to done. */
  secs: number;
  /** Seconds from the moment every thread runs. */
  runSecs: number;
  n: number;
  sum: number;
}

async function runChild(parallelism: number, events: number, sessions: boolean): Promise<Result> {
  const mod = (await import(MODULE.href)) as typeof import('./parallel-pipeline.ts');
  const values = { events, keys: 10_000, sessions };
  const pipeline = await mod.default.build(values);
  const t0 = performance.now();
  let t1 = t0;
  if (parallelism === 1) await pipeline.run({ parallelism: 1 });
  else {
    const run = await pipeline.startInThreads(MODULE.href, values, { parallelism });
    t1 = performance.now();
    await run.done;
  }
  const end = performance.now();
  return { secs: (end - t0) / 1000, runSecs: (end - t1) / 1000, n: mod.checksum.n, sum: mod.checksum.sum };
}

function child(parallelism: number, events: number, sessions: boolean): Result {
  const out = execFileSync(
    process.execPath,
    [
      new URL(import.meta.url).pathname,
      '--child',
      String(parallelism),
      '--events',
      String(events),
      ...(sessions ? ['--sessions'] : []),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '10000000' },
      rounds: { type: 'string', default: '3' },
      sessions: { type: 'boolean', default: false },
    },
  });
  const sessions = values.sessions === true;
  const events = Number(values.events);
  const rounds = Number(values.rounds);
  process.stderr.write(
    `parallel: ${events.toLocaleString()} events, 10,000 keys, ${sessions ? 'session windows (500 ms gap, no pre-aggregation)' : '10 s tumbling aggregate'}; 1 thread vs 2 threads; ${rounds} alternating rounds\n`,
  );
  const p1: Result[] = [];
  const p2: Result[] = [];
  const b1: number[] = [];
  const b2: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const a = child(1, events, sessions);
    const b = child(2, events, sessions);
    if (a.n !== b.n || a.sum !== b.sum) throw new Error(`results differ: ${a.n}/${a.sum} vs ${b.n}/${b.sum}`);
    const c = baseline(1, events, 10_000);
    const d = baseline(2, events, 10_000);
    if (c.sum !== a.sum || d.sum !== a.sum)
      throw new Error(`hand-written job's sums differ: ${c.sum}, ${d.sum} vs ${a.sum}`);
    p1.push(a);
    p2.push(b);
    b1.push(c.secs);
    b2.push(d.secs);
    const rate = (secs: number) => `${(events / secs / 1e6).toFixed(2)} M/s`;
    process.stderr.write(
      `  round ${r}: eddy 1 thread ${rate(a.secs)}, 2 threads ${rate(b.secs)} (${rate(b.runSecs)} once both run); by hand 1 thread ${rate(c.secs)}, 2 threads ${rate(d.secs)}\n`,
    );
  }
  const r1 = events / median(p1.map((x) => x.secs));
  const r2 = events / median(p2.map((x) => x.secs));
  const run1 = events / median(p1.map((x) => x.runSecs));
  const run2 = events / median(p2.map((x) => x.runSecs));
  const machine = median(b1) / median(b2);
  console.log(
    JSON.stringify({
      bench: 'parallel',
      job: sessions ? 'sessions' : 'tumbling',
      p1EventsPerSec: Math.round(r1),
      p2EventsPerSec: Math.round(r2),
      ratio: Number((r2 / r1).toFixed(3)),
      runRatio: Number((run2 / run1).toFixed(3)),
      machineRatio: Number(machine.toFixed(3)),
      vsMachine: Number((r2 / r1 / machine).toFixed(3)),
      runVsMachine: Number((run2 / run1 / machine).toFixed(3)),
    }),
  );
}

if (process.argv[2] === '--child') {
  const { values } = parseArgs({
    args: process.argv.slice(4),
    options: { events: { type: 'string' }, sessions: { type: 'boolean' } },
  });
  console.log(
    JSON.stringify(await runChild(Number(process.argv[3]), Number(values.events), values.sessions === true)),
  );
}
