/**
 * What a Nexmark run found, and its three renderings: a markdown report, the
 * JSON behind it, and a grouped bar chart (SVG) of events/s per query and
 * system with 95 % intervals. Rendering is pure: `main.ts` gathers, these write.
 *
 * @example
 * ```ts
 * await writeFile('bench/results/nexmark.md', markdown(report));
 * await writeFile('bench/results/nexmark.svg', chart(report));
 * console.log(JSON.stringify(summaryLine(report)));
 * ```
 */
import type { Comparison, Summary } from './stats.ts';

export type SystemName = 'eddy' | 'flink' | 'kafka-streams';

/** Display order and names. */
export const SYSTEMS: readonly SystemName[] = ['eddy', 'flink', 'kafka-streams'];
const LABEL: Record<SystemName, string> = { eddy: 'eddy', flink: 'Flink', 'kafka-streams': 'Kafka Streams' };
const COLOR: Record<SystemName, string> = { eddy: '#2a9d8f', flink: '#e76f51', 'kafka-streams': '#3d5a80' };

/** Latency at one offered rate. */
export interface LatencyPoint {
  /** The profile: `constant`, `bursts` (mean rate) or `ramp` (mean rate). */
  readonly profile: string;
  /** The fraction of the system's own maximum rate offered. */
  readonly fraction: number;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Latency samples (outputs timed); 0 when the system reports percentiles only. */
  readonly count: number;
  readonly rounds: number;
  /** How far behind its schedule the source ended (ms, the worst round); > 0 means the rate was not sustained. */
  readonly behindMs?: number;
}

/** One round as measured (for the JSON; the report reads the summaries). */
export interface RoundRecord {
  readonly profile: string;
  readonly elapsedMs: number;
  readonly eventsPerSec: number;
  readonly outputs: number;
  /** User + system CPU during the timed run. */
  readonly cpuMs: number;
  /** eddy: the whole child process's CPU (start-up and loading too). */
  readonly processCpuMs?: number;
  readonly peakRssMb: number;
  readonly samples: readonly number[];
}

/** One system on one query. */
export interface SystemResult {
  readonly system: SystemName;
  /** Events/s at the maximum rate: Pilot's steady-state mean and interval over the rounds' samples. */
  readonly throughput: Summary;
  /** How `throughput` was formed: per-interval samples, or one events/elapsed per round when samples were too few. */
  readonly throughputFrom: 'samples' | 'rounds';
  /** Median over maximum-rate rounds of events / elapsed (start-up inside the run included). */
  readonly wallEventsPerSec: number;
  readonly outputs: number;
  /** Median CPU time (user + system) of a maximum-rate round's timed run. */
  readonly cpuMs: number;
  /** The highest peak RSS of the maximum-rate rounds. */
  readonly peakRssMb: number;
  readonly latency: readonly LatencyPoint[];
  /** Skewed keys (Zipf): throughput and latency over the skewed events. */
  readonly skew?: {
    readonly throughput: Summary;
    readonly outputs: number;
    readonly latency: readonly LatencyPoint[];
  };
  /** The ramp: the offered rate where an interval's p99 first passed the threshold (null: never). */
  readonly ramp?: {
    readonly from: number;
    readonly to: number;
    readonly kneeEventsPerSec: number | null;
    readonly thresholdMs: number;
    readonly intervalP99: readonly number[];
  };
  readonly rounds: readonly RoundRecord[];
  readonly errors: readonly string[];
}

export interface QueryResult {
  readonly query: string;
  readonly systems: Partial<Record<SystemName, SystemResult>>;
  /** eddy's events/s over each peer's, with Fieller's interval. */
  readonly ratios: Partial<Record<SystemName, Comparison>>;
  readonly warnings: readonly string[];
}

export interface NexmarkReport {
  readonly bench: 'nexmark';
  readonly date: string;
  readonly machine: {
    readonly cpus: number;
    readonly memoryGb: number;
    readonly node: string;
    readonly os: string;
  };
  readonly config: {
    readonly events: number;
    readonly rounds: number;
    readonly latencyRounds: number;
    readonly queries: readonly string[];
    readonly systems: readonly SystemName[];
    readonly profiles: readonly string[];
    readonly fractions: readonly number[];
    readonly intervalMs: number;
    readonly parallelism: number;
    readonly seed: number;
    readonly zipf: number;
    readonly quick: boolean;
  };
  readonly histograms: string;
  readonly skipped: readonly string[];
  readonly queries: readonly QueryResult[];
  readonly elapsedS: number;
}

// ---- Formatting -------------------------------------------------------------

function rate(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)}k`;
  return x.toFixed(0);
}

function ms(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function withInterval(s: Summary): string {
  if (!Number.isFinite(s.mean)) return '–';
  if (s.halfWidth === 0 || s.n < 2) return `${rate(s.mean)} (n=${s.n})`;
  const pct = (100 * s.halfWidth) / s.mean;
  return `${rate(s.mean)} ± ${pct.toFixed(pct < 10 ? 1 : 0)} %`;
}

function ratioText(c: Comparison | undefined): string {
  if (c === undefined || !Number.isFinite(c.ratio)) return '–';
  const iv = Number.isNaN(c.low)
    ? ' (no interval: one value)'
    : Number.isFinite(c.low) && Number.isFinite(c.high)
      ? ` [${c.low.toFixed(2)}, ${c.high.toFixed(2)}]`
      : ' [unbounded]';
  return `${c.ratio.toFixed(2)}×${iv}${c.overlap ? ' (CIs overlap)' : ''}`;
}

function latencyAt(r: SystemResult, fraction: number, profile = 'constant'): LatencyPoint | undefined {
  return r.latency.find((l) => l.profile === profile && Math.abs(l.fraction - fraction) < 1e-9);
}

/** The markdown report: the main table, eddy's ratios, latency detail, the other profiles, and notes. */
export function markdown(report: NexmarkReport): string {
  const c = report.config;
  const out: string[] = [];
  out.push(`# Nexmark — ${report.date}`, '');
  out.push(
    `${c.events.toLocaleString('en-US')} events, ${c.rounds} round${c.rounds === 1 ? '' : 's'} at maximum rate, latency at ${c.fractions
      .map((f) => `${Math.round(f * 100)} %`)
      .join(
        ' and ',
      )} of each system's own maximum (${c.latencyRounds} round${c.latencyRounds === 1 ? '' : 's'} each), ` +
      `${c.intervalMs} ms samples; peers at parallelism ${c.parallelism}. ` +
      `Machine: ${report.machine.cpus} cores, ${report.machine.memoryGb} GiB, Node ${report.machine.node}, ${report.machine.os}. ` +
      `Took ${Math.round(report.elapsedS)} s${c.quick ? ' (--quick)' : ''}.`,
    '',
  );
  const p99Cols = c.fractions.map((f) => `p99 @ ${Math.round(f * 100)} % (ms)`);
  out.push(
    `| query | system | events/s (95 % CI) | ${p99Cols.join(' | ')} | CPU (s) | peak RSS (MB) | outputs |`,
  );
  out.push(`|---|---|---|${p99Cols.map(() => '---|').join('')}---|---|---|`);
  for (const q of report.queries) {
    for (const s of SYSTEMS) {
      const r = q.systems[s];
      if (r === undefined) continue;
      const lat = c.fractions.map((f) => {
        const l = latencyAt(r, f);
        return l === undefined
          ? '–'
          : `${ms(l.p99)}${l.behindMs !== undefined && l.behindMs > 1000 ? ' (behind)' : ''}`;
      });
      out.push(
        `| ${q.query} | ${LABEL[s]} | ${withInterval(r.throughput)} | ${lat.join(' | ')} | ${(r.cpuMs / 1000).toFixed(1)} | ${r.peakRssMb} | ${r.outputs.toLocaleString('en-US')} |`,
      );
    }
  }
  out.push('');
  const peers = c.systems.filter((s) => s !== 'eddy');
  if (peers.length > 0) {
    out.push(`| query | ${peers.map((p) => `eddy / ${LABEL[p]} (95 % CI)`).join(' | ')} |`);
    out.push(`|---|${peers.map(() => '---|').join('')}`);
    for (const q of report.queries)
      out.push(`| ${q.query} | ${peers.map((p) => ratioText(q.ratios[p])).join(' | ')} |`);
    out.push('');
  }
  out.push('Latency, p50 / p99 / p99.9 in ms (offered rate):', '');
  out.push(`| query | system | ${c.fractions.map((f) => `${Math.round(f * 100)} %`).join(' | ')} |`);
  out.push(`|---|---|${c.fractions.map(() => '---|').join('')}`);
  for (const q of report.queries) {
    for (const s of SYSTEMS) {
      const r = q.systems[s];
      if (r === undefined) continue;
      const cells = c.fractions.map((f) => {
        const l = latencyAt(r, f);
        return l === undefined
          ? '–'
          : `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.p999)} (${rate(l.rate)}/s${l.count > 0 ? `, n=${l.count}` : ''})`;
      });
      out.push(`| ${q.query} | ${LABEL[s]} | ${cells.join(' | ')} |`);
    }
  }
  out.push('');
  const withProfiles = report.queries.flatMap((q) =>
    SYSTEMS.flatMap((s) => {
      const r = q.systems[s];
      return r === undefined ? [] : [{ q: q.query, s, r }];
    }),
  );
  if (c.profiles.includes('bursts') || c.profiles.includes('ramp')) {
    out.push('Bursts and ramp (eddy), p50 / p99 / p99.9 in ms:', '');
    out.push('| query | bursts | ramp: p99 passed the threshold at |');
    out.push('|---|---|---|');
    for (const { q, s, r } of withProfiles) {
      if (s !== 'eddy') continue;
      const b = r.latency.find((l) => l.profile === 'bursts');
      const bt =
        b === undefined ? '–' : `${ms(b.p50)} / ${ms(b.p99)} / ${ms(b.p999)} (mean ${rate(b.rate)}/s)`;
      const rp = r.ramp;
      const rt =
        rp === undefined
          ? '–'
          : `${rp.kneeEventsPerSec === null ? 'never' : `${rate(rp.kneeEventsPerSec)}/s`} (ramp ${rate(rp.from)}→${rate(rp.to)}/s, ${rp.thresholdMs} ms)`;
      out.push(`| ${q} | ${bt} | ${rt} |`);
    }
    out.push('');
  }
  if (c.profiles.includes('skew')) {
    out.push(`Skewed keys (Zipf ${c.zipf}):`, '');
    out.push('| query | system | events/s (95 % CI) | vs uniform | p99 @ 50 % (ms) | outputs |');
    out.push('|---|---|---|---|---|---|');
    for (const { q, s, r } of withProfiles) {
      if (r.skew === undefined) continue;
      const l = r.skew.latency[0];
      out.push(
        `| ${q} | ${LABEL[s]} | ${withInterval(r.skew.throughput)} | ${(r.skew.throughput.mean / r.throughput.mean).toFixed(2)}× | ${ms(l?.p99)} | ${r.skew.outputs.toLocaleString('en-US')} |`,
      );
    }
    out.push('');
  }
  const notes = [
    ...report.skipped,
    ...report.queries.flatMap((q) => q.warnings.map((w) => `${q.query}: ${w}`)),
    ...withProfiles.flatMap(({ q, s, r }) => r.errors.map((e) => `${q} ${LABEL[s]}: ${e}`)),
  ];
  if (notes.length > 0) {
    out.push('Notes:', '');
    for (const n of notes) out.push(`- ${n}`);
    out.push('');
  }
  out.push(`Histograms: ${report.histograms}.`, '');
  return out.join('\n');
}

/** The last stdout line: `{"bench":"nexmark","queries":{"q0":{"eddy":…,"flink":…,"kafkaStreams":…,"ratioVsFlink":…},…}}`. */
export function summaryLine(report: NexmarkReport): Record<string, unknown> {
  const queries: Record<string, Record<string, number | null>> = {};
  for (const q of report.queries) {
    const row: Record<string, number | null> = {};
    const mean = (s: SystemName) => {
      const m = q.systems[s]?.throughput.mean;
      return m === undefined || !Number.isFinite(m) ? null : Math.round(m);
    };
    row.eddy = mean('eddy');
    if (report.config.systems.includes('flink')) {
      row.flink = mean('flink');
      const r = q.ratios.flink?.ratio;
      row.ratioVsFlink = r === undefined || !Number.isFinite(r) ? null : Number(r.toFixed(3));
    }
    if (report.config.systems.includes('kafka-streams')) {
      row.kafkaStreams = mean('kafka-streams');
      const r = q.ratios['kafka-streams']?.ratio;
      row.ratioVsKafkaStreams = r === undefined || !Number.isFinite(r) ? null : Number(r.toFixed(3));
    }
    queries[q.query] = row;
  }
  return { bench: 'nexmark', queries };
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[ch]!);
}

/** A "nice" axis step (1, 2 or 5 × 10^k) for about `ticks` ticks up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Grouped bars: per query, one bar per system (events/s mean) with its 95 % interval as a whisker. */
export function chart(report: NexmarkReport): string {
  const systems = SYSTEMS.filter((s) => report.queries.some((q) => q.systems[s] !== undefined));
  const barW = 22;
  const groupGap = 26;
  const groupW = systems.length * barW + groupGap;
  const left = 70;
  const top = 50;
  const plotH = 260;
  const width = Math.max(560, left + 20 + report.queries.length * groupW);
  const height = top + plotH + 70;
  // Scale to the bars; a whisker may reach past them, up to twice the tallest bar, then it is cut.
  let tallest = 0;
  let reach = 0;
  for (const q of report.queries)
    for (const s of systems) {
      const t = q.systems[s]?.throughput;
      if (t === undefined || !Number.isFinite(t.mean)) continue;
      tallest = Math.max(tallest, t.mean);
      if (Number.isFinite(t.high)) reach = Math.max(reach, t.high);
    }
  let max = Math.min(Math.max(tallest, reach), 2 * tallest);
  if (!(max > 0)) max = 1;
  const step = niceStep(max, 5);
  const yMax = Math.ceil(max / step) * step;
  const y = (v: number) => top + plotH - (Math.min(yMax, Math.max(0, v)) / yMax) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">Nexmark: events/s at maximum rate (mean, 95 % CI)</text>`,
    `<text x="${left}" y="40" fill="#555">${escapeXml(`${report.date}: ${report.config.events.toLocaleString('en-US')} events, ${report.config.rounds} round${report.config.rounds === 1 ? '' : 's'}, ${report.machine.cpus} cores, eddy on one thread, peers at parallelism ${report.config.parallelism}${report.config.quick ? ', --quick' : ''}`)}</text>`,
  );
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#333">${rate(v)}</text>`,
    );
  }
  let differ = false;
  report.queries.forEach((q, qi) => {
    const x0 = left + 10 + qi * groupW;
    systems.forEach((s, si) => {
      const t = q.systems[s]?.throughput;
      if (t === undefined || !Number.isFinite(t.mean)) return;
      const x = x0 + si * barW;
      // A peer that computed something else is not comparable: mark its bar.
      const eddyOutputs = q.systems.eddy?.outputs;
      if (s !== 'eddy' && eddyOutputs !== undefined && q.systems[s]?.outputs !== eddyOutputs) {
        differ = true;
        parts.push(
          `<text x="${x + (barW - 3) / 2}" y="${y(t.mean) - 4}" text-anchor="middle" font-weight="bold">*</text>`,
        );
      }
      parts.push(
        `<rect x="${x}" y="${y(t.mean)}" width="${barW - 3}" height="${y(0) - y(t.mean)}" fill="${COLOR[s]}"><title>${escapeXml(`${q.query} ${LABEL[s]}: ${Math.round(t.mean)} events/s [${Math.round(t.low)}, ${Math.round(t.high)}]`)}</title></rect>`,
      );
      if (t.halfWidth > 0) {
        const cx = x + (barW - 3) / 2;
        parts.push(
          `<path d="M${cx} ${y(t.high)}V${y(Math.max(0, t.low))}M${cx - 4} ${y(t.high)}h8M${cx - 4} ${y(Math.max(0, t.low))}h8" stroke="#111" fill="none"/>`,
        );
      }
    });
    parts.push(
      `<text x="${x0 + (systems.length * barW) / 2}" y="${top + plotH + 18}" text-anchor="middle">${escapeXml(q.query)}</text>`,
    );
  });
  parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
  systems.forEach((s, i) => {
    const x = left + i * 130;
    parts.push(
      `<rect x="${x}" y="${height - 28}" width="12" height="12" fill="${COLOR[s]}"/>`,
      `<text x="${x + 18}" y="${height - 18}">${LABEL[s]}</text>`,
    );
  });
  if (differ)
    parts.push(
      `<text x="${left + systems.length * 130}" y="${height - 18}" fill="#555">* outputs differ from eddy's</text>`,
    );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
