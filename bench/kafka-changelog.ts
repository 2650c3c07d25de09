/**
 * A Kafka application's changelog at large state (issue 13): commits of a
 * partition that holds many keys of which few change, with the changelog
 * written per changed entry (`changelog: 'entries'`, the default) and with
 * each changed partition rewritten whole (`'key-groups'`, the layout
 * before), in one run on the local broker, one layout after the other.
 *
 * Per layout, a fresh application (2 partitions, commits every second):
 * 1. load: `--keys` keys, one event each (a `--pad`-byte string in each
 *    key's state), processed and committed;
 * 2. `--rounds` rounds of `--changed` events on keys drawn at random (the
 *    same seeded draw for both layouts), each round processed and then two
 *    commits waited for;
 * 3. the application stops (a savepoint) and a new instance restores both
 *    partitions from the changelog.
 *
 * Reported per layout: changelog bytes written per round (the commits of a
 * round together), commit latency (ms from the checkpoint's trigger to its
 * transaction committed, over commits that wrote state) as median and max,
 * the longest pause at a barrier (syncMs), and the restore (ms, records
 * read, the two partitions' longest). Output: progress on stderr, one JSON
 * line on stdout.
 *
 *   npm run bench -- kafka-changelog [--keys 1000000] [--changed 10000] [--rounds 5] [--pad 32]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { internalTopics, kafkaApp, kafkaPartition } from '../src/deploy/kafka/index.ts';
import { Pipeline, valueState } from '../src/index.ts';
import type { CheckpointInfo } from '../src/runtime/checkpoints.ts';
import { Random } from '../src/util/random.ts';
import { KEPT_TOPIC_CONFIGS } from './kept-topics.ts';

const PARTITIONS = 2;
type Layout = 'entries' | 'key-groups';

/** A seeded generator of floats in [0, 1), so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  const rng = new Random(seed);
  return () => rng.next();
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
};

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      keys: { type: 'string', default: '1000000' },
      changed: { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '5' },
      pad: { type: 'string', default: '32' },
    },
  });
  const keys = Number(values.keys);
  const changed = Number(values.changed);
  const rounds = Number(values.rounds);
  const pad = 'x'.repeat(Number(values.pad));
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  const log = (s: string) => process.stderr.write(`kafka-changelog: ${s}\n`);
  const admin = new Admin({ clientId: 'eddy-bench', bootstrapBrokers: brokers });
  const producer = new Producer({ clientId: 'eddy-bench', bootstrapBrokers: brokers, acks: ProduceAcks.ALL });
  const produce = async (topic: string, ks: Iterable<number>) => {
    let messages: MessageToProduce[] = [];
    const flush = async () => {
      if (messages.length > 0) await producer.send({ messages });
      messages = [];
    };
    for (const i of ks) {
      const key = `k${i}`;
      messages.push({
        topic,
        key: Buffer.from(key),
        partition: kafkaPartition(key, PARTITIONS),
        value: Buffer.from(`{"key":"${key}"}`),
      });
      if (messages.length === 5000) await flush();
    }
    await flush();
  };
  const until = async (what: string, ok: () => boolean, ms = 900_000) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const results: Record<string, unknown> = {};
  const topics: string[] = [];
  try {
    for (const layout of ['key-groups', 'entries'] as Layout[]) {
      const id = `eddy-bench-changelog-${randomUUID().slice(0, 8)}`;
      const input = `${id}-in`;
      const output = `${id}-out`;
      topics.push(input, output, ...Object.values(internalTopics(id)));
      await admin.createTopics({
        topics: [input, output],
        partitions: PARTITIONS,
        replicas: 1,
        configs: KEPT_TOPIC_CONFIGS,
      });
      let handled = 0;
      const commits: (CheckpointInfo & { phase: string })[] = [];
      let phase = 'load';
      const start = (name: string) => {
        const app = kafkaApp({
          applicationId: id,
          brokers,
          commitIntervalMs: 1000,
          instanceId: name,
          changelog: layout,
          loadBalance: false,
        });
        const stop = new AbortController();
        const done = app.run(
          () => {
            const p = new Pipeline({ name: 'changelog-bench' });
            p.source('in', app.source<{ key: string }>({ topics: [input] }))
              .keyBy((e) => e.key)
              .withState({ s: valueState<{ n: number; pad: string }>() })
              .process<{ key: string; n: number }>({
                processElement(_e, ctx) {
                  ctx.state.s.set({ n: (ctx.state.s.get()?.n ?? 0) + 1, pad });
                  handled++;
                },
              })
              .sink(app.sink({ topic: output, key: (c) => c.key }));
            return p;
          },
          {
            signal: stop.signal,
            onCheckpoint: (info) => {
              if (info.error === undefined) commits.push({ ...info, phase });
            },
          },
        );
        return { app, stop, done };
      };
      const owned = (app: ReturnType<typeof kafkaApp>) =>
        app.metrics().tasks.filter((t) => t.startsWith(input)).length;
      const twoCommits = async () => {
        const seen = commits.length;
        await until('two more commits per partition', () => commits.length >= seen + 2 * PARTITIONS);
      };
      const a = start('a');
      await until('a owns both partitions', () => owned(a.app) === PARTITIONS);
      const loadStart = performance.now();
      await produce(
        input,
        Array.from({ length: keys }, (_, i) => i),
      );
      await until(`${keys} events processed`, () => handled >= keys);
      await twoCommits();
      log(`${layout}: loaded ${keys} keys in ${Math.round(performance.now() - loadStart)} ms`);
      const r = random(42);
      const perRound: { bytes: number; commitMs: number[]; syncMs: number[] }[] = [];
      for (let round = 0; round < rounds; round++) {
        phase = `round-${round}`;
        const want = handled + changed;
        await produce(
          input,
          Array.from({ length: changed }, () => Math.floor(r() * keys)),
        );
        await until(`round ${round + 1} processed`, () => handled >= want);
        await twoCommits();
        const mine = commits.filter((c) => c.phase === phase && c.bytes > 0);
        perRound.push({
          bytes: mine.reduce((s, c) => s + c.bytes, 0),
          commitMs: mine.map((c) => c.durationMs),
          syncMs: mine.map((c) => c.syncMs),
        });
        log(
          `${layout}: round ${round + 1}: ${perRound.at(-1)!.bytes} bytes in ${mine.length} commits, ${perRound
            .at(-1)!
            .commitMs.map((m) => Math.round(m))
            .join('/')} ms`,
        );
      }
      a.stop.abort();
      await a.done;
      const b = start('b');
      await until('b owns both partitions', () => owned(b.app) === PARTITIONS);
      const restores = b.app.metrics().restores.slice(-PARTITIONS);
      b.stop.abort();
      await b.done;
      const commitMs = perRound.flatMap((x) => x.commitMs);
      results[layout] = {
        bytesPerRound: median(perRound.map((x) => x.bytes)),
        commitMsMedian: Math.round(median(commitMs)),
        commitMsMax: Math.round(Math.max(...commitMs)),
        syncMsMax: Math.round(Math.max(...perRound.flatMap((x) => x.syncMs))),
        loadCommitMsMax: Math.round(
          Math.max(...commits.filter((c) => c.phase === 'load').map((c) => c.durationMs)),
        ),
        restoreMs: Math.max(...restores.map((x) => x.ms)),
        restoreRecords: restores.reduce((s, x) => s + x.records, 0),
      };
      log(`${layout}: ${JSON.stringify(results[layout])}`);
    }
    const e = results['entries'] as { bytesPerRound: number; commitMsMedian: number; restoreMs: number };
    const g = results['key-groups'] as { bytesPerRound: number; commitMsMedian: number; restoreMs: number };
    process.stdout.write(
      `${JSON.stringify({
        bench: 'kafka-changelog',
        keys,
        changedPerRound: changed,
        rounds,
        padBytes: pad.length,
        partitions: PARTITIONS,
        ...results,
        bytesRatio: g.bytesPerRound / Math.max(1, e.bytesPerRound),
        commitMsRatio: g.commitMsMedian / Math.max(1, e.commitMsMedian),
        restoreMsRatio: e.restoreMs / Math.max(1, g.restoreMs),
      })}\n`,
    );
  } finally {
    await producer.close();
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
