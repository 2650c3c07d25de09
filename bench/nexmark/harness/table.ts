/**
 * `npm run bench -- nexmark-table <report.json>…`: one table of a fair run
 * made of several invocations (one per query; issue 14's full run), from
 * the reports `nexmark-fair --out DIR` writes (`DIR/nexmark-fair.json`, with
 * every round). Per query and system: the mean and each round's events/s and
 * events per CPU-second, eddy's ratio to the system (of the means, within the
 * query's own invocation: systems of different invocations are never
 * compared), p99 latency, peak RSS and outputs per 1,000 events; then per
 * peer the geometric mean of eddy's ratios over the queries both ran, and
 * the queries where eddy is behind. `--drop q4:flink-sql` leaves a system
 * out of a query (one that computed something else there). Prints markdown
 * on stdout.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface RoundRecord {
  readonly system: string;
  readonly query: string;
  readonly eventsPerSec: number;
  readonly eventsPerCpuS: number;
  readonly load?: number;
}
interface SystemSummary {
  readonly eventsPerSec: { readonly mean: number };
  readonly eventsPerCpuS: { readonly mean: number };
  readonly latencyP99Ms: number | null;
  readonly peakRssMb: number;
  readonly outputsPerKEvents?: number;
}
export interface FairReport {
  readonly method: { readonly parallelism: number; readonly cores: string; readonly rounds: number };
  readonly queries: Record<string, Record<string, SystemSummary>>;
  readonly rounds: readonly RoundRecord[];
  readonly errors?: readonly unknown[];
}

/** A system's name as the rounds spell it (`queries` says `kafkaStreams`, the rounds `kafka-streams`). */
/** A system's name as the harness prints it: `kafkaStreams` (a report's key) → `kafka-streams`. */
export const roundKey = (system: string) => system.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * `--drop q4:flink-sql,…` (nexmark-table and nexmark-chart): the `query:system` pairs to leave
 * out (a peer that computed something else for that query), systems spelt as printed.
 */
export function dropPairs(value: string): Set<string> {
  const pairs = new Set<string>();
  for (const pair of value.split(',').filter((x) => x !== '')) {
    const [q, system, ...rest] = pair.split(':');
    if (q === undefined || q === '' || system === undefined || system === '' || rest.length > 0)
      throw new Error(`--drop takes query:system pairs, e.g. q4:flink-sql; received "${pair}"`);
    pairs.add(`${q}:${roundKey(system)}`);
  }
  return pairs;
}

const k = (x: number) => `${Math.round(x / 1000).toLocaleString('en-US')}k`;
const ratio = (x: number) => `${x.toFixed(2)}×`;

/** Eddy's ratio to each peer per query, and the table's rows. */
export function fairTable(reports: readonly FairReport[]): {
  rows: string[];
  ratios: Map<string, Map<string, { wall: number; cpu: number }>>;
} {
  const rows = [
    '| query | system | events/s mean (rounds) | events/CPU-s mean (rounds) | eddy ÷ it, events/s | eddy ÷ it, per CPU-s | p99 ms | peak RSS MB | outputs per 1k events |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const ratios = new Map<string, Map<string, { wall: number; cpu: number }>>();
  for (const r of reports)
    for (const [query, systems] of Object.entries(r.queries)) {
      const eddy = systems['eddy'];
      for (const [name, s] of Object.entries(systems)) {
        const mine = r.rounds.filter(
          (x) => x.query === query && roundKey(x.system) === roundKey(name) && x.load === undefined,
        );
        const each = (f: (x: RoundRecord) => number) => mine.map((x) => k(f(x))).join(', ');
        const system = roundKey(name);
        let wall = '';
        let cpu = '';
        if (eddy !== undefined && name !== 'eddy') {
          const w = eddy.eventsPerSec.mean / s.eventsPerSec.mean;
          const c = eddy.eventsPerCpuS.mean / s.eventsPerCpuS.mean;
          wall = ratio(w);
          cpu = ratio(c);
          if (!ratios.has(system)) ratios.set(system, new Map());
          ratios.get(system)!.set(query, { wall: w, cpu: c });
        }
        rows.push(
          `| ${query} | ${system} | ${k(s.eventsPerSec.mean)} (${each((x) => x.eventsPerSec)}) | ${k(s.eventsPerCpuS.mean)} (${each((x) => x.eventsPerCpuS)}) | ${wall} | ${cpu} | ${s.latencyP99Ms ?? '–'} | ${s.peakRssMb} | ${s.outputsPerKEvents === undefined ? '–' : s.outputsPerKEvents.toFixed(1)} |`,
        );
      }
    }
  return { rows, ratios };
}

/** Per peer: the geometric means of eddy's ratios and the queries where eddy is behind (ratio < 1). */
export function summary(ratios: Map<string, Map<string, { wall: number; cpu: number }>>): string[] {
  const lines = [
    '| peer | queries | eddy ÷ peer, events/s (geometric mean) | per CPU-s | eddy behind in events/s on | per CPU-s on |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const geo = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
  for (const [peer, byQuery] of ratios) {
    const qs = [...byQuery];
    const behind = (f: (x: { wall: number; cpu: number }) => number) =>
      qs
        .filter(([, x]) => f(x) < 1)
        .map(([q, x]) => `${q} (${f(x).toFixed(2)})`)
        .join(', ') || 'none';
    lines.push(
      `| ${peer} | ${qs.length} | ${ratio(geo(qs.map(([, x]) => x.wall)))} | ${ratio(geo(qs.map(([, x]) => x.cpu)))} | ${behind((x) => x.wall)} | ${behind((x) => x.cpu)} |`,
    );
  }
  return lines;
}

/** The report without `query:system` pairs in `drop` (a peer that computed something else for that query). */
export function without(r: FairReport, drop: ReadonlySet<string>): FairReport {
  const queries: Record<string, Record<string, SystemSummary>> = {};
  for (const [q, systems] of Object.entries(r.queries))
    queries[q] = Object.fromEntries(
      Object.entries(systems).filter(([s]) => !drop.has(`${q}:${roundKey(s)}`)),
    );
  return { ...r, queries, rounds: r.rounds.filter((x) => !drop.has(`${x.query}:${roundKey(x.system)}`)) };
}

export async function main(args: string[]): Promise<void> {
  if (args.length === 0 || args.includes('--help')) {
    process.stdout.write(
      'usage: npm run bench -- nexmark-table [--drop q4:flink-sql,…] <nexmark-fair.json>…\n',
    );
    return;
  }
  const { values, positionals: files } = parseArgs({
    args,
    options: { drop: { type: 'string', default: '' } },
    allowPositionals: true,
  });
  const drop = dropPairs(values.drop);
  const reports = files.map((f) => without(JSON.parse(readFileSync(f, 'utf8')) as FairReport, drop));
  const { rows, ratios } = fairTable(reports);
  process.stdout.write(`${rows.join('\n')}\n\n${summary(ratios).join('\n')}\n`);
}
