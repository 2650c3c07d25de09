/**
 * Runs the Nexmark queries on Apache Flink (DataStream and SQL), Kafka
 * Streams and Spark Structured Streaming — the peers eddy's Nexmark numbers
 * are compared with — over the same events file (`export.ts`), on this
 * machine. The Java sides are the Maven projects beside this file (`flink/`,
 * `flink-sql/`, `kafka-streams/`, `spark/`, sharing `common/`); see README.md
 * for what each run measures. `spark-rt` is the Spark peer under Spark's
 * real-time trigger (`--trigger real-time`): q0–q2, Kafka mode only.
 *
 * @example
 * ```ts
 * await exportEvents('/tmp/nexmark-1m.jsonl', { count: 1_000_000 });
 * await buildPeers(['flink', 'kafka-streams'], console.error);
 * const r = await runPeer({ system: 'flink', query: 'q5', eventsFile: '/tmp/nexmark-1m.jsonl', events: 1_000_000, parallelism: 2 });
 * console.log(r.eventsPerSec, r.outputs);
 * ```
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PeerSystem = 'flink' | 'flink-sql' | 'kafka-streams' | 'spark' | 'spark-rt';

/** Kafka mode's topics of a run. */
export interface PeerKafkaTopics {
  /** Holds the events' JSON lines (P partitions, line i in partition i mod P, an END record last in each). */
  readonly inputTopic: string;
  /** Gets each output as JSON. */
  readonly outputTopic: string;
}

export interface PeerRunOptions {
  readonly system: PeerSystem;
  readonly query: string;
  /** JSON lines from `exportEvents`; the run reads its first `events` lines. */
  readonly eventsFile: string;
  readonly events: number;
  readonly parallelism: number;
  /** Events/s; omitted = maximum rate. */
  readonly rate?: number;
  /** Kafka Streams and Kafka mode; default KAFKA_BROKERS or 127.0.0.1:9092. */
  readonly brokers?: string;
  /**
   * Kafka mode: read `inputTopic` (the events file is then not read, but still required) and write
   * each output to `outputTopic`; a Kafka Streams run keeps `inputTopic` (loading it unless it
   * already holds the events). Required by `spark-rt`.
   */
  readonly kafka?: PeerKafkaTopics;
  /** More arguments for the peer's main, last (a peer takes a flag's last value), e.g. `['--trigger-ms', '5000']`. */
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface PeerResult {
  readonly system: PeerSystem;
  readonly query: string;
  readonly events: number;
  readonly outputs: number;
  readonly elapsedMs: number;
  readonly eventsPerSec: number;
  readonly cpuMs: number;
  readonly peakRssMb: number;
  readonly latencyMs: { p50: number; p99: number; p999: number } | null;
  readonly samples: number[];
  /**
   * Everything else the JVM reported: `parallelism`, versions, Flink's `startupMs` (job
   * submission and deployment, not timed), Kafka Streams' `graceMs`, `droppedRecords` and
   * `brokerCpuMs` (CPU the local broker spent during the timed section — Kafka Streams'
   * repartitioning happens there), and the latency `max` and `count`.
   */
  readonly details?: Readonly<Record<string, number | string>>;
}

const PEERS_DIR = dirname(fileURLToPath(import.meta.url));
const SYSTEMS: readonly PeerSystem[] = ['flink', 'flink-sql', 'kafka-streams', 'spark', 'spark-rt'];
const MODULE: Record<PeerSystem, string> = {
  flink: 'flink',
  'flink-sql': 'flink-sql',
  'kafka-streams': 'kafka-streams',
  spark: 'spark',
  'spark-rt': 'spark',
};
const MAIN_CLASS: Record<PeerSystem, string> = {
  flink: 'dev.eddy.peers.flink.FlinkNexmark',
  'flink-sql': 'dev.eddy.peers.flinksql.FlinkSqlNexmark',
  'kafka-streams': 'dev.eddy.peers.kstreams.KafkaStreamsNexmark',
  spark: 'dev.eddy.peers.spark.SparkNexmark',
  'spark-rt': 'dev.eddy.peers.spark.SparkNexmark',
};
/** Arguments that make a system of its main class (given to `--list` too). */
const SYSTEM_ARGS: Partial<Record<PeerSystem, readonly string[]>> = {
  'spark-rt': ['--trigger', 'real-time'],
};
/** Systems that run in Kafka mode only (`kafka` topics required), and why. */
const KAFKA_ONLY: Partial<Record<PeerSystem, string>> = {
  'spark-rt':
    "Spark's real-time mode reads only sources that support it (its Kafka source), not the events file",
};

/** The queries each peer implements (kept equal to `Queries.NAMES` in each Java main; `verify.ts` checks). */
const ALL_QUERIES = Object.freeze([
  'q0',
  'q1',
  'q2',
  'q3',
  'q3r',
  'q4',
  'q4r',
  'q5',
  'q6',
  'q7',
  'q7r',
  'q8',
  'q9',
  'q11',
  'q12',
  'q13',
  'q14',
  'q15',
  'q16',
  'q17',
  'q18',
  'q19',
  'q20',
  'q21',
  'q22',
]);
/**
 * Flink SQL runs nexmark/nexmark's own query texts; q6's does not validate (README.md). q3r, q4r
 * and q7r are nexmark's q3, q4 and q7 texts again, under the names of eddy's queries with their
 * semantics (eddy's q3 bounds its join in time, its q4 averages closed auctions only, its q7 takes
 * a window's own bids only).
 */
const FLINK_SQL_QUERIES = Object.freeze([
  'q0',
  'q1',
  'q2',
  'q3',
  'q3r',
  'q4',
  'q4r',
  'q5',
  'q7',
  'q7r',
  'q8',
  'q9',
]);
/** Spark Structured Streaming runs q0–q8 but q4 and q6 (chained aggregations over an updating join; README.md). */
const SPARK_QUERIES = Object.freeze(['q0', 'q1', 'q2', 'q3', 'q5', 'q7', 'q8']);
/** Spark 4.2's real-time mode runs stateless queries only (no aggregations, no stream-stream joins). */
const SPARK_RT_QUERIES = Object.freeze(['q0', 'q1', 'q2']);
const QUERIES: Record<PeerSystem, readonly string[]> = {
  flink: ALL_QUERIES,
  'flink-sql': FLINK_SQL_QUERIES,
  'kafka-streams': ALL_QUERIES,
  spark: SPARK_QUERIES,
  'spark-rt': SPARK_RT_QUERIES,
};

/** The Nexmark queries `system` can run, e.g. `['q0', 'q1', …]`. */
export function peerQueries(system: PeerSystem): readonly string[] {
  const q = QUERIES[system];
  if (q === undefined) throw new Error(`unknown peer system "${system}"; use one of ${SYSTEMS.join(', ')}`);
  return q;
}

/**
 * Why `system` runs only in Kafka mode (with `kafka` topics), or undefined when it also reads the
 * events file: `spark-rt` (Spark's real-time mode reads only its Kafka source).
 */
export function peerKafkaOnly(system: PeerSystem): string | undefined {
  return KAFKA_ONLY[system];
}

/** Newest modification time (ms) of the files under `path` (a file or a directory). */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

function moduleDir(system: PeerSystem): string {
  return join(PEERS_DIR, MODULE[system]);
}

/** When `buildPeers` last built the module (a stamp it writes; Maven leaves unchanged outputs alone). */
function builtAt(system: PeerSystem): number {
  const target = join(moduleDir(system), 'target');
  const files = [
    join(target, 'classpath.txt'),
    join(target, `peers-${MODULE[system]}-0.jar`),
    join(target, STAMP),
  ];
  return files.every((f) => existsSync(f)) ? statSync(join(target, STAMP)).mtimeMs : 0;
}

const STAMP = '.peers-built';

/** The modules a module's jar depends on, besides `common` (Flink SQL reads with the DataStream peer's source). */
const DEPENDS_ON: Partial<Record<PeerSystem, readonly PeerSystem[]>> = { 'flink-sql': ['flink'] };

function sourcesAt(system: PeerSystem): number {
  return Math.max(
    newest(join(PEERS_DIR, 'pom.xml')),
    newest(join(PEERS_DIR, 'common', 'pom.xml')),
    newest(join(PEERS_DIR, 'common', 'src')),
    newest(join(moduleDir(system), 'pom.xml')),
    newest(join(moduleDir(system), 'src')),
    ...(DEPENDS_ON[system] ?? []).map(sourcesAt),
  );
}

function run(
  command: string,
  args: readonly string[],
  log: (line: string) => void,
  notFound: string,
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    lines(child.stderr, (l) => {
      if (visible(l)) log(l);
    });
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error(notFound, { cause: e }) : e),
    );
    child.once('close', (code) => resolve({ code, stdout }));
  });
}

/** Whether a line has text besides ANSI colour codes (Maven's -q still prints bare resets). */
function visible(line: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what is stripped
  return line.replace(/\x1b\[[0-9;]*m/g, '').trim().length > 0;
}

function lines(stream: NodeJS.ReadableStream, log: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    rest += d;
    let i = rest.indexOf('\n');
    while (i >= 0) {
      log(rest.slice(0, i));
      rest = rest.slice(i + 1);
      i = rest.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (rest.length > 0) log(rest);
  });
}

/**
 * Builds the Maven projects of `systems` (`mvn -q package`; the first build
 * downloads Flink / Kafka Streams from Maven Central into ~/.m2). Cached: a
 * module is skipped when its jar and classpath are newer than its sources
 * and `common/`.
 */
export async function buildPeers(
  systems: readonly PeerSystem[],
  log: (line: string) => void = () => {},
): Promise<void> {
  const stale = systems.filter((s) => {
    if (!SYSTEMS.includes(s)) throw new Error(`unknown peer system "${s}"; use one of ${SYSTEMS.join(', ')}`);
    return builtAt(s) <= sourcesAt(s);
  });
  if (stale.length === 0) return;
  const modules = [...new Set(stale.map((s) => MODULE[s]))];
  log(`peers: building ${modules.join(', ')} with Maven`);
  const t0 = performance.now();
  const { code, stdout } = await run(
    'mvn',
    [
      '-q',
      '-B',
      '-Dstyle.color=never',
      '-f',
      join(PEERS_DIR, 'pom.xml'),
      '-pl',
      modules.join(','),
      '-am',
      'package',
    ],
    log,
    'mvn not found; install Maven 3.8+ (and a Java 17 JDK) to build the Flink and Kafka Streams peers',
  );
  for (const l of stdout.split('\n')) if (visible(l)) log(l);
  if (code !== 0) throw new Error(`peers: mvn package failed (exit ${code}); see the Maven output above`);
  for (const s of stale) writeFileSync(join(moduleDir(s), 'target', STAMP), `${new Date().toISOString()}\n`);
  log(`peers: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * The peers' maximum heap: 2 GB, or `EDDY_PEER_HEAP` (e.g. `8g`) for queries whose reference
 * semantics keep unbounded state on the heap (Flink SQL's regular joins of q3, q4, q7: at 13.5M
 * events a 2 GB heap spends its time collecting, not working).
 */
const PEER_HEAP = /^\d+[gm]$/.test(process.env.EDDY_PEER_HEAP ?? '') ? process.env.EDDY_PEER_HEAP! : '2g';

/** JVM flags: heap, and the module openings Flink's serializers need on Java 17. */
const JVM_FLAGS = [
  '-Xms1g',
  `-Xmx${PEER_HEAP}`,
  '-XX:+UseG1GC',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens=java.base/java.io=ALL-UNNAMED',
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED',
  '--add-opens=java.base/java.time=ALL-UNNAMED',
  '--add-opens=java.base/java.net=ALL-UNNAMED',
  '--add-opens=java.base/java.text=ALL-UNNAMED',
  '--add-opens=java.sql/java.sql=ALL-UNNAMED',
];

/**
 * Spark's own JVM options on Java 17 (`JavaModuleOptions` of spark-launcher 4.2, which
 * `spark-submit` adds), beyond `JVM_FLAGS`: further module openings for its off-heap memory,
 * Kryo and Hadoop, and Netty's reflection.
 */
const SPARK_JVM_FLAGS = [
  '-XX:+IgnoreUnrecognizedVMOptions',
  '--add-modules=jdk.incubator.vector',
  '--add-opens=java.base/java.lang.invoke=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.cs=ALL-UNNAMED',
  '--add-opens=java.base/sun.security.action=ALL-UNNAMED',
  '--add-opens=java.base/sun.util.calendar=ALL-UNNAMED',
  '--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED',
  '-Dio.netty.tryReflectionSetAccessible=true',
];

/** The java command line of a run (for README and manual runs). */
export function peerCommand(options: PeerRunOptions): string[] {
  const main = peerMainArgs(options);
  const dir = moduleDir(options.system);
  const cpFile = join(dir, 'target', 'classpath.txt');
  if (!existsSync(cpFile)) {
    throw new Error(`peers: ${options.system} is not built (no ${cpFile}); call buildPeers first`);
  }
  const cp = [
    join(dir, 'target', `peers-${MODULE[options.system]}-0.jar`),
    readFileSync(cpFile, 'utf8').trim(),
  ];
  return [
    ...JVM_FLAGS,
    ...(MODULE[options.system] === 'spark' ? SPARK_JVM_FLAGS : []),
    '-cp',
    cp.join(':'),
    ...main,
  ];
}

/**
 * The main class of a run and its arguments: `peerCommand` without the JVM's flags and classpath
 * (needs no build). Throws for a Kafka-only system (`spark-rt`) without `kafka` topics.
 */
export function peerMainArgs(options: PeerRunOptions): string[] {
  const kafkaOnly = KAFKA_ONLY[options.system];
  if (kafkaOnly !== undefined && options.kafka === undefined)
    throw new Error(
      `peers: ${options.system} runs in Kafka mode only (${kafkaOnly}): give it kafka topics (the fair harness and verify.ts: --transport kafka)`,
    );
  const args = [
    MAIN_CLASS[options.system],
    '--query',
    options.query,
    '--events-file',
    options.eventsFile,
    '--events',
    String(options.events),
    '--parallelism',
    String(options.parallelism),
    ...(SYSTEM_ARGS[options.system] ?? []),
  ];
  if (options.rate !== undefined) args.push('--rate', String(options.rate));
  if (options.system === 'kafka-streams') {
    args.push('--brokers', brokersOf(options));
    const pid = localBrokerPid(brokersOf(options));
    if (pid !== undefined) args.push('--broker-pid', String(pid));
    if (options.kafka !== undefined)
      args.push('--input-topic', options.kafka.inputTopic, '--output-topic', options.kafka.outputTopic);
  } else if (options.kafka !== undefined) {
    args.push(
      '--kafka-brokers',
      brokersOf(options),
      '--input-topic',
      options.kafka.inputTopic,
      '--output-topic',
      options.kafka.outputTopic,
    );
  }
  args.push(...(options.args ?? []));
  return args;
}

/**
 * The command that prints the queries a built peer's main implements (`--list`), to check them
 * against `peerQueries`.
 */
export function peerListCommand(system: PeerSystem): string[] {
  const dir = moduleDir(system);
  const cpFile = join(dir, 'target', 'classpath.txt');
  if (!existsSync(cpFile))
    throw new Error(`peers: ${system} is not built (no ${cpFile}); call buildPeers first`);
  const cp = [join(dir, 'target', `peers-${MODULE[system]}-0.jar`), readFileSync(cpFile, 'utf8').trim()];
  return ['java', '-cp', cp.join(':'), MAIN_CLASS[system], '--list', ...(SYSTEM_ARGS[system] ?? [])];
}

/**
 * The command that runs another main class of a built peer module (`buildPeers` first) with the
 * peers' JVM flags, e.g. Kafka Streams' exactly-once count of the Kafka bench:
 * `peerJava('kafka-streams', 'dev.eddy.peers.kstreams.KsEosCount', ['--brokers', …])`.
 */
export function peerJava(system: PeerSystem, mainClass: string, args: readonly string[]): string[] {
  const dir = moduleDir(system);
  const cpFile = join(dir, 'target', 'classpath.txt');
  if (!existsSync(cpFile))
    throw new Error(`peers: ${system} is not built (no ${cpFile}); call buildPeers first`);
  const cp = [join(dir, 'target', `peers-${MODULE[system]}-0.jar`), readFileSync(cpFile, 'utf8').trim()];
  return ['java', ...JVM_FLAGS, '-cp', cp.join(':'), mainClass, ...args];
}

function brokersOf(options: PeerRunOptions): string {
  return options.brokers ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
}

/** The pid of the broker `npm run kafka:up` started for `brokers`, when it is that one. */
function localBrokerPid(brokers: string): number | undefined {
  const m = /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(brokers.trim());
  if (m === null) return undefined;
  const home = process.env.KAFKA_HOME_DIR ?? join(PEERS_DIR, '..', '..', '.kafka');
  const file = join(home, `broker-${m[1]}`, 'kafka.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isSafeInteger(pid) && existsSync(`/proc/${pid}`) ? pid : undefined;
}

/** Resolves once one of `brokers` (host:port,…) accepts a TCP connection; rejects with what to do if none does. */
async function reachable(brokers: string): Promise<void> {
  const tryOne = (hostPort: string) =>
    new Promise<boolean>((resolve) => {
      const i = hostPort.lastIndexOf(':');
      const socket = connect({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) });
      socket.setTimeout(3000);
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.once('timeout', () => done(false));
    });
  for (const b of brokers.split(',')) if (await tryOne(b.trim())) return;
  throw new Error(`Kafka broker not reachable at ${brokers}; run npm run kafka:up (or set KAFKA_BROKERS)`);
}

function check(options: PeerRunOptions): void {
  if (!SYSTEMS.includes(options.system)) {
    throw new Error(`unknown peer system "${options.system}"; use one of ${SYSTEMS.join(', ')}`);
  }
  if (!peerQueries(options.system).includes(options.query)) {
    throw new Error(
      `${options.system} has no query "${options.query}"; it has ${peerQueries(options.system).join(', ')}`,
    );
  }
  if (!Number.isSafeInteger(options.events) || options.events <= 0) {
    throw new Error(`events must be a positive whole number; received ${options.events}`);
  }
  if (!Number.isSafeInteger(options.parallelism) || options.parallelism <= 0) {
    throw new Error(`parallelism must be a positive whole number; received ${options.parallelism}`);
  }
  if (options.rate !== undefined && !(options.rate > 0 && Number.isFinite(options.rate))) {
    throw new Error(`rate must be a positive number of events/s (or omitted); received ${options.rate}`);
  }
  if (!existsSync(options.eventsFile)) {
    throw new Error(`events file ${options.eventsFile} does not exist; write it with exportEvents`);
  }
}

/**
 * Runs one query on one peer in a fresh JVM and returns its measurements.
 * The JVM's stderr goes to `log` line by line; its last stdout line is the
 * result. Past `timeoutMs` (default 30 min) the JVM gets SIGTERM (Kafka
 * Streams then deletes its topics), and SIGKILL 15 s later.
 */
export async function runPeer(options: PeerRunOptions): Promise<PeerResult> {
  check(options);
  const log = options.log ?? (() => {});
  if (options.system === 'kafka-streams' || options.kafka !== undefined) await reachable(brokersOf(options));
  const args = peerCommand(options);
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  return new Promise<PeerResult>((resolve, reject) => {
    const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    lines(child.stderr, log);
    let kill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      log(`peers: ${options.system} ${options.query} timed out after ${timeoutMs} ms; stopping the JVM`);
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    }, timeoutMs);
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new Error('java not found; install a Java 17+ runtime', { cause: e }) : e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (kill !== undefined) clearTimeout(kill);
      const what = `${options.system} ${options.query}`;
      if (timedOut) return reject(new Error(`peers: ${what} timed out after ${timeoutMs} ms`));
      if (code !== 0) {
        return reject(
          new Error(`peers: ${what} failed (${signal ?? `exit ${code}`}); its log (stderr) says why`),
        );
      }
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(parseResult(last, options.system));
      } catch (e) {
        reject(
          new Error(`peers: ${what} printed no result line; received "${last.slice(0, 200)}"`, { cause: e }),
        );
      }
    });
  });
}

const RESULT_FIELDS = new Set([
  'system',
  'query',
  'events',
  'outputs',
  'elapsedMs',
  'eventsPerSec',
  'cpuMs',
  'peakRssMb',
  'latencyMs',
  'samples',
]);

function parseResult(line: string, system: PeerSystem): PeerResult {
  const r = JSON.parse(line) as PeerResult & Record<string, unknown>;
  if (r.system !== system || typeof r.outputs !== 'number' || !Array.isArray(r.samples)) {
    throw new Error('not a peer result');
  }
  const details: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(r)) {
    if (!RESULT_FIELDS.has(k) && (typeof v === 'number' || typeof v === 'string')) details[k] = v;
  }
  const latency = r.latencyMs as (PeerResult['latencyMs'] & { max?: number; count?: number }) | null;
  if (latency !== null && latency.max !== undefined) details.latencyMaxMs = latency.max;
  if (latency !== null && latency.count !== undefined) details.latencyCount = latency.count;
  return {
    system: r.system,
    query: r.query,
    events: r.events,
    outputs: r.outputs,
    elapsedMs: r.elapsedMs,
    eventsPerSec: r.eventsPerSec,
    cpuMs: r.cpuMs,
    peakRssMb: r.peakRssMb,
    latencyMs: latency === null ? null : { p50: latency.p50, p99: latency.p99, p999: latency.p999 },
    samples: r.samples,
    details,
  };
}

/** The default parallelism of a manual run: the machine's cores. */
export const DEFAULT_PARALLELISM = availableParallelism();
