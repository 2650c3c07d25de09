/**
 * The `eddy` command line.
 *
 *   eddy run <module> [--option value ...]   run a pipeline module
 *   eddy run <module> --help                 show the module's options
 *   eddy --help
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EddyError } from '../errors/index.ts';
import type { PipelineMetrics } from '../runtime/metrics.ts';
import type { OptionSpec, PipelineModule } from './define.ts';

const HELP = `eddy — real-time dataflow for TypeScript

Usage:
  eddy run <module.ts> [options]   Run the pipeline that <module.ts> default-exports (definePipeline)
  eddy run <module.ts> --help      Show that pipeline's options
  eddy --help                      Show this help

Options of 'eddy run' (before or after the module's own):
  --quiet                          No progress lines, only the summary
  --progress-ms <ms>               Progress line interval (default 1000)
  --checkpoint-dir <dir>           Where checkpoints go (default .eddy/checkpoints/<pipeline>)
  --checkpoint-interval <ms>       How often to checkpoint (default 10000; 0 = only at the end)
  --resume                         Resume from the latest checkpoint in --checkpoint-dir
  --from-savepoint <dir>           Resume from a savepoint
  --savepoint-dir <dir>            Where SIGTERM writes its savepoint (default .eddy/savepoints/<pipeline>-<time>)
  --parallelism <n>                Run n subtasks in n threads (default: EDDY_PARALLELISM, else the
                                   number of cores if a source splits its input, else 1). Keyed
                                   state is split by key group; sinks run in the main thread;
                                   checkpoints span every thread.

Runs on the embedded default: one process, in-memory channels, heap state.
Checkpoints make file output exactly-once: it becomes visible when a
checkpoint completes. SIGTERM pauses the sources, writes a savepoint and
exits 0; SIGINT (Ctrl-C) drains: it ends the input and emits what is open.
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'run') {
    process.stderr.write(`eddy: unknown command "${command}"; run "eddy --help" for the commands\n`);
    return 2;
  }
  const [file, ...args] = rest;
  if (file === undefined || file.startsWith('-')) {
    process.stderr.write('eddy run: which pipeline module? usage: eddy run <module.ts> [options]\n');
    return 2;
  }
  const loaded = (await import(pathToFileURL(resolve(file)).href)) as {
    default?: PipelineModule<Record<string, OptionSpec>>;
  };
  const mod = loaded.default;
  if (mod === undefined || typeof mod.build !== 'function') {
    process.stderr.write(
      `eddy run: ${file} does not default-export a pipeline; export default definePipeline({...})\n`,
    );
    return 2;
  }
  const specs = mod.options;
  const parseOptions: Record<string, { type: 'string' | 'boolean' }> = {
    help: { type: 'boolean' },
    quiet: { type: 'boolean' },
    'progress-ms': { type: 'string' },
    'checkpoint-dir': { type: 'string' },
    'checkpoint-interval': { type: 'string' },
    resume: { type: 'boolean' },
    'from-savepoint': { type: 'string' },
    'savepoint-dir': { type: 'string' },
    parallelism: { type: 'string' },
  };
  for (const [name, spec] of Object.entries(specs))
    parseOptions[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  let parsed: Record<string, string | boolean | undefined>;
  try {
    parsed = parseArgs({ args: [...args], options: parseOptions, strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (e) {
    process.stderr.write(
      `eddy run: ${(e as Error).message}; run "eddy run ${file} --help" for the options\n`,
    );
    return 2;
  }
  if (parsed['help']) {
    process.stdout.write(moduleHelp(file, mod));
    return 0;
  }
  const values: Record<string, unknown> = Object.create(null);
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed[name];
    if (raw === undefined) values[name] = spec.default;
    else if (spec.type === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n) || (spec.min !== undefined && n < spec.min)) {
        process.stderr.write(
          `eddy run: --${name} must be a number${spec.min === undefined ? '' : ` >= ${spec.min}`}; received ${JSON.stringify(raw)}\n`,
        );
        return 2;
      }
      values[name] = n;
    } else values[name] = raw;
  }
  const progressMs = Number(parsed['progress-ms'] ?? 1000);
  if (!(progressMs > 0)) {
    process.stderr.write(
      `eddy run: --progress-ms must be a positive number; received ${JSON.stringify(parsed['progress-ms'])}\n`,
    );
    return 2;
  }
  const intervalMs = Number(parsed['checkpoint-interval'] ?? 10_000);
  if (!Number.isInteger(intervalMs) || intervalMs < 0) {
    process.stderr.write(
      `eddy run: --checkpoint-interval must be a whole number of ms >= 0; received ${JSON.stringify(parsed['checkpoint-interval'])}\n`,
    );
    return 2;
  }
  if (parsed['resume'] && parsed['from-savepoint'] !== undefined) {
    process.stderr.write('eddy run: pass either --resume or --from-savepoint, not both\n');
    return 2;
  }
  // --parallelism, else EDDY_PARALLELISM, else the pipeline's default (the number of cores).
  const env = process.env['EDDY_PARALLELISM'];
  const asked = parsed['parallelism'] ?? (env === '' ? undefined : env);
  const askedBy = parsed['parallelism'] !== undefined ? '--parallelism' : 'EDDY_PARALLELISM';
  if (asked !== undefined && (!Number.isInteger(Number(asked)) || Number(asked) < 1)) {
    process.stderr.write(
      `eddy run: ${askedBy} must be a whole number >= 1; received ${JSON.stringify(asked)}\n`,
    );
    return 2;
  }
  const pipeline = await mod.build(values as never);
  const parallelism = asked === undefined ? pipeline.defaultParallelism() : Number(asked);
  const checkpointDir = String(parsed['checkpoint-dir'] ?? join('.eddy', 'checkpoints', pipeline.name));
  const fromSavepoint = parsed['from-savepoint'] as string | undefined;
  const started = performance.now();
  const runOptions = {
    checkpoints: { dir: checkpointDir, intervalMs },
    ...(parsed['resume'] ? { resumeFrom: 'latest' } : {}),
    ...(fromSavepoint === undefined ? {} : { resumeFrom: fromSavepoint }),
  };
  const running =
    parallelism > 1
      ? await pipeline.startInThreads(
          pathToFileURL(resolve(file)).href,
          { ...values },
          { ...runOptions, parallelism },
        )
      : await pipeline.start(runOptions);
  const resumed = running.metrics().checkpoints?.restoredFrom;
  if (resumed !== undefined)
    process.stderr.write(
      `eddy: resumed from ${fromSavepoint ?? `checkpoint ${resumed} in ${checkpointDir}`}\n`,
    );
  let stopping = false;
  const onInterrupt = () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write('\neddy: stopping — draining what is in flight (press again to exit at once)\n');
    running.stop();
  };
  let savepoint: string | undefined;
  let savepointDone: Promise<void> | undefined;
  const onTerminate = () => {
    if (stopping) return;
    stopping = true;
    const dir = String(
      parsed['savepoint-dir'] ??
        join('.eddy', 'savepoints', `${pipeline.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    );
    process.stderr.write(`\neddy: SIGTERM — pausing sources and writing a savepoint to ${dir}\n`);
    savepointDone = running.stopWithSavepoint(dir).then(
      () => {
        savepoint = dir;
      },
      (e: unknown) => {
        process.stderr.write(`eddy: the savepoint failed (${(e as Error).message}); stopping without one\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onTerminate);
  let last = { at: started, records: 0 };
  const ticker = parsed['quiet']
    ? undefined
    : setInterval(() => {
        const m = running.metrics();
        const now = performance.now();
        process.stderr.write(
          `${progressLine(m, (now - started) / 1000, ((m.sourceRecords - last.records) * 1000) / (now - last.at))}\n`,
        );
        last = { at: now, records: m.sourceRecords };
      }, progressMs);
  try {
    await running.done;
    await savepointDone;
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
  }
  const metrics = running.metrics();
  if (savepoint !== undefined) {
    process.stdout.write(
      `eddy: ${mod.name} stopped with a savepoint after ${metrics.sourceRecords.toLocaleString('en-US')} events\n` +
        `eddy: resume with: eddy run ${file} --from-savepoint ${savepoint}\n`,
    );
    return 0;
  }
  const secs = (performance.now() - started) / 1000;
  const late = Object.values(metrics.steps)
    .filter((m) => m.lateRecords > 0)
    .map((m) => `${m.id} ${m.lateRecords}`);
  const dead = Object.values(metrics.steps).reduce((s, m) => s + m.deadLetters, 0);
  const lines = [
    `eddy: ${mod.name} finished in ${secs.toFixed(1)} s${parallelism > 1 ? ` on ${parallelism} threads` : ''} — ${metrics.sourceRecords.toLocaleString('en-US')} events (${Math.round(metrics.sourceRecords / secs).toLocaleString('en-US')}/s); late: ${late.length === 0 ? 'none' : late.join(', ')}; ${dead} dead-lettered`,
    ...(mod.summary?.(metrics, values as never) ?? []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function progressLine(m: PipelineMetrics, secs: number, rate: number): string {
  const lag = Number.isFinite(m.watermark) ? `${((Date.now() - m.watermark) / 1000).toFixed(1)} s` : 'n/a';
  const late = Object.values(m.steps).reduce((s, x) => s + x.lateRecords, 0);
  return `[${secs.toFixed(0).padStart(3)} s] ${Math.round(rate).toLocaleString('en-US').padStart(9)} events/s  total ${m.sourceRecords.toLocaleString('en-US')}  watermark lag ${lag}  late ${late}`;
}

function moduleHelp(file: string, mod: PipelineModule<Record<string, OptionSpec>>): string {
  const lines = [`${mod.name} — ${mod.description}`, '', `Usage: eddy run ${file} [options]`, '', 'Options:'];
  for (const [name, spec] of Object.entries(mod.options)) {
    lines.push(`  --${name.padEnd(14)} ${spec.description} (default ${String(spec.default)})`);
  }
  lines.push(
    '  --quiet          No progress lines',
    '  --progress-ms    Progress line interval in ms (default 1000)',
    "  (and eddy's own: --checkpoint-dir, --checkpoint-interval, --resume, --from-savepoint, --savepoint-dir; see eddy --help)",
    '',
  );
  return lines.join('\n');
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(
        `eddy: ${e instanceof EddyError ? e.message : ((e as Error)?.stack ?? String(e))}\n`,
      );
      process.exitCode = 1;
    },
  );
}
