/**
 * `kafkaSource` read by every subtask (issue 14): each subtask reads its own
 * partitions (connectors/kafka/subtasks.ts), always the same ones while the
 * job runs, and checkpoints its offsets for them only, so a job resumed at
 * another parallelism hands each partition's offset to its new owner.
 *
 * Checked against the real broker, against counts computed from the input
 * alone: windowed counts at parallelism 2 and 3 (3 with fewer partitions
 * than subtasks, so one subtask has none), the group's assignment while the
 * job runs, and a keyed running count carried through stops and resumes at
 * parallelism 2 → 3 → 1 with input added between runs: every count is
 * emitted exactly once (a record read twice would repeat one, a lost one
 * leave a gap). Every wait is for a condition, none for time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Admin, type MessageToProduce } from '@platformatic/kafka';
import { kafkaSource } from '../../src/connectors/kafka/index.ts';
import { partitionOwner } from '../../src/connectors/kafka/subtasks.ts';
import { systemClock } from '../../src/core/clock.ts';
import { collectSink, Pipeline, tumbling, valueState } from '../../src/index.ts';
import { createTopics, kafkaReady, testProducer, until } from './helpers.ts';

const kafka = await kafkaReady();
const WINDOW = 1000;

interface Tick {
  readonly key: string;
  readonly ts: number;
  readonly n: number;
}

/** `count` ticks per partition, in event-time order within each, spread over `windows` windows. */
function ticks(partitions: number, count: number, seed: number, windows = 4): Map<number, Tick[]> {
  const out = new Map<number, Tick[]>();
  for (let p = 0; p < partitions; p++)
    out.set(
      p,
      Array.from({ length: count }, (_, i) => ({
        key: `k${(i * 7 + p * 3 + seed) % 11}`,
        ts: Math.floor((i * windows * WINDOW) / count),
        n: seed * 1_000_000 + p * 10_000 + i,
      })),
    );
  return out;
}

const send = (producer: ReturnType<typeof testProducer>, topic: string, byPartition: Map<number, Tick[]>) =>
  producer.send({
    messages: [...byPartition].flatMap(([partition, list]) =>
      list.map((t): MessageToProduce => ({ topic, partition, value: Buffer.from(JSON.stringify(t)) })),
    ),
  });

/** The batch oracle: per key and window, how many ticks. */
function batchCounts(all: readonly Tick[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of all) {
    const k = `${t.key}@${Math.floor(t.ts / WINDOW) * WINDOW}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** The group's members while the job runs: each subtask (from its client id) with its partitions. */
async function groupMembers(admin: Admin, groupId: string, topic: string) {
  const g = (await admin.describeGroups({ groups: [groupId] })).get(groupId);
  return (g?.members ? [...g.members.values()] : []).map((m) => ({
    subtask: Number(/-(\d+)$/.exec(m.clientId)?.[1] ?? -1),
    partitions: [...(m.assignments?.get(topic)?.partitions ?? [])].sort((a, b) => a - b),
  }));
}

/** Each member has exactly the partitions `partitionOwner` gives its subtask. */
function assertOwners(
  members: readonly { subtask: number; partitions: number[] }[],
  topic: string,
  partitions: number,
  parallelism: number,
): void {
  for (const m of members) {
    const expected = Array.from({ length: partitions }, (_, q) => q).filter(
      (q) => partitionOwner(topic, q, parallelism) === m.subtask,
    );
    assert.deepEqual(m.partitions, expected, `subtask ${m.subtask}'s partitions`);
  }
}

/** Each tick read once, and one count per key and window, equal to the batch count. */
function assertResults(
  read: readonly number[],
  outputs: readonly { key: string; start: number; count: number }[],
  all: readonly Tick[],
): void {
  assert.deepEqual(
    [...read].sort((a, b) => a - b),
    all.map((t) => t.n).sort((a, b) => a - b),
    'each tick read once',
  );
  const got = new Map(outputs.map((r) => [`${r.key}@${r.start}`, r.count]));
  assert.equal(outputs.length, got.size, 'one result per key and window');
  assert.deepEqual(
    [...got].sort(([a], [b]) => a.localeCompare(b)),
    [...batchCounts(all)].sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** A fresh topic of `partitions` and a group on the test broker, and how to remove both. */
async function fixture(name: string, partitions: number) {
  const brokers = kafka.address!.split(',');
  const run = `eddy-split-${name}-${process.pid}-${Date.now()}`;
  const topic = `${run}-in`;
  const groupId = `${run}-g`;
  const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
  const producer = testProducer(brokers);
  const cleanup = async () => {
    await producer.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.deleteGroups({ groups: [groupId] }).catch(() => {});
    await admin.close();
  };
  await createTopics(admin, { [topic]: { partitions } }).catch(async (e: unknown) => {
    await cleanup();
    throw e;
  });
  return { brokers, topic, groupId, admin, producer, cleanup };
}

describe('kafkaSource read by every subtask', { skip: kafka.skip }, () => {
  for (const [parallelism, partitions] of [
    [2, 5],
    [3, 2],
  ] as const) {
    it(`parallelism ${parallelism} over ${partitions} partitions: each subtask reads its own, counts equal the batch counts`, {
      timeout: 120_000,
    }, async () => {
      const { brokers, topic, groupId, admin, producer, cleanup } = await fixture(
        `${parallelism}`,
        partitions,
      );
      try {
        const input = ticks(partitions, 150, parallelism);
        await send(producer, topic, input);
        const all = [...input.values()].flat();
        const seen = collectSink<{ key: string; start: number; count: number }>();
        const read = collectSink<number>();
        const p = new Pipeline({ name: 'split-source' });
        const s = p.source('ticks', kafkaSource<Tick>({ topics: [topic], groupId, brokers }), {
          timestamp: (t) => t.ts,
        });
        s.map((t) => t.n).sink(read);
        s.keyBy((t) => t.key)
          .window(tumbling(WINDOW))
          .count()
          .map((r) => ({ key: r.key, start: r.window.start, count: r.value }))
          .sink(seen);
        const running = await p.start({ parallelism });
        let members: { subtask: number; partitions: number[] }[] = [];
        try {
          await until('every tick read', () => read.values.length >= all.length);
          // The group while the job runs: one member per subtask that owns a partition, each with
          // exactly the partitions partitionOwner gives it.
          await until(
            'the group shows each subtask with its partitions',
            async () => {
              members = await groupMembers(admin, groupId, topic);
              return (
                members.filter((m) => m.partitions.length > 0).length === Math.min(parallelism, partitions)
              );
            },
            { context: () => JSON.stringify(members) },
          );
        } finally {
          running.stop();
          await running.done;
        }
        assertOwners(members, topic, partitions, parallelism);
        assertResults(read.values, seen.values, all);
      } finally {
        await cleanup();
      }
    });
  }

  // The client gives a group's only member every partition without asking the assignor, so a subtask
  // that joins before the others fetches theirs too. Found by the resume test below (1 run in 4): the
  // first subtask handed out the other's records, which the other then read again from the group's
  // offsets. Here one subtask of two opens alone, so it always holds every partition.
  it('a subtask alone in the group hands out only its own partitions’ records', {
    timeout: 60_000,
  }, async () => {
    const partitions = 4;
    const { brokers, topic, groupId, producer, cleanup } = await fixture('alone', partitions);
    const abort = new AbortController();
    try {
      const input = ticks(partitions, 100, 3);
      await send(producer, topic, input);
      const own = [...input].filter(([q]) => partitionOwner(topic, q, 2) === 0);
      const others = [...input].filter(([q]) => partitionOwner(topic, q, 2) !== 0);
      assert.ok(own.length > 0 && others.length > 0, 'the topic has partitions of both subtasks');
      const reader = await kafkaSource<Tick>({ topics: [topic], groupId, brokers }).open({
        stepId: 'ticks',
        clock: systemClock,
        batchSize: 64,
        deadLetter: (code, reason) => assert.fail(`${code}: ${reason}`),
        signal: abort.signal,
        subtask: 0,
        parallelism: 2,
        jobStart: Date.now(),
      });
      const got: number[] = [];
      const splits = new Set<string>();
      try {
        assert.deepEqual(
          [...(reader.splits ?? [])].sort(),
          own.map(([q]) => `${topic}:${q}`).sort(),
          'it registers its own partitions only',
        );
        const want = own.reduce((n, [, list]) => n + list.length, 0);
        await until('its own partitions read', async () => {
          const b = await reader.poll(64);
          if (b !== null && b.values.length > 0) {
            got.push(...b.values.map((t) => t.n));
            splits.add(b.split!);
          }
          return got.length >= want;
        });
      } finally {
        abort.abort();
        await reader.close?.();
      }
      assert.deepEqual([...splits].sort(), own.map(([q]) => `${topic}:${q}`).sort());
      assert.deepEqual(
        got.sort((a, b) => a - b),
        own.flatMap(([, list]) => list.map((t) => t.n)).sort((a, b) => a - b),
      );
    } finally {
      await cleanup();
    }
  });

  it('on 2 worker threads: each thread reads its own partitions, counts equal the batch counts', {
    timeout: 120_000,
  }, async () => {
    const partitions = 4;
    const { brokers, topic, groupId, admin, producer, cleanup } = await fixture('threads', partitions);
    try {
      const input = ticks(partitions, 150, 7);
      await send(producer, topic, input);
      const all = [...input.values()].flat();
      const url = new URL('./fixtures/split-module.ts', import.meta.url).href;
      const mod = (await import(url)) as typeof import('./fixtures/split-module.ts');
      const values = { topic, group: groupId, brokers: brokers.join(',') };
      const p = await mod.default.build(values);
      const running = await p.startInThreads(url, values, { parallelism: 2 });
      let members: Awaited<ReturnType<typeof groupMembers>> = [];
      try {
        await until('every tick read', () => mod.read.length >= all.length);
        await until(
          'the group shows both threads with their partitions',
          async () => {
            members = await groupMembers(admin, groupId, topic);
            return members.filter((m) => m.partitions.length > 0).length === 2;
          },
          { context: () => JSON.stringify(members) },
        );
      } finally {
        running.stop();
        await running.done;
      }
      assertOwners(members, topic, partitions, 2);
      assertResults(mod.read, mod.outputs, all);
    } finally {
      await cleanup();
    }
  });

  it('checkpointed offsets go to each partition’s new owner: stops and resumes at parallelism 2 → 3 → 1 count every record once', {
    timeout: 240_000,
  }, async () => {
    const partitions = 4;
    const { brokers, topic, groupId, producer, cleanup } = await fixture('resume', partitions);
    const dir = mkdtempSync(join(tmpdir(), 'eddy-split-resume-'));
    const emitted: { key: string; count: number }[] = [];
    const all: Tick[] = [];
    try {
      let round = 0;
      for (const parallelism of [2, 3, 1]) {
        round++;
        const input = ticks(partitions, 120, round);
        await send(producer, topic, input);
        all.push(...[...input.values()].flat());
        const seen = collectSink<{ key: string; count: number }>();
        const p = new Pipeline({ name: 'split-resume' });
        p.source('ticks', kafkaSource<Tick>({ topics: [topic], groupId, brokers }))
          .keyBy((t) => t.key)
          .withState({ count: valueState<number>() })
          .process<{ key: string; count: number }>({
            processElement(t, ctx) {
              const n = (ctx.state.count.get() ?? 0) + 1;
              ctx.state.count.set(n);
              ctx.emit({ key: t.key, count: n });
            },
          })
          .sink(seen);
        const running = await p.start({
          parallelism,
          checkpoints: { dir, intervalMs: 0 },
          resumeFrom: 'latest',
        });
        try {
          await until(
            `round ${round} (parallelism ${parallelism}): every record so far counted`,
            () => emitted.length + seen.values.length >= all.length,
            { context: () => `${emitted.length + seen.values.length} of ${all.length}` },
          );
        } finally {
          running.stop();
          await running.done;
        }
        emitted.push(...seen.values);
      }
      // Per key, the counts 1..n each emitted once, n the key's records in all three rounds.
      const perKey = new Map<string, number[]>();
      for (const e of emitted) perKey.set(e.key, [...(perKey.get(e.key) ?? []), e.count]);
      const expected = new Map<string, number>();
      for (const t of all) expected.set(t.key, (expected.get(t.key) ?? 0) + 1);
      assert.equal(emitted.length, all.length, 'one emitted count per record');
      for (const [key, n] of expected)
        assert.deepEqual(
          (perKey.get(key) ?? []).sort((a, b) => a - b),
          Array.from({ length: n }, (_, i) => i + 1),
          `key ${key}: counts 1..${n}, each once`,
        );
    } finally {
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
