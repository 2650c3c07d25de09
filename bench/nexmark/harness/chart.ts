/**
 * `npm run bench -- nexmark-chart --from <file> [--out <svg>] [--metric eventsPerSec|eventsPerCpuS] [--with flink]`:
 * draws the fair runs' results (issue 14) as one SVG bar chart for the
 * README: per query, one bar per system at its mean, with its 95 % interval
 * as a whisker. `--from` is any text holding the `{"bench":"nexmark-fair",…}`
 * lines (BENCHMARKS.md itself will do); a query measured by several lines
 * takes the last line (all its systems) among those that measured `--with`
 * (default `flink`; `--with ''`: any); `--drop q4:flink-sql` leaves out
 * a bar (a peer that computed something else for that query). Hand-written SVG: a chart of a few bars needs no plotting
 * library. Prints `{"bench":"nexmark-chart",…}` with what it drew.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dropPairs, roundKey } from './table.ts';

interface Interval {
  readonly mean: number;
  readonly low: number;
  readonly high: number;
}
interface SystemResult {
  readonly eventsPerSec: Interval;
  readonly eventsPerCpuS: Interval;
}
interface FairLine {
  readonly bench: 'nexmark-fair';
  readonly date: string;
  readonly method: { readonly parallelism: number; readonly durability: string; readonly transport?: string };
  readonly queries: Record<string, Record<string, SystemResult>>;
}

type Metric = 'eventsPerSec' | 'eventsPerCpuS';

/** The fair runs' lines in `text`, in order. */
export function fairLines(text: string): FairLine[] {
  const out: FairLine[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{"bench":"nexmark-fair"')) continue;
    out.push(JSON.parse(t) as FairLine);
  }
  return out;
}

/**
 * Per query, its systems as the last line at `parallelism` measured them: one
 * run per query, never systems of different runs side by side (ratios are
 * compared within one run). With `having`, only runs that measured that
 * system too (e.g. `flink`: the newest run of each query against Flink).
 * Only the maximum-rate runs from the events file without checkpoints: a
 * run with checkpoints or in the Kafka mode measures something else.
 */
export function latest(
  lines: readonly FairLine[],
  parallelism: number,
  having?: string,
): Map<string, Map<string, SystemResult>> {
  const out = new Map<string, Map<string, SystemResult>>();
  for (const l of lines) {
    if (l.method.parallelism !== parallelism) continue;
    if (l.method.durability !== 'none' || (l.method.transport ?? 'file') !== 'file') continue;
    for (const [q, systems] of Object.entries(l.queries))
      if (having === undefined || having in systems) out.set(q, new Map(Object.entries(systems)));
  }
  // q4r after q4: by the number, then the name.
  const order = (q: string) => Number.parseInt(q.slice(1), 10);
  return new Map([...out].sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b)));
}

const COLOURS: Record<string, string> = {
  eddy: '#1f77b4',
  flink: '#d62728',
  'flink-sql': '#ff7f0e',
  'kafka-streams': '#2ca02c',
  spark: '#9467bd',
};

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The SVG text of the chart. */
export function chartSvg(
  results: Map<string, Map<string, SystemResult>>,
  metric: Metric,
  title: string,
): string {
  const systems = [...new Set([...results.values()].flatMap((m) => [...m.keys()]))].sort((a, b) =>
    a === 'eddy' ? -1 : b === 'eddy' ? 1 : a.localeCompare(b),
  );
  const max = Math.max(
    1,
    ...[...results.values()].flatMap((m) => [...m.values()].map((r) => r[metric].high)),
  );
  const step = 10 ** Math.floor(Math.log10(max));
  const top = Math.ceil(max / step) * step;
  const bar = 16;
  const gap = 24;
  const left = 70;
  const height = 260;
  const groupWidth = systems.length * bar + gap;
  // Wide enough for the title, however few the bars.
  const width = Math.max(620, left + results.size * groupWidth + 20);
  const y = (v: number) => 40 + height - (v / top) * height;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 110}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="20" font-size="13">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (top * i) / 5;
    parts.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${(v / 1e6).toFixed(2)}M</text>`,
    );
  }
  let gx = left + gap / 2;
  for (const [q, m] of results) {
    systems.forEach((s, i) => {
      const r = m.get(s);
      if (r === undefined) return;
      const x = gx + i * bar;
      const { mean, low, high } = r[metric];
      parts.push(
        `<rect x="${x}" y="${y(mean)}" width="${bar - 2}" height="${y(0) - y(mean)}" fill="${COLOURS[s] ?? '#777'}"><title>${esc(`${q} ${s}: ${Math.round(mean).toLocaleString('en-US')} (${Math.round(low).toLocaleString('en-US')}–${Math.round(high).toLocaleString('en-US')})`)}</title></rect>`,
        `<line x1="${x + (bar - 2) / 2}" x2="${x + (bar - 2) / 2}" y1="${y(Math.max(0, low))}" y2="${y(high)}" stroke="#333"/>`,
      );
    });
    parts.push(
      `<text x="${gx + (systems.length * bar) / 2}" y="${y(0) + 16}" text-anchor="middle">${esc(q)}</text>`,
    );
    gx += groupWidth;
  }
  systems.forEach((s, i) => {
    const x = left + i * 110;
    parts.push(
      `<rect x="${x}" y="${y(0) + 34}" width="12" height="12" fill="${COLOURS[s] ?? '#777'}"/>`,
      `<text x="${x + 16}" y="${y(0) + 44}">${esc(s)}</text>`,
    );
  });
  parts.push(
    `<text x="${left}" y="${y(0) + 68}" fill="#555">${esc(`${metric === 'eventsPerSec' ? 'events/s' : 'events per CPU-second'}; bars: mean of 3 rounds, whiskers: 95 % interval`)}</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string', default: 'BENCHMARKS.md' },
      out: { type: 'string', default: 'docs/nexmark-fair.svg' },
      metric: { type: 'string', default: 'eventsPerSec' },
      parallelism: { type: 'string', default: '1' },
      with: { type: 'string', default: 'flink' },
      drop: { type: 'string', default: '' },
    },
  });
  const metric = values.metric as Metric;
  if (metric !== 'eventsPerSec' && metric !== 'eventsPerCpuS')
    throw new Error(`--metric must be eventsPerSec or eventsPerCpuS; received ${values.metric}`);
  const lines = fairLines(readFileSync(values.from, 'utf8'));
  const having = values.with === '' ? undefined : values.with;
  const results = latest(lines, Number(values.parallelism), having);
  // `--drop q4:flink-sql,…`: bars left out (a peer that computed something else for that query).
  const drop = dropPairs(values.drop);
  for (const [q, systems] of results)
    for (const system of [...systems.keys()])
      if (drop.has(`${q}:${roundKey(system)}`)) systems.delete(system);
  if (results.size === 0)
    throw new Error(`no nexmark-fair lines at parallelism ${values.parallelism} in ${values.from}`);
  const dates = [...new Set(lines.map((l) => l.date))].sort();
  const svg = chartSvg(
    results,
    metric,
    `Nexmark, fair method, parallelism ${values.parallelism} (${dates.at(-1)}; newest run of each query${having === undefined ? '' : ` with ${having}`})`,
  );
  writeFileSync(values.out, svg);
  console.log(
    JSON.stringify({
      bench: 'nexmark-chart',
      out: values.out,
      metric,
      queries: [...results.keys()],
      systems: [...new Set([...results.values()].flatMap((m) => [...m.keys()]))],
    }),
  );
}
