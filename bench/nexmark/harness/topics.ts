/**
 * The topics of the fair harness's Kafka mode (`--transport kafka`): the input
 * topic of a query, loaded once by the Kafka Streams peer's loader (line i of
 * the events file in partition i mod P, record time one day + `dateTime`, an
 * END record last in each partition) and read by every system; and an output
 * topic per round, made before it and deleted after it.
 *
 * @example
 * ```ts
 * await loadInputTopic(['java', ...cp, 'dev.eddy.peers.kstreams.KafkaStreamsNexmark', '--query', 'q5', …]);
 * await withOutputTopic('127.0.0.1:9092', 'eddy-fair-out-q5-eddy-1', 1, async (topic) => runRound(topic));
 * ```
 */
import { spawn } from 'node:child_process';
import { Admin } from '@platformatic/kafka';
import { ensureTopic } from '../../../src/connectors/kafka/topics.ts';

/**
 * Runs the Kafka Streams peer with `--load-only true` (its `argv`, which names
 * the kept input topic): it loads the topic unless it already holds the
 * events, then ends. Rejects with its exit code.
 */
export function loadInputTopic(argv: readonly string[], log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, [...argv.slice(1), '--load-only', 'true'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    c.stderr.setEncoding('utf8');
    let tail = '';
    c.stderr.on('data', (d: string) => {
      tail = (tail + d).slice(-4000);
      for (const l of d.split('\n')) if (l.includes('loaded') || l.includes('reusing')) log(`  ${l.trim()}`);
    });
    c.once('error', reject);
    c.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`loading the input topic failed (exit ${code}):\n${tail}`)),
    );
  });
}

/**
 * Makes `topic` with `partitions` partitions, runs `body`, counts the records
 * the topic then holds (the sum of its end offsets), and deletes it (also on failure).
 */
export async function withOutputTopic<T>(
  brokers: string,
  topic: string,
  partitions: number,
  body: (topic: string) => Promise<T>,
): Promise<{ readonly result: T; readonly records: number }> {
  const admin = new Admin({ clientId: 'eddy-nexmark-fair', bootstrapBrokers: brokers.split(',') });
  try {
    await ensureTopic(admin, { topic, partitions, replicationFactor: 1 });
    const result = await body(topic);
    const ask = [...Array(partitions).keys()].map((partitionIndex) => ({ partitionIndex, timestamp: -1n }));
    const ends = await admin.listOffsets({ topics: [{ name: topic, partitions: ask }] });
    let records = 0;
    for (const t of ends) for (const p of t.partitions) records += Number(p.offset);
    return { result, records };
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.close().catch(() => {});
  }
}
