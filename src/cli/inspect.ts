/**
 * `eddy inspect` (issues 17 and 18): what a pipeline is and what a running
 * one does, without running it or attaching a debugger.
 *
 * - `eddy inspect <module.ts> [--parallelism n] [--json]`: builds the
 *   module's pipeline with its default options and prints the plan — each
 *   step with its kind and inputs, each source's and sink's connector and
 *   guarantee, and the tasks every subtask runs at parallelism n (chains,
 *   pre-aggregations, keyed exchanges, sinks gathered in subtask 0).
 * - `eddy inspect --live <url> [--json]`: reads a running job's dashboard
 *   (`eddy run --ui`; the token from `EDDY_METRICS_TOKEN`) once, two seconds
 *   apart, and prints its steps with rates and busy time, its hot keys, and
 *   DS2's answer: the bottleneck, the source rate the job sustains and the
 *   parallelism the current input needs.
 * - `eddy inspect <checkpoint or savepoint dir> [--json] [--samples n]`: what
 *   a checkpoint holds (inspect-checkpoint.ts).
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Pipeline } from '../api/pipeline.ts';
import type { DashboardState } from '../ops/dashboard-state.ts';
import type { Vertex } from '../runtime/physical.ts';
import { loadForInspection, renderSummary, summarise } from './inspect-checkpoint.ts';
import { loadModule } from './load.ts';

const USAGE = `Usage:
  eddy inspect <module.ts> [--parallelism <n>] [--json]
      The pipeline's plan, built with the module's default options: steps, their
      inputs, connectors and guarantees, and the tasks of each subtask at
      parallelism n (default 1).
  eddy inspect <checkpoint or savepoint dir> [--json] [--samples <n>]
      What a checkpoint holds, checked as a restore would: per step and state the
      key groups, entries, bytes and sample keys (default 5); each subtask's
      source positions and watermarks. A run's checkpoint directory gives its
      newest complete checkpoint.
  eddy inspect --live <url> [--json]
      A running job's steps, rates, hot keys and DS2's bottleneck and parallelism,
      read from its dashboard (start it with eddy run --ui; the address is printed
      there). Beyond loopback set EDDY_METRICS_TOKEN.
`;

export async function inspectCommand(args: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (e) {
    process.stderr.write(`eddy inspect: ${(e as Error).message.split('\n')[0]}; run "eddy inspect --help"\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.live !== undefined) {
    if (positionals.length > 0) {
      process.stderr.write('eddy inspect: --live reads a running job; leave the module out\n');
      return 2;
    }
    return live(values.live, values.json === true);
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) {
    process.stderr.write(`eddy inspect: name one pipeline module\n${USAGE}`);
    return 2;
  }
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) {
    const samples = values.samples === undefined ? 5 : Number(values.samples);
    if (!Number.isInteger(samples) || samples < 0) {
      process.stderr.write(
        `eddy inspect: --samples must be a whole number >= 0; received ${JSON.stringify(values.samples)}\n`,
      );
      return 2;
    }
    let summary: ReturnType<typeof summarise>;
    try {
      summary = summarise(await loadForInspection(file), samples);
    } catch (e) {
      process.stderr.write(`eddy inspect: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    process.stdout.write(values.json === true ? `${JSON.stringify(summary)}\n` : renderSummary(summary));
    return 0;
  }
  const n = values.parallelism === undefined ? 1 : Number(values.parallelism);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(
      `eddy inspect: --parallelism must be a whole number >= 1; received ${JSON.stringify(values.parallelism)}\n`,
    );
    return 2;
  }
  const mod = await loadModule(file, 'eddy inspect');
  if (typeof mod === 'string') {
    process.stderr.write(`${mod}\n`);
    return 2;
  }
  const defaults = Object.fromEntries(Object.entries(mod.options).map(([k, s]) => [k, s.default]));
  const pipeline = await mod.build(defaults as never);
  pipeline.validate();
  const plan = describePlan(pipeline, n);
  process.stdout.write(values.json === true ? `${JSON.stringify(plan)}\n` : planText(plan));
  return 0;
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      parallelism: { type: 'string' },
      json: { type: 'boolean' },
      live: { type: 'string' },
      samples: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
}

/** The plan as data (`--json`). */
export interface PlanDescription {
  readonly pipeline: string;
  readonly parallelism: number;
  readonly keyGroups: number;
  readonly steps: readonly {
    readonly id: string;
    readonly kind: string;
    readonly keyed: boolean;
    readonly inputs: readonly string[];
    readonly connector?: string;
    readonly guarantee?: string;
    readonly replayable?: boolean;
    readonly splits?: number;
  }[];
  readonly tasks: readonly {
    readonly id: string;
    readonly steps: readonly string[];
    readonly role: Vertex['role'];
    /** How records reach it: `local` (same subtask), `hash` (keyed exchange), `gather` (subtask 0). */
    readonly arrival: Vertex['arrival'];
    readonly adaptive?: boolean;
    readonly preAggregates?: string;
  }[];
}

export function describePlan(pipeline: Pipeline, parallelism: number): PlanDescription {
  const graph = pipeline.graph();
  const nodes = pipeline.scope.graph.nodes;
  const plan = pipeline.physicalPlan(parallelism);
  return {
    pipeline: pipeline.name,
    parallelism,
    keyGroups: pipeline.options.maxParallelism,
    steps: graph.nodes.map((n) => {
      const node = nodes.get(n.id)!;
      const source = node.source?.source;
      const sink = node.sink;
      return {
        id: n.id,
        kind: n.kind,
        keyed: n.keyed,
        inputs: graph.edges
          .filter((e) => e.to === n.id)
          .map((e) => (e.output === 'main' ? e.from : `${e.from}.${e.output}`)),
        ...(source === undefined
          ? {}
          : {
              connector: source.kind,
              replayable: source.replayable !== false,
              ...(source.splittable === true ? { splits: source.splits ?? parallelism } : {}),
            }),
        ...(sink === undefined ? {} : { connector: sink.kind, guarantee: sink.guarantee }),
      };
    }),
    tasks: plan.vertices.map((v) => {
      const combines = plan.combinerOf.get(v.id);
      return {
        id: v.id,
        steps: v.steps.map((s) => s.id),
        role: v.role,
        arrival: v.arrival,
        ...(v.adaptive === true ? { adaptive: true } : {}),
        ...(combines === undefined ? {} : { preAggregates: combines }),
      };
    }),
  };
}

function planText(p: PlanDescription): string {
  const lines = [
    `${p.pipeline}: ${p.steps.length} steps; at parallelism ${p.parallelism}, ${p.tasks.length} tasks per subtask; ${p.keyGroups} key groups`,
    '',
    'Steps:',
  ];
  const w = Math.max(...p.steps.map((s) => s.id.length), 4);
  for (const s of p.steps) {
    const facts = [
      s.kind + (s.keyed ? ' (keyed)' : ''),
      s.inputs.length === 0 ? '' : `← ${s.inputs.join(', ')}`,
      s.connector === undefined ? '' : `[${s.connector}`,
    ];
    let tail = '';
    if (s.connector !== undefined) {
      const notes: string[] = [];
      if (s.guarantee !== undefined) notes.push(s.guarantee);
      if (s.replayable === false) notes.push('cannot replay: at-most-once across a crash');
      else if (s.replayable === true) notes.push('replayable');
      if (s.splits !== undefined) notes.push(`${s.splits} split${s.splits === 1 ? '' : 's'}`);
      tail = `${notes.length === 0 ? '' : `: ${notes.join(', ')}`}]`;
    }
    lines.push(`  ${s.id.padEnd(w)}  ${facts.filter((f) => f !== '').join('  ')}${tail}`);
  }
  lines.push('', `Tasks of each subtask (parallelism ${p.parallelism}):`);
  for (const t of p.tasks) {
    const how =
      t.arrival === 'hash'
        ? 'keyed exchange: each key to its key group’s subtask'
        : t.arrival === 'split'
          ? t.adaptive === true
            ? 'adaptive split exchange: kept in its subtask, or each key to the less loaded of two subtasks while that measures cheaper (worker threads)'
            : 'split exchange: each key to the less loaded of two subtasks'
          : t.arrival === 'gather'
            ? 'gathered: runs in subtask 0'
            : 'local';
    const what =
      t.preAggregates !== undefined
        ? `pre-aggregates for ${t.preAggregates} before the exchange`
        : t.role === 'chain'
          ? 'chain'
          : t.role;
    lines.push(`  ${t.steps.join(' → ')}  (${what}; ${how})`);
  }
  return `${lines.join('\n')}\n`;
}

/** `--live`: two readings of the dashboard's state, two seconds apart (the second is printed). */
async function live(url: string, json: boolean): Promise<number> {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    process.stderr.write(
      `eddy inspect: --live needs the dashboard's address, e.g. http://127.0.0.1:9464/; received ${JSON.stringify(url)}\n`,
    );
    return 2;
  }
  const token = process.env['EDDY_METRICS_TOKEN'];
  const read = async (): Promise<DashboardState | string> => {
    let res: Response;
    try {
      res = await fetch(new URL('/api/state', base), {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (e) {
      return `cannot reach ${base.origin} (${(e as Error).message}); is the job running with --ui?`;
    }
    if (res.status === 404)
      return `${base.origin} serves no dashboard; start the job with eddy run --ui (or --ui --metrics-port <port>)`;
    if (res.status === 401) return `${base.origin} wants a token; set EDDY_METRICS_TOKEN`;
    if (!res.ok) return `${base.origin} answered ${res.status}`;
    return (await res.json()) as DashboardState;
  };
  const first = await read();
  if (typeof first === 'string') {
    process.stderr.write(`eddy inspect: ${first}\n`);
    return 1;
  }
  // The server samples once a second: the second reading's rates cover a full interval.
  await new Promise((r) => setTimeout(r, 2000));
  const state = await read();
  if (typeof state === 'string') {
    process.stderr.write(`eddy inspect: ${state}\n`);
    return 1;
  }
  process.stdout.write(json ? `${JSON.stringify(state)}\n` : liveText(base.origin, state));
  return 0;
}

function liveText(origin: string, s: DashboardState): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const lines = [
    `${origin}: ${s.phase} — ${s.reason}; ${n(s.sourceRecords)} records read; ${s.checkpointsCompleted} checkpoints (${s.checkpointsFailed} failed)${s.restarts > 0 ? `; ${s.restarts} restarts` : ''}`,
    '',
  ];
  const w = Math.max(...s.steps.map((x) => x.id.length), 4);
  lines.push(
    `  ${'step'.padEnd(w)}  ${'in/s'.padStart(10)}  ${'out/s'.padStart(10)}  ${'busy'.padStart(5)}  ${'true rate'.padStart(10)}  needed`,
  );
  for (const x of s.steps)
    lines.push(
      `  ${x.id.padEnd(w)}  ${n(x.inRate).padStart(10)}  ${n(x.outRate).padStart(10)}  ${`${Math.round(x.busy * 100)}%`.padStart(5)}  ${(x.trueRate === null ? '' : n(x.trueRate)).padStart(10)}  ${x.needed ?? ''}`,
    );
  const hot = s.steps.filter((x) => x.hotKeys.length > 0);
  if (hot.length > 0) {
    lines.push('', 'Hot keys:');
    for (const x of hot)
      lines.push(
        `  ${x.id}: ${x.hotKeys.map((h) => `${h.key} ${Math.round(h.share * 100)}%`).join(', ')}${x.skew === null ? '' : `; busiest subtask ${x.skew.toFixed(2)}× the mean`}`,
      );
  }
  lines.push(
    '',
    s.scale.bottleneck === null || s.scale.sustainableRate === null
      ? 'DS2: not enough work in the last second to measure the steps.'
      : `DS2: bottleneck "${s.scale.bottleneck}"; the steps sustain about ${n(s.scale.sustainableRate)} source records/s at this parallelism; the current input needs ${s.scale.parallelism} subtask${s.scale.parallelism === 1 ? '' : 's'}.`,
  );
  return `${lines.join('\n')}\n`;
}
