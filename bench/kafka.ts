/**
 * The Kafka benchmark: consume → keyBy → rolling count per key → produce,
 * exactly-once (`kafkaApp`: every commit interval one Kafka transaction with
 * the output, the changelog and the consumed offsets), against the bare
 * @platformatic/kafka client doing the same work by hand (consume, count per
 * key, produce each result with an idempotent producer), on the same broker
 * in the same run; then eddy at a fixed offered rate, for end-to-end latency.
 *
 * 1. An input topic is pre-filled with `--events` keyed JSON events,
 *    partitioned by `kafkaPartition(key)` as a Kafka application needs.
 * 2. Client and eddy rounds alternate (each a fresh child process, a fresh
 *    consumer group and output topic); each is timed from its start until
 *    all results are out: for the client, until the producer has acked the
 *    last one; for eddy, until the commit whose consumed offsets reach the
 *    end of the input (its results are then visible to read_committed
 *    consumers). eddy's output is then read back (read_committed) and
 *    checked: per key exactly the counts 1..c, each once.
 * 3. A paced producer offers events at `--rate-fraction` of eddy's measured
 *    maximum to a running eddy application, warmed up first on a pre-filled
 *    backlog (see latencyRun); a read_committed consumer in the
 *    producer's process records, per output, the time since its event was
 *    scheduled to be created (in the event) into an HDR histogram. Outputs
 *    become visible only at commits, so `commitIntervalMs` bounds latency
 *    from below.
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"kafka","eddyEventsPerSec":…,"clientEventsPerSec":…,"ratio":…,"p50Ms":…,"p99Ms":…,"commitIntervalMs":…,"events":…,"prewarmSecs":…}
 * Flags: see KAFKA_BENCH_USAGE in bench/kafka-plan.ts (`--help`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
} from '@platformatic/kafka';
import { readToEnd } from '../src/connectors/kafka/read-to-end.ts';
import { kafkaApp, kafkaPartition } from '../src/deploy/kafka/index.ts';
import { Pipeline } from '../src/index.ts';
import type { CheckpointInfo } from '../src/runtime/checkpoints.ts';
import {
  type CommitSample,
  checkCounts,
  dueCount,
  eventKey,
  expectedCounts,
  KAFKA_BENCH_USAGE,
  type KafkaBenchOptions,
  median,
  parseKafkaBenchArgs,
  scheduledMs,
  steadyRate,
} from './kafka-plan.ts';
import { KEPT_TOPIC_CONFIGS } from './kept-topics.ts';
import { initHistograms, newHistogram, percentiles } from './nexmark/harness/latency.ts';
import { buildPeers, peerJava } from './peers/index.ts';

/** Kafka Streams' side of the bench (bench/peers/kafka-streams, exactly-once v2). */
const KS_MAIN = 'dev.eddy.peers.kstreams.KsEosCount';

const SELF = new URL(import.meta.url).pathname;
/** eddy's default batch size: the client sends batches of the same size. */
const BATCH = 1024;
/** eddy's default linger: the client flushes a partly filled batch after as long. */
const LINGER_MS = 5;
/** Sends the client keeps in flight before it pauses its consumer. */
const WINDOW = 4;

/** An input event: `t` is when it was (scheduled to be) created, in the producer's performance.now(). */
interface BenchEvent {
  readonly key: string;
  readonly seq: number;
  readonly t: number;
}

/** An output: the key's count so far, and the `t` of the event that made it. */
interface BenchOutput {
  readonly key: string;
  readonly n: number;
  readonly t: number;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ─── child processes ────────────────────────────────────────────────────────

interface ClientParams {
  readonly brokers: string[];
  readonly input: string;
  readonly output: string;
  readonly group: string;
  readonly events: number;
  readonly timeoutMs: number;
}

interface EddyParams {
  readonly brokers: string[];
  readonly input: string;
  readonly output: string;
  readonly appId: string;
  readonly events: number;
  readonly partitions: number;
  readonly commitIntervalMs: number;
  readonly timeoutMs: number;
}

interface RoundResult {
  /** From the start of the round's work (client or app created) to the last result out. */
  readonly secs: number;
  /** From the start to the first record received. */
  readonly firstMs: number;
  readonly checkpoints?: number;
  readonly meanCheckpointMs?: number;
  readonly restarts?: number;
}

/** The bare client: consume, count per key, produce each result; batches of eddy's size, a few sends in flight. */
async function clientChild(p: ClientParams): Promise<RoundResult> {
  const t0 = performance.now();
  const base = { clientId: `${p.group}-client`, bootstrapBrokers: p.brokers };
  const consumer = new Consumer({
    ...base,
    groupId: p.group,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  const producer = new Producer({
    ...base,
    idempotent: true,
    acks: ProduceAcks.ALL,
    autocreateTopics: false,
  });
  const counts = new Map<string, number>();
  let first = 0;
  try {
    const stream = await consumer.consume({
      topics: [p.input],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`client round: not done within ${p.timeoutMs} ms`)),
        p.timeoutMs,
      );
      let batch: { topic: string; partition: number; key: Buffer; value: Buffer }[] = [];
      let linger: NodeJS.Timeout | undefined;
      let inFlight = 0;
      let acked = 0;
      const flush = () => {
        clearTimeout(linger);
        linger = undefined;
        if (batch.length === 0) return;
        const messages = batch;
        batch = [];
        if (++inFlight >= WINDOW) stream.pause();
        producer.send({ messages }).then(() => {
          inFlight--;
          acked += messages.length;
          if (acked >= p.events) {
            clearTimeout(timer);
            resolve();
          } else if (inFlight < WINDOW && stream.isPaused()) stream.resume();
        }, reject);
      };
      stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
        if (first === 0) first = performance.now();
        const e = JSON.parse(m.value.toString('utf8')) as BenchEvent;
        const n = (counts.get(e.key) ?? 0) + 1;
        counts.set(e.key, n);
        batch.push({
          topic: p.output,
          partition: m.partition,
          key: m.key,
          value: Buffer.from(JSON.stringify({ key: e.key, n, t: e.t })),
        });
        if (batch.length >= BATCH) flush();
        else linger ??= setTimeout(flush, LINGER_MS);
      });
      stream.on('error', reject);
    });
    const end = performance.now();
    await stream.close();
    return { secs: (end - t0) / 1000, firstMs: first - t0 };
  } finally {
    await consumer.close(true).catch(() => {});
    await producer.close().catch(() => {});
  }
}

/** The eddy pipeline of both eddy runs; `onOutput` sees every result before the sink. */
function benchPipeline(
  app: ReturnType<typeof kafkaApp>,
  input: string,
  output: string,
  onOutput: () => void,
): Pipeline {
  const p = new Pipeline({ name: 'bench-kafka' });
  p.source('events', app.source<BenchEvent>({ topics: [input] }))
    .keyBy((e) => e.key)
    .aggregate({
      create: () => ({ n: 0, t: 0 }),
      add: (acc, e: BenchEvent) => ({ n: acc.n + 1, t: e.t }),
      result: (acc) => acc,
    })
    .map(({ key, value }): BenchOutput => {
      onOutput();
      return { key, n: value.n, t: value.t };
    })
    .sink(app.sink<BenchOutput>({ topic: output, key: (o) => o.key }));
  return p;
}

/** The sum of the group's committed offsets over the input's partitions. */
async function committedTotal(
  admin: Admin,
  group: string,
  topic: string,
  partitions: number,
): Promise<bigint> {
  const groups = await admin.listConsumerGroupOffsets({
    groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: [...Array(partitions).keys()] }] }],
  });
  let sum = 0n;
  for (const t of groups[0]?.topics ?? [])
    for (const q of t.partitions) if (q.committedOffset > 0n) sum += q.committedOffset;
  return sum;
}

/** eddy at its maximum rate over the pre-filled input: done at the commit that covers the input's end. */
async function eddyChild(p: EddyParams): Promise<RoundResult> {
  const t0 = performance.now();
  const app = kafkaApp({
    applicationId: p.appId,
    brokers: p.brokers,
    commitIntervalMs: p.commitIntervalMs,
    instanceId: 'bench',
  });
  const admin = new Admin({ clientId: `${p.appId}-bench`, bootstrapBrokers: p.brokers });
  const stop = new AbortController();
  let processed = 0;
  let first = 0;
  let end = 0;
  let checking = false;
  let restarts = 0;
  let failure: unknown;
  const checkpoints: CheckpointInfo[] = [];
  const timer = setTimeout(() => {
    failure = new Error(
      `eddy round: not done within ${p.timeoutMs} ms (${processed} of ${p.events} processed)`,
    );
    stop.abort();
  }, p.timeoutMs);
  try {
    await app.run(
      () =>
        benchPipeline(app, p.input, p.output, () => {
          if (processed++ === 0) first = performance.now();
        }),
      {
        signal: stop.signal,
        onRestart: (why) => {
          restarts++;
          log(`  eddy: back to the last commit (${why})`);
        },
        onCheckpoint: (info) => {
          checkpoints.push(info);
          if (info.error !== undefined) log(`  eddy: commit failed: ${String(info.error)}`);
          else if (processed >= p.events && !checking && end === 0) {
            // This commit may be the one whose offsets reach the input's end.
            const at = performance.now();
            checking = true;
            committedTotal(admin, p.appId, p.input, p.partitions).then(
              (sum) => {
                checking = false;
                if (sum >= BigInt(p.events)) {
                  end = at;
                  stop.abort();
                }
              },
              (e: unknown) => {
                failure = e;
                stop.abort();
              },
            );
          }
        },
      },
    );
  } finally {
    clearTimeout(timer);
    await admin.close().catch(() => {});
  }
  if (failure !== undefined) throw failure;
  const ok = checkpoints.filter((c) => c.error === undefined);
  return {
    secs: (end - t0) / 1000,
    firstMs: first - t0,
    checkpoints: ok.length,
    meanCheckpointMs: ok.reduce((s, c) => s + c.durationMs, 0) / Math.max(1, ok.length),
    restarts,
  };
}

/** eddy for the latency run: says "ready" after its first commit and runs until SIGTERM. */
async function latencyAppChild(p: EddyParams): Promise<RoundResult> {
  const t0 = performance.now();
  const app = kafkaApp({
    applicationId: p.appId,
    brokers: p.brokers,
    commitIntervalMs: p.commitIntervalMs,
    instanceId: 'bench',
  });
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort());
  const timer = setTimeout(() => stop.abort(), p.timeoutMs);
  const checkpoints: CheckpointInfo[] = [];
  let restarts = 0;
  let first = 0;
  await app.run(
    () =>
      benchPipeline(app, p.input, p.output, () => {
        if (first === 0) first = performance.now();
      }),
    {
      signal: stop.signal,
      onRestart: (why) => {
        restarts++;
        log(`  eddy: back to the last commit (${why})`);
      },
      onCheckpoint: (info) => {
        if (checkpoints.length === 0) process.stdout.write('ready\n');
        checkpoints.push(info);
        if (info.error !== undefined) log(`  eddy: commit failed: ${String(info.error)}`);
      },
    },
  );
  clearTimeout(timer);
  const ok = checkpoints.filter((c) => c.error === undefined);
  return {
    secs: (performance.now() - t0) / 1000,
    firstMs: first - t0,
    checkpoints: ok.length,
    meanCheckpointMs: ok.reduce((s, c) => s + c.durationMs, 0) / Math.max(1, ok.length),
    restarts,
  };
}

interface Child {
  readonly process: ChildProcess;
  /** The last stdout line, parsed, once the child exits with 0. */
  readonly result: Promise<RoundResult>;
  /** Resolves when the child writes "ready". */
  readonly ready: Promise<void>;
}

function startChild(kind: string, params: object, timeoutMs: number, profileDir?: string): Child {
  const execArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const child = startProcess(
    kind,
    [process.execPath, ...execArgs, SELF, '--child', kind, JSON.stringify(params)],
    timeoutMs,
  );
  if (profileDir !== undefined)
    log(`  (${kind} process ${child.process.pid}: CPU profile into ${profileDir})`);
  return child;
}

/** Kafka Streams' count (KsEosCount) as a child: "ready" once it runs, stopped with SIGTERM. */
function startKafkaStreams(p: EddyParams, stateDir: string): Child {
  const args = ['--brokers', p.brokers.join(','), '--input', p.input, '--output', p.output];
  args.push('--app-id', p.appId, '--commit-interval-ms', String(p.commitIntervalMs), '--state-dir', stateDir);
  return startProcess('kafka-streams', peerJava('kafka-streams', KS_MAIN, args), p.timeoutMs + 30_000);
}

/**
 * Stops a child with SIGTERM: eddy's latency app says how its commits went; a JVM that a signal
 * stops exits with 143 and says nothing, so for Kafka Streams only the exit is waited for.
 */
async function stopped(child: Child, system: 'eddy' | 'kafka-streams'): Promise<RoundResult> {
  const exited = new Promise<void>((resolve) => {
    if (child.process.exitCode !== null || child.process.signalCode !== null) resolve();
    else child.process.once('exit', () => resolve());
  });
  child.process.kill('SIGTERM');
  if (system === 'eddy') return child.result;
  await withTimeout(exited, 60_000, 'Kafka Streams stopping');
  return { secs: 0, firstMs: 0 };
}

/**
 * Samples the group's committed offsets every 50 ms until they cover `events`
 * (or `stop`): the same measure for every system (`steadyRate`).
 */
function sampleCommits(
  admin: Admin,
  group: string,
  input: string,
  partitions: number,
  events: number,
): { samples: CommitSample[]; done: Promise<void>; stop: () => void } {
  const samples: CommitSample[] = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const t = performance.now();
      const committed = Number(await committedTotal(admin, group, input, partitions).catch(() => 0n));
      samples.push({ t, committed });
      if (committed >= events) return;
      await sleep(50);
    }
  })();
  done.catch(() => {});
  return {
    samples,
    done,
    stop: () => {
      stop = true;
    },
  };
}

/** A child process whose stdout says "ready" and ends with its result as a JSON line. */
function startProcess(kind: string, command: readonly string[], timeoutMs: number): Child {
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    out += s;
    if (/^ready$/m.test(out)) onReady();
  });
  const result = new Promise<RoundResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} process did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last) as RoundResult);
      else reject(new Error(`${kind} process failed (exit ${code ?? signal}); its stderr is above`));
    });
  });
  result.catch(() => {});
  return { process: child, result, ready };
}

// ─── the parent ─────────────────────────────────────────────────────────────

function reachable(broker: string, timeoutMs: number): Promise<boolean> {
  const [host, port] = broker.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port), host, () => done(true));
  });
}

/** Produces events [from, to) of the schedule; `t` = when each was due. */
function eventMessages(
  topic: string,
  from: number,
  to: number,
  keys: number,
  partitions: number,
  t: (i: number) => number,
) {
  const messages = [];
  for (let i = from; i < to; i++) {
    const key = eventKey(i, keys);
    const e: BenchEvent = { key, seq: i, t: t(i) };
    messages.push({
      topic,
      partition: kafkaPartition(key, partitions),
      key: Buffer.from(key),
      value: Buffer.from(JSON.stringify(e)),
    });
  }
  return messages;
}

/** Pre-fills `topic` with events [0, count) of the schedule, event i with `t` = `t(i)`. */
async function prefill(
  producer: Producer,
  o: KafkaBenchOptions,
  topic: string,
  count: number,
  t: (i: number) => number,
): Promise<number> {
  const t0 = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i += 1000) {
    const messages = eventMessages(topic, i, Math.min(count, i + 1000), o.keys, o.partitions, t);
    const sent: Promise<unknown> = producer.send({ messages }).finally(() => inFlight.delete(sent));
    inFlight.add(sent);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return (performance.now() - t0) / 1000;
}

/** Every record of `topic` as a read_committed consumer sees it, to the end. */
async function readCommitted(brokers: string[], topic: string, group: string): Promise<BenchOutput[]> {
  const out: BenchOutput[] = [];
  await readToEnd({
    bootstrapBrokers: brokers,
    topic,
    clientId: `${group}-check`,
    timeoutMs: 120_000,
    onMessage: (m) => out.push(JSON.parse(m.value.toString('utf8')) as BenchOutput),
  });
  return out;
}

interface LatencyResult {
  readonly rate: number;
  readonly offered: number;
  readonly recorded: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** p99 and maximum of the recorded window's first and second half (by scheduled time): a start-up tail shows in the first only. */
  readonly halves: readonly { readonly p99: number; readonly max: number }[];
  readonly achievedRate: number;
  /** Outputs not yet read when the producer had sent the last event, and how long they took to arrive. */
  readonly behind: number;
  readonly drainMs: number;
  readonly checkpoints: number;
  readonly meanCheckpointMs: number;
}

/**
 * A system at a fixed offered rate: per-output latency from its event's scheduled creation to
 * read_committed arrival.
 *
 * Warm-up, the same rule for eddy and Kafka Streams:
 * 1. The input is pre-filled with `--prewarm-secs` worth of events at the offered rate (their `t`
 *    is negative, and the reader skips their outputs). The system starts on that backlog; the paced
 *    producer starts only once the group's committed offsets cover the backlog and the reader has
 *    read all its outputs. So the system's start-up (the group join, the first transactions, and
 *    its runtime's warm-up: V8's optimising tiers for eddy, the JVM's JIT compilers for Kafka
 *    Streams) falls before the paced run, as the 10 % rule keeps it out of the steady rate. Without
 *    it (`--prewarm-secs 0`) a Kafka Streams JVM that has just said RUNNING compiles its hot code
 *    while the paced events arrive, falls seconds behind, and at higher rates catches up only after
 *    the unrecorded seconds of point 2 (BENCHMARKS.md): a start-up cost, not its steady latency.
 * 2. Outputs of events scheduled in the paced run's first `--warmup-secs` are not recorded.
 */
async function latencyRun(
  o: KafkaBenchOptions,
  run: string,
  admin: Admin,
  rate: number,
  topics: Set<string>,
  system: 'eddy' | 'kafka-streams' = 'eddy',
): Promise<LatencyResult> {
  const tag = system === 'eddy' ? 'lat' : 'lat-ks';
  const input = `${run}-${tag}-in`;
  const output = `${run}-${tag}-out`;
  const appId = `${run}-${tag}-app`;
  await admin.createTopics({
    topics: [input, output],
    partitions: o.partitions,
    replicas: 1,
    configs: KEPT_TOPIC_CONFIGS,
  });
  topics.add(input).add(output).add(`${appId}-changelog`).add(`${appId}-counts-changelog`);
  const total = Math.round(rate * o.latencySecs);
  const params: EddyParams = {
    brokers: o.brokers,
    input,
    output,
    appId,
    events: total,
    partitions: o.partitions,
    commitIntervalMs: o.commitIntervalMs,
    timeoutMs: (o.latencySecs + 240) * 1000,
  };
  const producer = new Producer({
    clientId: `${run}-lat-producer`,
    bootstrapBrokers: o.brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    autocreateTopics: false,
  });
  const warm = Math.round(rate * o.prewarmSecs);
  if (warm > 0) {
    // Times like the paced events' (fractional ms), only negative: the same parsing and printing
    // of numbers to warm up (a JIT that saw only -1 would meet new cases when the paced run starts).
    const base = performance.now();
    try {
      await withTimeout(
        prefill(producer, o, input, warm, (i) => -(base + scheduledMs(i, rate))),
        60_000 + warm,
        'pre-filling the pre-warm backlog',
      );
    } catch (e) {
      await producer.close().catch(() => {});
      throw e;
    }
  }
  const stateDir = `/tmp/${appId}`;
  const child =
    system === 'eddy'
      ? startChild('latency-app', params, params.timeoutMs + 30_000, o.profileDir)
      : startKafkaStreams(params, stateDir);
  const consumer = new Consumer({
    clientId: `${run}-${tag}-reader`,
    bootstrapBrokers: o.brokers,
    groupId: `${run}-${tag}-reader`,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 50,
  });
  try {
    await Promise.race([
      withTimeout(child.ready, 120_000, `the latency run: ${system} did not get ready`),
      child.result.then(() => {
        throw new Error(`the latency run: ${system} stopped before it was ready`);
      }),
    ]);
    const readyAt = performance.now();
    const stream = await consumer.consume({
      topics: [output],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    await initHistograms();
    const histogram = newHistogram();
    const halves = [newHistogram(), newHistogram()] as const;
    let received = 0;
    let warmReceived = 0;
    let t0 = Number.POSITIVE_INFINITY;
    const warmupMs = o.warmupSecs * 1000;
    const halfMs = (warmupMs + o.latencySecs * 1000) / 2;
    // --latency-trace: per output, its event's scheduled time and its arrival, in ms after t0.
    const trace = o.latencyTrace === undefined ? undefined : new Float64Array(2 * total);
    const allIn = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
        const now = performance.now();
        const out = JSON.parse(m.value.toString('utf8')) as BenchOutput;
        if (out.t < 0) {
          warmReceived++;
          return;
        }
        if (out.t - t0 >= warmupMs) {
          const us = Math.max(1, Math.round((now - out.t) * 1000));
          histogram.recordValue(us);
          halves[out.t - t0 < halfMs ? 0 : 1].recordValue(us);
        }
        if (trace !== undefined && received < total) {
          trace[2 * received] = out.t - t0;
          trace[2 * received + 1] = now - t0;
        }
        if (++received >= total) resolve();
      });
      stream.on('error', reject);
    });
    allIn.catch(() => {});
    if (warm > 0) {
      let done = false;
      const warmed = (async () => {
        while (!done) {
          const committed = Number(await committedTotal(admin, appId, input, o.partitions).catch(() => 0n));
          if (warmReceived >= warm && committed >= warm) return;
          await sleep(50);
        }
      })();
      await withTimeout(
        Promise.race([
          warmed,
          child.result.then(() => {
            throw new Error(`${system} stopped during the pre-warm backlog`);
          }),
        ]),
        120_000 + warm / 2,
        `the latency run: ${system}'s pre-warm backlog (${fmt(warmReceived)} of ${fmt(warm)} outputs read)`,
      ).finally(() => (done = true));
      log(
        `  latency: ${system} worked through the pre-warm backlog (${fmt(warm)} events) ${((performance.now() - readyAt) / 1000).toFixed(1)} s after it said ready`,
      );
    }
    // The paced producer: every few ms, whatever the schedule says is due (late sends keep their scheduled time).
    t0 = performance.now();
    let sent = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (sent < total) {
      const due = Math.min(dueCount(performance.now() - t0, rate, total), sent + 4 * BATCH);
      if (due > sent) {
        const messages = eventMessages(
          input,
          sent,
          due,
          o.keys,
          o.partitions,
          (i) => t0 + scheduledMs(i, rate),
        );
        sent = due;
        const p: Promise<unknown> = producer.send({ messages }).finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      }
      await sleep(2);
    }
    await Promise.all(inFlight);
    const producedAt = performance.now();
    const producedSecs = (producedAt - t0) / 1000;
    const behind = total - received;
    await withTimeout(
      Promise.race([
        allIn,
        child.result.then(() => {
          throw new Error(`${system} stopped early`);
        }),
      ]),
      120_000,
      `the latency run: ${received} of ${total} outputs arrived`,
    );
    const drainMs = performance.now() - producedAt;
    if (trace !== undefined) {
      const lines = [
        `# ${system}: t0 ${new Date(performance.timeOrigin + t0).toISOString()}; ready at ${(readyAt - t0).toFixed(1)} ms`,
        'scheduled_ms,arrived_ms',
      ];
      for (let i = 0; i < received; i++)
        lines.push(`${trace[2 * i]!.toFixed(1)},${trace[2 * i + 1]!.toFixed(1)}`);
      writeFileSync(`${o.latencyTrace}-${system}.csv`, `${lines.join('\n')}\n`);
    }
    await stream.close();
    const app = await stopped(child, system);
    const pc = percentiles(histogram);
    return {
      rate,
      offered: total,
      recorded: pc.count,
      p50: pc.p50,
      p99: pc.p99,
      p999: pc.p999,
      max: pc.max,
      halves: halves.map((h) => {
        const x = percentiles(h);
        return { p99: x.p99, max: x.max };
      }),
      achievedRate: total / producedSecs,
      behind,
      drainMs,
      checkpoints: app.checkpoints ?? 0,
      meanCheckpointMs: app.meanCheckpointMs ?? 0,
    };
  } finally {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    await consumer.close(true).catch(() => {});
    await producer.close().catch(() => {});
    if (system === 'kafka-streams') rmSync(stateDir, { recursive: true, force: true });
  }
}

/** The recorded window's halves, for the log: whether the tail is in the first only (start-up) or in both. */
function halvesText(lat: LatencyResult): string {
  const [a, b] = lat.halves;
  return `p99 / max ${a?.p99} / ${a?.max} ms in its first half, ${b?.p99} / ${b?.max} ms in its second`;
}

/** Deletes the run's topics and every consumer group named after it. */
async function cleanUp(admin: Admin, run: string, topics: ReadonlySet<string>): Promise<void> {
  try {
    const existing = new Set(await withTimeout(admin.listTopics(), 15_000, 'listing topics'));
    const ours = [...topics].filter((t) => existing.has(t));
    if (ours.length > 0) await withTimeout(admin.deleteTopics({ topics: ours }), 30_000, 'deleting topics');
    const groups = [...(await withTimeout(admin.listGroups(), 15_000, 'listing groups')).keys()].filter((g) =>
      g.startsWith(run),
    );
    // One at a time: a group whose member is still leaving (Kafka Streams' after SIGTERM) refuses
    // deletion, and one refusal must not keep the others.
    let left = 0;
    for (const group of groups)
      await withTimeout(admin.deleteGroups({ groups: [group] }), 30_000, 'deleting a group').catch(
        () => left++,
      );
    log(
      `kafka: removed ${ours.length} topics and ${groups.length - left} consumer groups of ${run}${left > 0 ? ` (${left} still had members)` : ''}`,
    );
  } catch (e) {
    log(
      `kafka: cleaning up ${run} failed (${e instanceof Error ? e.message : String(e)}); its topics start with "${run}"`,
    );
  }
}

export async function main(args: string[]): Promise<void> {
  if (args.includes('--help')) {
    log(KAFKA_BENCH_USAGE);
    return;
  }
  const o = parseKafkaBenchArgs(args, process.env);
  const brokerList = o.brokers.join(',');
  if (!(await reachable(o.brokers[0]!, 3000))) {
    log(
      `kafka: no Kafka broker answers at ${brokerList}. Start one with "npm run kafka:up", or point KAFKA_BROKERS (or --brokers) at a cluster.`,
    );
    process.exitCode = 1;
    return;
  }
  if (o.profileDir !== undefined) mkdirSync(o.profileDir, { recursive: true });
  const run = `eddy-bench-kafka-${randomUUID().slice(0, 8)}`;
  const admin = new Admin({ clientId: `${run}-admin`, bootstrapBrokers: o.brokers, retries: 3 });
  const topics = new Set<string>();
  try {
    await withTimeout(admin.metadata({ topics: [] }), 15_000, `the broker at ${brokerList} (metadata)`);
    log(
      `kafka: ${fmt(o.events)} events, ${fmt(o.keys)} keys, ${o.partitions} partitions, commit every ${o.commitIntervalMs} ms; ${o.rounds} alternating client / eddy rounds; then ${o.latencySecs} s at a fixed rate (broker ${brokerList})`,
    );
    const input = `${run}-in`;
    await admin.createTopics({
      topics: [input],
      partitions: o.partitions,
      replicas: 1,
      configs: KEPT_TOPIC_CONFIGS,
    });
    topics.add(input);
    const producer = new Producer({
      clientId: `${run}-prefill`,
      bootstrapBrokers: o.brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      autocreateTopics: false,
    });
    try {
      const secs = await withTimeout(
        prefill(producer, o, input, o.events, () => 0),
        60_000 + o.events,
        'pre-filling the input',
      );
      log(`  pre-filled ${input}: ${fmt(o.events)} events in ${secs.toFixed(1)} s`);
    } finally {
      await producer.close().catch(() => {});
    }
    const expected = expectedCounts(o.events, o.keys);
    const roundTimeoutMs = 120_000 + o.events / 2; // at least 2,000 events/s
    const client: number[] = [];
    const eddy: number[] = [];
    const withKs = o.vs.includes('kafka-streams');
    if (withKs) await buildPeers(['kafka-streams'], log);
    // Steady-state rates from the committed offsets, sampled by this process alike for both.
    const eddySteady: number[] = [];
    const ks: number[] = [];
    const afterFirst = (res: RoundResult) => o.events / (res.secs - res.firstMs / 1000);
    /** A round of an application (eddy's or Kafka Streams') over the pre-filled input. */
    const appParams = (appId: string, output: string): EddyParams => ({
      brokers: o.brokers,
      input,
      output,
      appId,
      events: o.events,
      partitions: o.partitions,
      commitIntervalMs: o.commitIntervalMs,
      timeoutMs: roundTimeoutMs,
    });
    const sides = withKs ? (['client', 'eddy', 'kafka-streams'] as const) : (['client', 'eddy'] as const);
    for (let r = 1; r <= o.rounds; r++) {
      // Rotate which side goes first, so that drift on this shared machine hits every side alike.
      const order = [...sides.slice((r - 1) % sides.length), ...sides.slice(0, (r - 1) % sides.length)];
      for (const side of order) {
        const output = `${run}-out-${side}-${r}`;
        await admin.createTopics({
          topics: [output],
          partitions: o.partitions,
          replicas: 1,
          configs: KEPT_TOPIC_CONFIGS,
        });
        topics.add(output);
        if (side === 'client') {
          const params: ClientParams = {
            brokers: o.brokers,
            input,
            output,
            group: `${run}-client-${r}`,
            events: o.events,
            timeoutMs: roundTimeoutMs,
          };
          const res = await startChild('client', params, roundTimeoutMs + 30_000, o.profileDir).result;
          client.push(o.events / res.secs);
          log(
            `  round ${r} client: ${fmt(o.events / res.secs)} events/s (${res.secs.toFixed(2)} s; first record after ${fmt(res.firstMs)} ms, ${fmt(afterFirst(res))} events/s from there)`,
          );
        } else if (side === 'kafka-streams') {
          const appId = `${run}-ks-${r}`;
          topics.add(`${appId}-counts-changelog`);
          const stateDir = `/tmp/${appId}`;
          const params = appParams(appId, output);
          const t0 = performance.now();
          const child = startKafkaStreams(params, stateDir);
          const sampler = sampleCommits(admin, appId, input, o.partitions, o.events);
          try {
            await withTimeout(
              Promise.race([
                sampler.done,
                child.result.then(() => {
                  throw new Error('Kafka Streams stopped early');
                }),
              ]),
              roundTimeoutMs,
              `round ${r} kafka-streams: ${sampler.samples.at(-1)?.committed ?? 0} of ${o.events} committed`,
            );
          } finally {
            sampler.stop();
            await stopped(child, 'kafka-streams').catch(() => {});
            rmSync(stateDir, { recursive: true, force: true });
          }
          const secs = (sampler.samples.at(-1)!.t - t0) / 1000;
          const steady = steadyRate(sampler.samples, o.events);
          if (steady !== undefined) ks.push(steady);
          const check = checkCounts(expected, await readCommitted(o.brokers, output, `${run}-check-ks-${r}`));
          log(
            `  round ${r} kafka-streams: ${fmt(o.events / secs)} events/s from its start (${secs.toFixed(2)} s, JVM start included); steady ${steady === undefined ? '–' : fmt(steady)} events/s; read_committed output: ${fmt(check.outputs)}, lost ${check.lost}, duplicated ${check.duplicated}, invalid ${check.invalid}`,
          );
          if (check.lost + check.duplicated + check.invalid > 0 || check.outputs !== o.events) {
            throw new Error(
              `Kafka Streams' read_committed output is not exactly one count per event: ${JSON.stringify(check)}`,
            );
          }
        } else {
          const appId = `${run}-app-${r}`;
          topics.add(`${appId}-changelog`);
          const params = appParams(appId, output);
          const sampler = sampleCommits(admin, appId, input, o.partitions, o.events);
          const res = await startChild('eddy', params, roundTimeoutMs + 30_000, o.profileDir).result.finally(
            () => sampler.stop(),
          );
          await sampler.done;
          eddy.push(o.events / res.secs);
          const steady = steadyRate(sampler.samples, o.events);
          if (steady !== undefined) eddySteady.push(steady);
          const check = checkCounts(expected, await readCommitted(o.brokers, output, `${run}-check-${r}`));
          log(
            `  round ${r} eddy:   ${fmt(o.events / res.secs)} events/s (${res.secs.toFixed(2)} s; first record after ${fmt(res.firstMs)} ms, ${fmt(afterFirst(res))} events/s from there; steady ${steady === undefined ? '–' : fmt(steady)} events/s; ${res.checkpoints} commits, mean ${(res.meanCheckpointMs ?? 0).toFixed(1)} ms${res.restarts ? `; ${res.restarts} restarts` : ''}); read_committed output: ${fmt(check.outputs)}, lost ${check.lost}, duplicated ${check.duplicated}, invalid ${check.invalid}`,
          );
          if (check.lost + check.duplicated + check.invalid > 0 || check.outputs !== o.events) {
            throw new Error(
              `eddy's read_committed output is not exactly one count per event: ${JSON.stringify(check)}`,
            );
          }
        }
      }
    }
    const eddyRate = median(eddy);
    const clientRate = median(client);
    const rate = o.rate ?? Math.max(100, Math.round(eddyRate * o.rateFraction));
    log(
      `  latency: ${fmt(rate)} events/s offered for ${o.latencySecs} s (${o.rate === undefined ? `${o.rateFraction} × eddy's maximum` : '--rate'}), after a pre-warm backlog of ${o.prewarmSecs} s' worth; first ${o.warmupSecs} s not recorded`,
    );
    const lat = await latencyRun(o, run, admin, rate, topics);
    log(
      `  latency: p50 ${lat.p50} ms, p99 ${lat.p99} ms, p99.9 ${lat.p999} ms, max ${lat.max} ms over ${fmt(lat.recorded)} outputs (${halvesText(lat)}); offered ${fmt(lat.achievedRate)} events/s; when the last was sent, ${fmt(lat.behind)} outputs were still to come (in ${fmt(lat.drainMs)} ms); ${lat.checkpoints} commits, mean ${lat.meanCheckpointMs.toFixed(1)} ms`,
    );
    let ksLat: LatencyResult | undefined;
    if (withKs) {
      log(`  latency: Kafka Streams at the same ${fmt(rate)} events/s`);
      ksLat = await latencyRun(o, run, admin, rate, topics, 'kafka-streams');
      log(
        `  latency: Kafka Streams p50 ${ksLat.p50} ms, p99 ${ksLat.p99} ms, p99.9 ${ksLat.p999} ms, max ${ksLat.max} ms over ${fmt(ksLat.recorded)} outputs (${halvesText(ksLat)}); offered ${fmt(ksLat.achievedRate)} events/s; ${fmt(ksLat.behind)} outputs still to come when the last was sent (in ${fmt(ksLat.drainMs)} ms)`,
      );
    }
    console.log(
      JSON.stringify({
        bench: 'kafka',
        eddyEventsPerSec: Math.round(eddyRate),
        clientEventsPerSec: Math.round(clientRate),
        ratio: Number((eddyRate / clientRate).toFixed(3)),
        p50Ms: lat.p50,
        p99Ms: lat.p99,
        commitIntervalMs: o.commitIntervalMs,
        events: o.events,
        prewarmSecs: o.prewarmSecs,
        ...(withKs
          ? {
              steady: {
                eddyEventsPerSec: eddySteady.length > 0 ? Math.round(median(eddySteady)) : null,
                kafkaStreamsEventsPerSec: ks.length > 0 ? Math.round(median(ks)) : null,
                ratio:
                  eddySteady.length > 0 && ks.length > 0
                    ? Number((median(eddySteady) / median(ks)).toFixed(3))
                    : null,
              },
              kafkaStreamsP50Ms: ksLat?.p50,
              kafkaStreamsP99Ms: ksLat?.p99,
            }
          : {}),
      }),
    );
  } finally {
    await cleanUp(admin, run, topics);
    await admin.close().catch(() => {});
  }
}

if (process.argv[2] === '--child') {
  const kind = process.argv[3];
  const params = JSON.parse(process.argv[4] ?? '{}') as ClientParams & EddyParams;
  const result =
    kind === 'client'
      ? await clientChild(params)
      : kind === 'eddy'
        ? await eddyChild(params)
        : await latencyAppChild(params);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Client sockets may linger a little; the result is out.
  process.exit(0);
}
