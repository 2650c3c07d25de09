/**
 * The parallel benchmark: the same keyed 10 s tumbling aggregation over 10M
 * events (bench/parallel-pipeline.ts) on 1 thread and on 2 worker threads,
 * in alternating rounds, each in its own child process. The ratio is the
 * speed-up from the second core.
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"parallel","p1EventsPerSec":…,"p2EventsPerSec":…,"ratio":…}
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const MODULE = new URL('./parallel-pipeline.ts', import.meta.url);

interface Result {
  secs: number;
  n: number;
  sum: number;
}

async function runChild(parallelism: number, events: number): Promise<Result> {
  const mod = (await import(MODULE.href)) as typeof import('./parallel-pipeline.ts');
  const values = { events, keys: 10_000 };
  const pipeline = await mod.default.build(values);
  const t0 = performance.now();
  if (parallelism === 1) await pipeline.run({ parallelism: 1 });
  else {
    await (await pipeline.startInThreads(MODULE.href, values, { parallelism })).done;
  }
  return { secs: (performance.now() - t0) / 1000, n: mod.checksum.n, sum: mod.checksum.sum };
}

function child(parallelism: number, events: number): Result {
  const out = execFileSync(
    process.execPath,
    [new URL(import.meta.url).pathname, '--child', String(parallelism), '--events', String(events)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Result;
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
    `parallel: ${events.toLocaleString()} events, 10,000 keys, 10 s tumbling aggregate; 1 thread vs 2 threads; ${rounds} alternating rounds\n`,
  );
  const p1: number[] = [];
  const p2: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const a = child(1, events);
    const b = child(2, events);
    if (a.n !== b.n || a.sum !== b.sum) throw new Error(`results differ: ${a.n}/${a.sum} vs ${b.n}/${b.sum}`);
    p1.push(a.secs);
    p2.push(b.secs);
    process.stderr.write(
      `  round ${r}: 1 thread ${(events / a.secs / 1e6).toFixed(2)} M/s, 2 threads ${(events / b.secs / 1e6).toFixed(2)} M/s\n`,
    );
  }
  const r1 = events / median(p1);
  const r2 = events / median(p2);
  console.log(
    JSON.stringify({
      bench: 'parallel',
      p1EventsPerSec: Math.round(r1),
      p2EventsPerSec: Math.round(r2),
      ratio: Number((r2 / r1).toFixed(3)),
    }),
  );
}

if (process.argv[2] === '--child') {
  const { values } = parseArgs({ args: process.argv.slice(4), options: { events: { type: 'string' } } });
  console.log(JSON.stringify(await runChild(Number(process.argv[3]), Number(values.events))));
}
