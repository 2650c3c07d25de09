/**
 * Cross-checks the peers against eddy: exports events, runs each query on eddy
 * (bench/nexmark/queries.ts over the same generator config) and on Flink,
 * Flink SQL, Kafka Streams and Spark (over the exported file), and compares the
 * output counts.
 * Run by hand (CI does not build Java); needs Maven, Java 17 and, for Kafka
 * Streams and the Kafka mode, the broker (`npm run kafka:up`).
 *
 * ```sh
 * node bench/peers/verify.ts [--events 200000] [--queries q0,q1,q2,q5,q8,q11|all]
 *     [--systems flink,flink-sql,kafka-streams,spark,spark-rt] [--parallelism 2] [--file /tmp/x.jsonl]
 *     [--transport file|kafka] [--verbose]
 * ```
 *
 * `--transport kafka` (the fair harness's Kafka mode; `spark-rt` runs only in
 * it): the events are loaded once into an input topic of P partitions (the
 * Kafka Streams peer's loader, as the fair harness does), each run reads it to
 * its END records and writes its outputs to a topic of its own, and besides
 * the count against eddy's the records in that topic must equal the outputs
 * the run counted. The topics are deleted afterwards.
 *
 * Prints one line per query and system and exits 1 on any mismatch.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { Pipeline, type Sink, type Stream } from '../../src/index.ts';
import { type Event, nexmarkGenerator, nexmarkSourceOptions } from '../nexmark/generator.ts';
import { loadInputTopic, withOutputTopic } from '../nexmark/harness/topics.ts';
import { QUERIES } from '../nexmark/queries.ts';
import { exportEvents } from './export.ts';
import {
  buildPeers,
  type PeerKafkaTopics,
  type PeerResult,
  type PeerSystem,
  peerCommand,
  peerKafkaOnly,
  peerListCommand,
  peerQueries,
  runPeer,
} from './index.ts';

const DEFAULT_QUERIES = ['q0', 'q1', 'q2', 'q5', 'q8', 'q11'];

/** Queries whose output count depends on the run, not only on the events: not compared. */
const NOT_COMPARABLE: Readonly<Record<string, string>> = {
  q12: 'processing-time windows: the count depends on the speed of the run',
};

/**
 * Queries that handle bids in arrival order (as eddy's): with parallel sources a key's bids can
 * arrive out of time order, which changes what they emit. Compared at parallelism 1 only.
 */
const ARRIVAL_ORDER: Readonly<Record<string, string>> = {
  q4r: 'arrival order (a row per new maximum of an auction): compared at parallelism 1 only',
  q18: 'arrival order: compared at parallelism 1 only',
  q19: 'arrival order: compared at parallelism 1 only',
};

/**
 * Flink SQL runs nexmark/nexmark's texts, whose output differs from eddy's by design in these
 * queries (bench/peers/README.md); their counts are printed, not compared.
 */
const SQL_SEMANTICS: Readonly<Record<string, string>> = {
  q4: 'updating result: each change row the sink receives, after mini-batch folding',
  q4r: 'updating result: change rows after mini-batch folding, against one row per new maximum',
  q9: 'updating result: one row per new best bid of an auction',
};

type Query = (p: Pipeline, events: Stream<Event>) => Stream<unknown>;

/** Runs eddy's `name` over the generated events and counts its outputs. */
export async function eddyCount(name: string, count: number): Promise<number | undefined> {
  const query = (QUERIES as Record<string, Query | undefined>)[name];
  if (query === undefined) return undefined;
  const p = new Pipeline({ name: `verify-${name}`, errorPolicy: 'fail' });
  let n = 0;
  const counter: Sink<unknown> = {
    kind: 'count',
    guarantee: 'best-effort',
    open: () => ({
      write: (values) => {
        n += values.length;
      },
    }),
  };
  query(p, p.source('events', nexmarkGenerator({ count }), nexmarkSourceOptions)).sink(counter);
  await p.run();
  return n;
}

function flag(args: readonly string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : fallback;
}

/** Checks that `peerQueries` lists what each Java main says it implements. */
function checkQueryLists(systems: readonly PeerSystem[]): string[] {
  const problems: string[] = [];
  for (const system of systems) {
    const [java, ...args] = peerListCommand(system);
    const listed = execFileSync(java!, args, { encoding: 'utf8' }).trim().split(',');
    if (listed.join(',') !== peerQueries(system).join(',')) {
      problems.push(
        `${system}: peerQueries says ${peerQueries(system).join(',')}, Java has ${listed.join(',')}`,
      );
    }
  }
  return problems;
}

/**
 * The Kafka mode's input topic: the events loaded by the Kafka Streams peer's loader (P partitions,
 * line i in partition i mod P, an END record last in each), as the fair harness loads its own.
 */
async function loadEvents(
  topic: string,
  file: string,
  events: number,
  parallelism: number,
  brokers: string,
  log: (line: string) => void,
): Promise<void> {
  const cmd = peerCommand({
    system: 'kafka-streams',
    query: 'q0',
    eventsFile: file,
    events,
    parallelism,
    brokers,
  });
  await loadInputTopic(['java', ...cmd, '--input-topic', topic], log);
}

async function deleteTopic(brokers: string, topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'eddy-peers-verify', bootstrapBrokers: brokers.split(',') });
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.close().catch(() => {});
  }
}

async function main(args: readonly string[]): Promise<number> {
  const events = Number(flag(args, 'events', '200000'));
  const parallelism = Number(flag(args, 'parallelism', '2'));
  const systems = flag(args, 'systems', 'flink,kafka-streams').split(',') as PeerSystem[];
  const verbose = args.includes('--verbose');
  const wanted = flag(args, 'queries', DEFAULT_QUERIES.join(','));
  const file = flag(args, 'file', join(tmpdir(), `nexmark-verify-${events}.jsonl`));
  const transport = flag(args, 'transport', 'file');
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (transport !== 'file' && transport !== 'kafka') {
    log(`verify: --transport must be file or kafka; received "${transport}"`);
    return 2;
  }
  const kafkaMode = transport === 'kafka';
  for (const system of systems) {
    const why = peerKafkaOnly(system);
    if (why !== undefined && !kafkaMode) {
      log(`verify: ${system} needs --transport kafka: ${why}`);
      return 2;
    }
  }

  // Always written afresh: the generator changes (new fields, new draws), and a stale file would not
  // hold the events eddy generates.
  const r = await exportEvents(file, { count: events });
  log(`verify: wrote ${r.events} events (${(r.bytes / 1e6).toFixed(1)} MB) to ${file}`);
  // The Kafka mode loads its input topic with the Kafka Streams peer's loader.
  await buildPeers(kafkaMode ? [...new Set([...systems, 'kafka-streams' as const])] : systems, log);
  const problems = checkQueryLists(systems);
  const inputTopic = `eddy-verify-kin-${events}-p${parallelism}-${process.pid}`;

  /** One run of `query` on `system`; in the Kafka mode with an output topic, whose records are counted. */
  const runOne = async (system: PeerSystem, query: string): Promise<{ r: PeerResult; inTopic?: number }> => {
    const run = (kafka?: PeerKafkaTopics) =>
      runPeer({
        system,
        query,
        eventsFile: file,
        events,
        parallelism,
        brokers,
        ...(kafka === undefined ? {} : { kafka }),
        // Real-time mode's run ends one batch after the batch that read the END records (when a
        // batch has read nothing): Spark's shortest batch, not its default 5 minutes.
        ...(system === 'spark-rt' ? { args: ['--trigger-ms', '5000'] } : {}),
        timeoutMs: 10 * 60_000,
        log: verbose ? (l) => log(`  [${system}] ${l}`) : () => {},
      });
    if (!kafkaMode) return { r: await run() };
    const { result, records } = await withOutputTopic(
      brokers,
      `eddy-verify-out-${query}-${system}-${process.pid}`,
      parallelism,
      (outputTopic) => run({ inputTopic, outputTopic }),
    );
    return { r: result, inTopic: records };
  };

  const compareAll = async () => {
    for (const query of wanted === 'all' ? [...new Set(systems.flatMap(peerQueries))] : wanted.split(',')) {
      const expected = await eddyCount(query, events);
      for (const system of systems) {
        if (!peerQueries(system).includes(query)) {
          log(`${query.padEnd(4)} ${system.padEnd(13)} not implemented`);
          continue;
        }
        try {
          const { r, inTopic } = await runOne(system, query);
          if (inTopic !== undefined && inTopic !== r.outputs)
            problems.push(`${query} ${system}: counted ${r.outputs} outputs, its topic holds ${inTopic}`);
          if (kafkaMode && r.events !== events)
            problems.push(`${query} ${system}: read ${r.events} events from ${inputTopic}, not ${events}`);
          const skip =
            NOT_COMPARABLE[query] ??
            (system === 'flink-sql' ? SQL_SEMANTICS[query] : undefined) ??
            (parallelism > 1 ? ARRIVAL_ORDER[query] : undefined);
          const verdict =
            skip !== undefined
              ? `not compared (${skip})`
              : expected === undefined
                ? 'eddy has no such query'
                : r.outputs === expected
                  ? 'ok'
                  : 'MISMATCH';
          if (verdict === 'MISMATCH')
            problems.push(`${query} ${system}: ${r.outputs} outputs, eddy ${expected}`);
          log(
            `${query.padEnd(4)} ${system.padEnd(13)} outputs ${String(r.outputs).padStart(8)}  eddy ${String(expected ?? '-').padStart(8)}  ${verdict}  (${Math.round(r.eventsPerSec)} events/s` +
              `${inTopic === undefined ? '' : `; ${inTopic} records in its topic, ${r.events} events read`})`,
          );
        } catch (e) {
          problems.push(`${query} ${system}: ${(e as Error).message}`);
          log(`${query.padEnd(4)} ${system.padEnd(13)} FAILED: ${(e as Error).message}`);
        }
      }
    }
  };

  try {
    if (kafkaMode) {
      log(`verify: loading ${events} events into ${inputTopic} (${parallelism} partitions)`);
      await loadEvents(inputTopic, file, events, parallelism, brokers, log);
    }
    await compareAll();
  } finally {
    if (kafkaMode) await deleteTopic(brokers, inputTopic).catch((e: unknown) => log(`verify: ${e}`));
  }
  for (const p of problems) log(`verify: ${p}`);
  log(problems.length === 0 ? 'verify: all counts match' : `verify: ${problems.length} problem(s)`);
  return problems.length === 0 ? 0 : 1;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
