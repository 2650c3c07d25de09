/**
 * The `eddy` command line.
 *
 *   eddy run <module> [--option value ...]   run a pipeline module
 *   eddy run <module> --help                 show the module's options
 *   eddy --help
 *
 * Exit codes: 0 done (or stopped with a savepoint); 1 the run failed; 2 a
 * usage error; 65 (`EX_DATAERR` of sysexits.h) more of the input was
 * dead-lettered than `--max-dead-letter-ratio` allows; 130 Ctrl-C twice.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CHECKPOINT_OPTIONS } from '../api/options.ts';
import type { Pipeline, RunningPipeline } from '../api/pipeline.ts';
import { checkDuration, MAX_TIMER_MS } from '../api/windows.ts';
import type { PipelineMetrics } from '../core/metrics.ts';
import { KAFKA_APP_OPTIONS } from '../deploy/kafka/options.ts';
import { EddyError } from '../errors/index.ts';
import { OPS_FLAGS, OPS_HELP, opsOptions } from '../ops/options.ts';
import { startRunOps } from '../ops/run-ops.ts';
import { REBALANCE_OPTIONS } from '../runtime/rebalance.ts';
import type { RebalanceInfo } from '../runtime/threads/rebalancer.ts';
import type { OptionSpec, PipelineModule } from './define.ts';
import { inspectCommand } from './inspect.ts';
import { runOnKafka } from './kafka.ts';
import { kafkaCommand } from './kafka-reset.ts';
import { loadModule } from './load.ts';

/**
 * The default of `--max-dead-letter-ratio`: a run that dead-letters more
 * than half of what it read exits 65. Dirty input (a few broken sensors,
 * the odd malformed line) stays far below it — the IoT demo dead-letters
 * 0.02 % — while a systematic failure (a wrong format, a schema change, a
 * bug on the main path) sends nearly every record there; then the output no
 * longer stands for the input, and a script or CI job must not read the run
 * as a success (issue 19). Lower it for pipelines that must see every
 * record; raise it (e.g. to 1) to accept any share.
 */
const DEFAULT_MAX_DEAD_LETTER_RATIO = 0.5;

/** Exit code of a run that dead-lettered too much: sysexits.h's EX_DATAERR, "the input data was incorrect". */
const EXIT_DEAD_LETTERS = 65;

/** eddy's own options of `eddy run`: parsed with the module's, and the names "did you mean" picks from. */
const RUN_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  quiet: { type: 'boolean' },
  'progress-ms': { type: 'string' },
  'checkpoint-dir': { type: 'string' },
  'checkpoint-interval': { type: 'string' },
  resume: { type: 'boolean' },
  'from-savepoint': { type: 'string' },
  'savepoint-dir': { type: 'string' },
  parallelism: { type: 'string' },
  rebalance: { type: 'boolean' },
  'rebalance-interval': { type: 'string' },
  'max-dead-letter-ratio': { type: 'string' },
  kafka: { type: 'string' },
  'app-id': { type: 'string' },
  'instance-id': { type: 'string' },
  endpoint: { type: 'string' },
  'standby-replicas': { type: 'string' },
  ...OPS_FLAGS,
} as const;

/** Options of the embedded runtime that a Kafka application has no use for: state and savepoints live in its topics. */
const EMBEDDED_ONLY = [
  'checkpoint-dir',
  'resume',
  'from-savepoint',
  'savepoint-dir',
  'parallelism',
  'rebalance',
  'rebalance-interval',
] as const;

const HELP = `eddy — real-time dataflow for TypeScript

Usage:
  eddy run <module.ts> [options]   Run the pipeline that <module.ts> default-exports (definePipeline)
  eddy run <module.ts> --help      Show that pipeline's options
  eddy inspect <module.ts>         Print the pipeline's plan: steps, tasks, exchanges (--parallelism n,
                                   --json)
  eddy inspect <checkpoint dir>    What a checkpoint or savepoint holds: state per step (key groups,
                                   entries, bytes, sample keys), source positions (--json)
  eddy inspect --live <url>        Read a running job's dashboard (eddy run --ui): steps, rates, hot
                                   keys, bottleneck and the parallelism it needs (DS2)
  eddy kafka reset --app-id <id>   Delete a Kafka application's internal topics and offsets (--dry-run)
  eddy --help                      Show this help

Options of 'eddy run' (before or after the module's own):
  --quiet                          No progress lines, only the summary
  --progress-ms <ms>               Progress line interval (default 1000)
  --checkpoint-dir <dir>           Where checkpoints go (default .eddy/checkpoints/<pipeline>)
  --checkpoint-interval <ms>       How often to checkpoint (default ${CHECKPOINT_OPTIONS.intervalMs.default}; 0 = only at the end)
  --resume                         Resume from the latest checkpoint in --checkpoint-dir
  --from-savepoint <dir>           Resume from a savepoint
  --savepoint-dir <dir>            Where SIGTERM writes its savepoint (default .eddy/savepoints/<pipeline>-<time>)
  --parallelism <n>                Run n subtasks in n threads (default: EDDY_PARALLELISM, else the
                                   number of cores if a source splits its input, else 1). Keyed
                                   state is split by key group; sinks run in the main thread;
                                   checkpoints span every thread.
  --rebalance                      With --parallelism: move key groups (and their state) between the
                                   threads, at a checkpoint, when their keyed work is uneven
  --rebalance-interval <ms>        How often the load is weighed for --rebalance (default ${REBALANCE_OPTIONS.intervalMs.default})
  --max-dead-letter-ratio <r>      Exit 65 when more than this share of the records read was
                                   dead-lettered (default ${DEFAULT_MAX_DEAD_LETTER_RATIO}; 1 accepts any share)
  --kafka <brokers>                Run as one instance of a Kafka application on these brokers
                                   (host:port,...): a consumer group, state in changelog topics,
                                   exactly-once output; the module's kafkaSource/kafkaSink become the
                                   application's. Start more instances with the same --app-id to
                                   share the partitions. --checkpoint-interval sets the commit
                                   interval (default ${KAFKA_APP_OPTIONS.commitIntervalMs.default} ms)
  --app-id <id>                    The Kafka application's id (consumer group, topic prefix); with --kafka
  --instance-id <name>             This instance's name in client ids (default: the process id); with --kafka
  --endpoint <url>                 Where this instance answers state queries (/state/...) for the
                                   others of its Kafka application, which redirect there (default:
                                   its metrics server's address, with --ui); with --kafka
  --standby-replicas <n>           Keep a warm copy of each partition's state on n other instances,
                                   so a partition that moves restores only what changed since
                                   (default ${KAFKA_APP_OPTIONS.standbyReplicas.default}); with --kafka
${OPS_HELP}
Runs on the embedded default: one process, in-memory channels, heap state;
with --kafka, as a Kafka application (SIGTERM or Ctrl-C stop it with a savepoint
in its topics).
Checkpoints make file output exactly-once: it becomes visible when a
checkpoint completes. SIGTERM pauses the sources, writes a savepoint and
exits 0; SIGINT (Ctrl-C) drains: it ends the input and emits what is open.
The summary counts dead letters per step.
Exit codes: 0 done or stopped with a savepoint, 1 failed, 2 usage error,
65 too many dead letters, 130 Ctrl-C twice.
`;

/** What the `eddy` launcher knows before `main` is loaded. */
export interface CliContext {
  /** Whether a SIGTERM arrived while eddy was still loading: the run then stops with a savepoint as soon as it starts. */
  readonly terminatedEarly?: () => boolean;
}

/**
 * Runs the command line and exits the process with its code. It exits
 * explicitly: whatever the module left open (a client made in `build`, a
 * timer) must not keep a finished or failed run alive (issue 19).
 *
 * @example
 * ```ts
 * await cli(process.argv.slice(2));
 * ```
 */
export async function cli(argv: readonly string[], context: CliContext = {}): Promise<never> {
  let code: number;
  try {
    code = await main(argv, context);
  } catch (e) {
    process.stderr.write(`${errorLine(e)}\n`);
    code = 1;
  }
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

/** Resolves once what was written to `stream` has been handed to the OS. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * The command line; resolves with the exit code. Installs SIGINT and
 * SIGTERM handlers for the life of the process (see {@link cli}).
 */
export async function main(argv: readonly string[], context: CliContext = {}): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === 'kafka') return kafkaCommand(rest);
  if (command === 'inspect') return inspectCommand(rest);
  if (command !== 'run') {
    const near = closest(command, ['run', 'inspect', 'kafka', 'help']);
    process.stderr.write(
      `eddy: unknown command "${command}"${near === undefined ? '' : ` (did you mean "${near}"?)`}; run "eddy --help" for the commands\n`,
    );
    return 2;
  }
  const [file, ...args] = rest;
  if (file === '--help' || file === '-h') {
    process.stdout.write(HELP);
    return 0;
  }
  if (file === undefined || file.startsWith('-')) {
    process.stderr.write(
      'eddy run: which pipeline module? usage: eddy run <module.ts> [options]; "eddy run --help" lists the options\n',
    );
    return 2;
  }
  const stopper = new Stopper(context.terminatedEarly?.() === true);
  const mod = await loadModule(file);
  if (typeof mod === 'string') {
    process.stderr.write(`${mod}\n`);
    return 2;
  }
  const specs = mod.options;
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = { ...RUN_OPTIONS };
  for (const [name, spec] of Object.entries(specs))
    parseOptions[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  const usage = `run "eddy run ${file} --help" for the options`;
  const unknown = unknownArgument(args, parseOptions);
  if (unknown !== undefined) {
    process.stderr.write(`eddy run: ${unknown}; ${usage}\n`);
    return 2;
  }
  let parsed: Record<string, string | boolean | undefined>;
  try {
    parsed = parseArgs({ args: [...args], options: parseOptions, strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (e) {
    // parseArgs explains over several lines; the CLI's errors are one line each.
    process.stderr.write(
      `eddy run: ${(e as Error).message.replace(/([.?!]?)\n/g, (_, end: string) => `${end || '.'} `).replace(/\.$/, '')}; ${usage}\n`,
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
  let progressMs: number;
  let intervalMs: number;
  let maxDeadRatio: number;
  let rebalanceMs: number;
  try {
    const { intervalMs: every } = REBALANCE_OPTIONS;
    rebalanceMs = flagMs('rebalance-interval', parsed['rebalance-interval'], every.default, every.min);
    progressMs = flagMs('progress-ms', parsed['progress-ms'], 1000, 1);
    const { intervalMs: checkpointEvery } = CHECKPOINT_OPTIONS;
    intervalMs = flagMs(
      'checkpoint-interval',
      parsed['checkpoint-interval'],
      checkpointEvery.default,
      checkpointEvery.min,
    );
    maxDeadRatio = ratioFlag(parsed['max-dead-letter-ratio']);
  } catch (e) {
    process.stderr.write(`eddy run: ${(e as Error).message}\n`);
    return 2;
  }
  const opsFlags = opsOptions(parsed, process.env);
  if (typeof opsFlags === 'string') {
    process.stderr.write(`eddy run: ${opsFlags}\n`);
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
  if (
    parsed['kafka'] !== undefined ||
    parsed['app-id'] !== undefined ||
    parsed['instance-id'] !== undefined ||
    parsed['endpoint'] !== undefined ||
    parsed['standby-replicas'] !== undefined
  ) {
    const problem = kafkaUsage(parsed);
    if (problem !== undefined) {
      process.stderr.write(`eddy run: ${problem}\n`);
      return 2;
    }
    const ops = await startRunOps(opsFlags, { pipeline: mod.name, mode: 'kafka' });
    const result = await runOnKafka({
      file,
      name: mod.name,
      build: () => mod.build(values as never),
      brokers: String(parsed['kafka'])
        .split(',')
        .map((b) => b.trim()),
      applicationId: String(parsed['app-id']),
      ...(parsed['instance-id'] === undefined ? {} : { instanceId: String(parsed['instance-id']) }),
      ...endpointOf(parsed['endpoint'], opsFlags.ui ? ops.url : undefined),
      ...(parsed['checkpoint-interval'] === undefined ? {} : { commitIntervalMs: Math.max(1, intervalMs) }),
      ...(parsed['standby-replicas'] === undefined
        ? {}
        : { standbyReplicas: Number(parsed['standby-replicas']) }),
      progressMs,
      quiet: parsed['quiet'] === true,
      terminatedEarly: context.terminatedEarly?.() === true,
      ops,
    }).catch(ops.fail);
    await ops.end('stopped: each partition committed a savepoint');
    const dead = deadLetterCounts(result.metrics);
    process.stdout.write(
      `eddy: ${mod.name} (Kafka application ${String(parsed['app-id'])}) stopped with a savepoint after ${result.seconds.toFixed(1)} s — ${result.metrics.sourceRecords.toLocaleString('en-US')} events on this instance's partitions; ${dead.text}${result.restarts > 0 ? `; ${result.restarts} restarts` : ''}\n` +
        `eddy: start it again with the same --app-id to go on from there\n`,
    );
    if (dead.ratio > maxDeadRatio) process.stderr.write(`${tooManyDeadLetters(dead, maxDeadRatio)}\n`);
    return 0;
  }
  const pipeline = await mod.build(values as never);
  for (const line of notReplayable(pipeline)) process.stderr.write(`${line}\n`);
  const parallelism = asked === undefined ? pipeline.defaultParallelism() : Number(asked);
  const checkpointDir = String(parsed['checkpoint-dir'] ?? join('.eddy', 'checkpoints', pipeline.name));
  const fromSavepoint = parsed['from-savepoint'] as string | undefined;
  const ops = await startRunOps(opsFlags, {
    pipeline: pipeline.name,
    mode: parallelism > 1 ? 'threads' : 'embedded',
    parallelism,
  });
  ops.graph(pipeline.graph());
  const started = performance.now();
  const runOptions = {
    checkpoints: { dir: checkpointDir, intervalMs },
    // Restarts (on by default with checkpoints) are announced: a run that fails and restarts must not look stuck.
    onRestart: (info: { error: unknown; restart: number; delayMs: number }) =>
      ops.restarting(
        info,
        `eddy: the run failed: ${describeError(info.error, false)}; restart ${info.restart} from the newest checkpoint in ${(info.delayMs / 1000).toFixed(1)} s`,
      ),
    onCheckpoint: ops.onCheckpoint,
    // Someone looks at the run: keyed steps follow their hot keys.
    hotKeys: opsFlags.metrics !== undefined,
    ...(parsed['resume'] ? { resumeFrom: 'latest' } : {}),
    ...(fromSavepoint === undefined ? {} : { resumeFrom: fromSavepoint }),
  };
  const rebalance =
    parsed['rebalance'] === true || parsed['rebalance-interval'] !== undefined
      ? {
          rebalance: { intervalMs: rebalanceMs },
          onRebalance: (info: RebalanceInfo) =>
            ops.log.info(
              `eddy: moved ${info.moves.length} key groups between threads at checkpoint ${info.checkpointId} (busiest thread ${info.skewBefore.toFixed(2)}× the mean before, ${info.skewAfter.toFixed(2)}× planned; paused ${Math.round(info.pauseMs)} ms)`,
              { checkpoint: info.checkpointId, moves: info.moves.length },
            ),
        }
      : {};
  const running = await (parallelism > 1
    ? pipeline.startInThreads(
        pathToFileURL(resolve(file)).href,
        { ...values },
        { ...runOptions, ...rebalance, parallelism },
      )
    : pipeline.start({ ...runOptions, ...rebalance })
  ).catch(ops.fail);
  ops.attach(running);
  const resumed = running.metrics().checkpoints?.restoredFrom;
  if (resumed !== undefined)
    ops.log.info(`eddy: resumed from ${fromSavepoint ?? `checkpoint ${resumed} in ${checkpointDir}`}`, {
      checkpoint: resumed,
    });
  const savepointDir = () =>
    String(
      parsed['savepoint-dir'] ??
        join('.eddy', 'savepoints', `${pipeline.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    );
  stopper.attach(running, savepointDir);
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
  let savepoint: string | undefined;
  try {
    await Promise.race([running.done, stopper.failed]);
    savepoint = await stopper.savepoint;
  } catch (e) {
    await ops.fail(e);
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
    stopper.finished();
  }
  await ops.end(savepoint === undefined ? undefined : `stopped with a savepoint in ${savepoint}`);
  const metrics = running.metrics();
  const dead = deadLetterCounts(metrics);
  if (savepoint !== undefined) {
    process.stdout.write(
      `eddy: ${mod.name} stopped with a savepoint after ${metrics.sourceRecords.toLocaleString('en-US')} events; ${dead.text}\n` +
        `eddy: resume with: eddy run ${file} --from-savepoint ${savepoint}\n`,
    );
    // A savepoint is a pause, not the end of the run: its exit code says whether the savepoint was written.
    if (dead.ratio > maxDeadRatio) process.stderr.write(`${tooManyDeadLetters(dead, maxDeadRatio)}\n`);
    return 0;
  }
  const secs = (performance.now() - started) / 1000;
  const late = Object.values(metrics.steps)
    .filter((m) => m.lateRecords > 0)
    .map((m) => `${m.id} ${m.lateRecords}`);
  const lines = [
    `eddy: ${mod.name} finished in ${secs.toFixed(1)} s${parallelism > 1 ? ` on ${parallelism} threads` : ''} — ${metrics.sourceRecords.toLocaleString('en-US')} events (${Math.round(metrics.sourceRecords / secs).toLocaleString('en-US')}/s); late: ${late.length === 0 ? 'none' : late.join(', ')}; ${dead.text}${metrics.rebalances ? `; key groups moved between threads ${metrics.rebalances} times` : ''}${metrics.restarts ? `; restarted ${metrics.restarts} times (counts are since the last restart)` : ''}`,
    ...(mod.summary?.(metrics, values as never) ?? []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (dead.ratio > maxDeadRatio) {
    process.stderr.write(`${tooManyDeadLetters(dead, maxDeadRatio)}\n`);
    return EXIT_DEAD_LETTERS;
  }
  return 0;
}

/**
 * SIGINT drains (twice: exit at once); SIGTERM stops with a savepoint, once.
 * The handlers stay for the life of the process: a second SIGTERM that came
 * after the savepoint was written, while threads and files were closing,
 * used to find no handler and kill the process (issue 19).
 */
class Stopper {
  #how: 'drain' | 'savepoint' | undefined;
  #running: RunningPipeline | undefined;
  #savepointDir: (() => string) | undefined;
  #finished = false;
  /** Resolves with the savepoint's directory once written; undefined when the run was not stopped by SIGTERM. */
  savepoint: Promise<string | undefined> = Promise.resolve(undefined);
  #fail!: (e: unknown) => void;
  /** Rejects when the savepoint fails (the sources stay paused, so the run would not end on its own). */
  readonly failed = new Promise<never>((_, reject) => {
    this.#fail = reject;
  });

  constructor(terminatedEarly: boolean) {
    this.failed.catch(() => {}); // raced against the run's end
    process.on('SIGINT', this.#onInterrupt);
    process.on('SIGTERM', this.#onTerminate);
    if (terminatedEarly) this.#onTerminate();
  }

  /** The run has started: a stop asked for while it was loading happens now. */
  attach(running: RunningPipeline, savepointDir: () => string): void {
    this.#running = running;
    this.#savepointDir = savepointDir;
    if (this.#how === 'drain') this.#drain();
    else if (this.#how === 'savepoint') this.#stopWithSavepoint();
  }

  /** The run is over; signals from now on change nothing. */
  finished(): void {
    this.#finished = true;
  }

  readonly #onInterrupt = (): void => {
    if (this.#how !== undefined) {
      process.stderr.write('\neddy: interrupted again — exiting at once\n');
      process.exit(130);
    }
    this.#how = 'drain';
    if (this.#finished) return;
    if (this.#running === undefined) {
      // Nothing runs yet, so nothing to drain: stop as Ctrl-C stops any command.
      process.stderr.write('\neddy: interrupted while starting\n');
      process.exit(130);
    }
    this.#drain();
  };

  readonly #onTerminate = (): void => {
    if (this.#how !== undefined || this.#finished) {
      process.stderr.write(
        this.#how === 'savepoint' && !this.#finished
          ? 'eddy: SIGTERM again — the savepoint is being written; eddy exits once it is\n'
          : 'eddy: SIGTERM — already stopping\n',
      );
      return;
    }
    this.#how = 'savepoint';
    if (this.#running !== undefined) this.#stopWithSavepoint();
  };

  #drain(): void {
    process.stderr.write('\neddy: stopping — draining what is in flight (press again to exit at once)\n');
    this.#running!.stop();
  }

  #stopWithSavepoint(): void {
    const dir = this.#savepointDir!();
    process.stderr.write(`\neddy: SIGTERM — pausing sources and writing a savepoint to ${dir}\n`);
    this.savepoint = this.#running!.stopWithSavepoint(dir).then(
      () => dir,
      (e: unknown) => {
        const error = new EddyError(
          'EDDY_CHECKPOINT_INVALID',
          `the savepoint to ${dir} failed (${(e as Error).message}); stopped without one`,
          { cause: e },
        );
        this.#fail(error);
        throw error;
      },
    );
    this.savepoint.catch(() => {}); // awaited once the run is done
  }
}

/**
 * One line per source that cannot replay (MQTT, HTTP ingest: `replayable:
 * false`): it runs, and the user is told what a crash can lose rather than
 * the source being refused or more being promised (issue 16).
 */
function notReplayable(pipeline: Pipeline): string[] {
  const lines: string[] = [];
  for (const node of pipeline.scope.graph.nodes.values()) {
    const source = node.source?.source;
    if (source?.replayable === false)
      lines.push(
        `eddy: source "${node.id}" (${source.kind}) cannot replay its input: records it has read but not yet checkpointed are lost if the process crashes (at-most-once); checkpoints still make state and output consistent with what it read`,
      );
  }
  return lines;
}

/** What is wrong with the Kafka flags (one line), or undefined. */
function kafkaUsage(parsed: Record<string, string | boolean | undefined>): string | undefined {
  const brokers = parsed['kafka'];
  if (brokers === undefined)
    return `--app-id, --instance-id and --endpoint run a Kafka application: add --kafka <brokers>, e.g. --kafka 127.0.0.1:9092${parsed['standby-replicas'] === undefined ? '' : ' (--standby-replicas too)'}`;
  const list = String(brokers)
    .split(',')
    .map((b) => b.trim());
  const bad = list.find((b) => !/^[^\s:/]+:\d{1,5}$/.test(b));
  if (bad !== undefined)
    return `--kafka takes host:port[,host:port...]; received ${JSON.stringify(brokers)} (${JSON.stringify(bad)} is not host:port)`;
  const id = parsed['app-id'];
  if (id === undefined || !/^[A-Za-z0-9._-]{1,200}$/.test(String(id)))
    return `--kafka needs --app-id <id> (letters, digits, . _ -: it names the consumer group and the internal topics); received ${id === undefined ? 'none' : JSON.stringify(id)}`;
  const instance = parsed['instance-id'];
  const named = KAFKA_APP_OPTIONS.instanceId;
  if (instance !== undefined && !named.pattern.test(String(instance)))
    return `--instance-id ${named.rule}; received ${JSON.stringify(instance)} (${named.doc})`;
  const standbys = parsed['standby-replicas'];
  const { min, max, doc } = KAFKA_APP_OPTIONS.standbyReplicas;
  if (
    standbys !== undefined &&
    !(/^\d{1,3}$/.test(String(standbys)) && Number(standbys) >= min && Number(standbys) <= max)
  )
    return `--standby-replicas takes a whole number from ${min} to ${max} (${doc}); received ${JSON.stringify(standbys)}`;
  const other = EMBEDDED_ONLY.find((f) => parsed[f] !== undefined);
  if (other !== undefined)
    return `--${other} is for the embedded runtime; a Kafka application keeps its state, offsets and savepoints in its topics: leave --${other} out, and start the same --app-id again to resume`;
  return undefined;
}

/**
 * The endpoint a Kafka application's instance tells the others: `--endpoint`,
 * else its metrics server's address — unless that is a wildcard address
 * (0.0.0.0, ::), which the others cannot reach.
 */
function endpointOf(flag: string | boolean | undefined, url: string | undefined): { endpoint?: string } {
  if (flag !== undefined) return { endpoint: String(flag) };
  if (url === undefined || /\/\/(0\.0\.0\.0|\[::\])[:/]/.test(url)) return {};
  return { endpoint: url };
}

/** The first argument that is no known option (with a "did you mean"), or undefined. */
function unknownArgument(
  args: readonly string[],
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>,
): string | undefined {
  const { tokens } = parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const t of tokens) {
    if (t.kind === 'option' && !Object.hasOwn(options, t.name)) {
      const near = closest(t.name, Object.keys(options));
      return `unknown option ${t.rawName}${near === undefined ? '' : ` (did you mean --${near}?)`}`;
    }
    if (t.kind === 'positional')
      return `unexpected argument ${JSON.stringify(t.value)} (only one module per run; options take the form --name value)`;
  }
  return undefined;
}

/**
 * The candidate nearest to `word` by edit distance (with transpositions), if
 * near enough to be a typo: at most 2 edits, or a third of the word.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** A millisecond flag: a whole number from `min` to the longest a timer waits (it drives one). */
function flagMs(name: string, raw: string | boolean | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || Number.isNaN(n))
    throw new EddyError(
      'EDDY_CONFIG_INVALID',
      `--${name} must be a whole number of milliseconds; received ${JSON.stringify(raw)}; pass e.g. --${name} ${fallback}`,
    );
  return checkDuration(`--${name}`, n, { min, max: MAX_TIMER_MS, example: String(fallback) });
}

function ratioFlag(raw: string | boolean | undefined): number {
  if (raw === undefined) return DEFAULT_MAX_DEAD_LETTER_RATIO;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new EddyError(
      'EDDY_CONFIG_INVALID',
      `--max-dead-letter-ratio must be a number >= 0 (a share of the records read: 0.5 is half); received ${JSON.stringify(raw)}; pass e.g. 0.01, or 1 to accept any share`,
    );
  return n;
}

interface DeadLetterCounts {
  readonly total: number;
  /** Records the sources read: emitted, or dead-lettered because they could not be decoded. */
  readonly read: number;
  /** total / read (0 when nothing was read). */
  readonly ratio: number;
  /** "dead-lettered: none" or "dead-lettered: 12 of 1,000 read (1.2 %): validate 10, readings 2". */
  readonly text: string;
}

function deadLetterCounts(m: PipelineMetrics): DeadLetterCounts {
  const steps = Object.values(m.steps).filter((s) => s.deadLetters > 0);
  const total = steps.reduce((n, s) => n + s.deadLetters, 0);
  const read =
    m.sourceRecords + steps.filter((s) => s.kind === 'source').reduce((n, s) => n + s.deadLetters, 0);
  const ratio = read === 0 ? 0 : total / read;
  const n = (x: number) => x.toLocaleString('en-US');
  const text =
    total === 0
      ? 'dead-lettered: none'
      : `dead-lettered: ${n(total)} of ${n(read)} read (${percent(ratio)}): ${steps
          .sort((a, b) => b.deadLetters - a.deadLetters)
          .map((s) => `${s.id} ${n(s.deadLetters)}`)
          .join(', ')}`;
  return { total, read, ratio, text };
}

function percent(ratio: number): string {
  const p = ratio * 100;
  return `${p >= 1 || p === 0 ? Math.round(p * 10) / 10 : Number(p.toPrecision(2))} %`;
}

function tooManyDeadLetters(dead: DeadLetterCounts, max: number): string {
  return `eddy: ${percent(dead.ratio)} of the records read were dead-lettered (${dead.total.toLocaleString('en-US')} of ${dead.read.toLocaleString('en-US')}), more than --max-dead-letter-ratio ${max} allows; the output is missing that share of the input: fix the cause (each dead letter gives its step, code and reason), or pass --max-dead-letter-ratio ${Math.min(1, Math.ceil(dead.ratio * 100) / 100)} to accept it`;
}

/**
 * One line for an error the user can act on (eddy's own, or the system's
 * such as a missing directory); a stack only for an unexpected error, which
 * is a bug (in the module or in eddy) and needs it.
 */
function errorLine(e: unknown): string {
  return `eddy: ${describeError(e, true)}`;
}

/** What went wrong, for a person: with the stack of an unexpected error only when `stack`. */
function describeError(e: unknown, stack: boolean): string {
  if (e instanceof EddyError) return e.message;
  const sys = e as { code?: unknown; syscall?: unknown; path?: unknown; message?: unknown } | null;
  if (
    sys !== null &&
    typeof sys === 'object' &&
    typeof sys.code === 'string' &&
    typeof sys.syscall === 'string'
  ) {
    const message = String(sys.message);
    const path = typeof sys.path === 'string' ? sys.path : undefined;
    // Node's message ends with the path; anything after it was appended, e.g. the restart strategy's
    // note when it gave up (RestartStrategy.exhaustedMessage).
    const end = path === undefined ? -1 : message.indexOf(`'${path}'`);
    const note = end < 0 ? '' : message.slice(end + path!.length + 2).trim();
    let line: string;
    if (path !== undefined && sys.code === 'ENOENT' && !existsSync(dirname(path)))
      line = `cannot ${sys.syscall} ${path}: the directory ${dirname(path)} does not exist; create it (mkdir -p ${dirname(path)}) or pass another path`;
    else if (path !== undefined && (sys.code === 'EACCES' || sys.code === 'EPERM'))
      line = `cannot ${sys.syscall} ${path}: permission denied; pass a path eddy may use, or change its permissions`;
    else return `${message}; check the path and try again`;
    return note === '' ? line : `${line} ${note}`;
  }
  if (!stack) return String((e as Error)?.message ?? e).split('\n')[0]!;
  return (e as Error)?.stack ?? String(e);
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
    "  (and eddy's own: --checkpoint-dir, --checkpoint-interval, --resume, --from-savepoint, --savepoint-dir,",
    '   --parallelism, --max-dead-letter-ratio; see eddy run --help)',
    '',
  );
  return lines.join('\n');
}

if (import.meta.main) await cli(process.argv.slice(2));
