/**
 * The machine's own speed-up, for `npm run bench -- parallel` to compare
 * with: the same job as bench/parallel-pipeline.ts written by hand without
 * eddy (events made as objects in batches of 1,024, a Map of accumulators per
 * 10 s window, each window summed when the next begins), run on one thread
 * and then as two halves on two threads at once. Its ratio is the most a
 * framework could get from the second core on this machine: allocation- and
 * cache-heavy work shares memory bandwidth and caches, so it stays well below
 * 2 on some machines.
 *
 * Output (child): one JSON line {"secs":…,"n":…,"sum":…}.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface Share {
  events: number;
  keys: number;
  /** This thread makes records i with i % threads === part. */
  part: number;
  threads: number;
}

/** The job over one share of the records: results as count and sum. */
function job(s: Share): { n: number; sum: number } {
  let n = 0;
  let sum = 0;
  let window = -1;
  let accs = new Map<number, { n: number; sum: number }>();
  const close = () => {
    for (const acc of accs.values()) {
      n++;
      sum += acc.sum;
    }
    accs = new Map();
  };
  let batch: { key: number; value: number; ts: number }[] = [];
  const flush = () => {
    for (const e of batch) {
      const w = Math.floor(e.ts / 10_000);
      if (w !== window) {
        close();
        window = w;
      }
      let acc = accs.get(e.key);
      if (acc === undefined) accs.set(e.key, (acc = { n: 0, sum: 0 }));
      acc.n++;
      acc.sum += e.value;
    }
    batch = [];
  };
  for (let i = s.part; i < s.events; i += s.threads) {
    // 100,000 events per second of event time, as in the eddy pipeline.
    batch.push({ key: (i * 7919) % s.keys, value: i & 1023, ts: Math.floor(i / 100) });
    if (batch.length === 1024) flush();
  }
  flush();
  close();
  return { n, sum };
}

async function runChild(threads: number, events: number, keys: number) {
  // Workers start first (module loading is not the job), then all begin at once.
  const workers = await Promise.all(
    Array.from({ length: threads - 1 }, async (_, k) => {
      const w = new Worker(new URL(import.meta.url), {
        workerData: { baseline: true, events, keys, part: k + 1, threads },
      });
      await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      return w;
    }),
  );
  const t0 = performance.now();
  const results = workers.map(
    (w) =>
      new Promise<{ n: number; sum: number }>((resolve) => {
        w.once('message', resolve);
        w.postMessage('go');
      }),
  );
  const parts = [job({ events, keys, part: 0, threads }), ...(await Promise.all(results))];
  const secs = (performance.now() - t0) / 1000;
  for (const w of workers) void w.terminate();
  return { secs, n: parts.reduce((a, p) => a + p.n, 0), sum: parts.reduce((a, p) => a + p.sum, 0) };
}

/** Runs the hand-written job on `threads` threads in a child process; seconds and checksum. */
export function baseline(
  threads: number,
  events: number,
  keys: number,
): { secs: number; n: number; sum: number } {
  const out = execFileSync(
    process.execPath,
    [new URL(import.meta.url).pathname, '--child', String(threads), String(events), String(keys)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

if (!isMainThread && (workerData as { baseline?: boolean } | null)?.baseline === true) {
  parentPort!.once('message', () => parentPort!.postMessage(job(workerData as Share)));
  parentPort!.postMessage('ready');
} else if (
  isMainThread &&
  process.argv[1] === fileURLToPath(import.meta.url) &&
  process.argv[2] === '--child'
) {
  const [threads, events, keys] = process.argv.slice(3).map(Number) as [number, number, number];
  console.log(JSON.stringify(await runChild(threads, events, keys)));
}
