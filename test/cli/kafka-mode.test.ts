/**
 * Issue 13: one module, two deployments. examples/clickstream/pipeline.ts runs
 * unchanged embedded (`eddy run <module>`) and as a Kafka application of three
 * instances (`eddy run <module> --kafka <brokers> --app-id <id>`) over the same
 * input topic; both outputs must equal a batch count of the input written
 * without the engine (page views per user and window), each window once.
 *
 * The input is seeded and random: users keyed into their kafkaPartition,
 * clicks out of order within the module's bound, clicks without a user (a
 * filter before the keyBy drops them) and malformed JSON (dead-lettered).
 * The three instances each own a partition before the input is produced, so
 * all of them work. Last, one far-future click per partition moves every partition's watermark
 * past the data; those windows are left out of the comparison (embedded emits
 * them when drained, a Kafka application keeps them open). The Kafka output is
 * read as Kafka's Java consumer reads it (read_committed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kafkaReady } from '../kafka/helpers.ts';
import { type Click, clickInput, runBothWays } from './both-ways.ts';

const kafka = await kafkaReady();
const MODULE = new URL('../../examples/clickstream/pipeline.ts', import.meta.url).pathname;
const PARTITIONS = 3;
const WINDOW = 1000;
const DISORDER = 500;

/** The batch count: per user and window start, the clicks with a user. */
function oracle(clicks: readonly Click[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of clicks) {
    if (c.user === undefined) continue;
    const id = `${c.user}@${c.ts - (c.ts % WINDOW)}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

interface ViewCount {
  user: string;
  start: number;
  views: number;
}

/** Each window's count as written, failing on a window written twice. */
function counted(out: readonly ViewCount[], end: number, label: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of out) {
    if (v.start >= end - (end % WINDOW)) continue; // the flush windows
    const id = `${v.user}@${v.start}`;
    assert.ok(!counts.has(id), `${label}: window ${id} written twice`);
    counts.set(id, v.views);
  }
  return counts;
}

describe('eddy run --kafka: one module, embedded and as a Kafka application', { skip: kafka.skip }, () => {
  it('three instances give the batch count, as the embedded run does', { timeout: 600_000 }, async () => {
    const seed = Number(process.env['EDDY_SEED'] ?? Date.now() % 100_000);
    const { messages, clicks, end } = clickInput(seed, {
      partitions: PARTITIONS,
      window: WINDOW,
      disorder: DISORDER,
    });
    await runBothWays<ViewCount>({
      brokers: kafka.address!.split(','),
      seed,
      module: MODULE,
      args: ['--window', String(WINDOW), '--disorder', String(DISORDER)],
      partitions: PARTITIONS,
      instances: 3,
      name: 'clicks',
      stages: (app) => [app],
      messages,
      results: (out, label) => counted(out, end, label),
      expected: oracle(clicks),
    });
  });
});
