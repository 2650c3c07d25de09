/**
 * Exactly-once across processes, after Kafka's own EosTestDriver: keyed,
 * sequence-numbered events go into a topic while three processes of one Kafka
 * application count and sum them per key into an output topic; one process is
 * SIGKILLed mid-run and started again, and a fourth joins later, so partitions
 * and their state move between processes several times. The read_committed
 * output must then be the batch recomputation of the input: for every key,
 * one output per event, in order, the count rising by exactly 1 (0 lost, 0
 * duplicated) and the sum equal to the prefix sum of the input.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaPartition } from '../../src/connectors/kafka/index.ts';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import type { Total } from './fixtures/eos-app.ts';
import { kafkaReady, readCommittedJava, sleep, until, untilProgress } from './helpers.ts';

// Issue 19: the broker must answer (coordinators loaded), not only listen, before processes start.
const kafka = await kafkaReady();
const CHILD = new URL('./fixtures/eos-app.ts', import.meta.url).pathname;
const PARTITIONS = 4;
const KEYS = 24;

function startApp(
  brokers: string,
  app: string,
  input: string,
  output: string,
  instance: string,
  log: string[],
  mode: Mode,
): ChildProcess {
  const child = spawn(process.execPath, [CHILD, brokers, app, input, output, instance, mode], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => log.push(s));
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** How many records of `topic` this client's read_committed consumer sees now (progress only; the verdict is Java's). */
async function countCommitted(brokers: string[], topic: string): Promise<number> {
  let n = 0;
  await readToEnd({ bootstrapBrokers: brokers, topic, clientId: 'eddy-eos-check', onMessage: () => n++ });
  return n;
}

/**
 * `copartitioned`: the input is partitioned by the key with kafkaPartition;
 * `repartition`: every key sits in another partition than its key group's, so
 * every record goes through the application's repartition topic.
 */
type Mode = 'copartitioned' | 'repartition';

describe('Kafka application: exactly-once across processes', { skip: kafka.skip }, () => {
  for (const mode of ['copartitioned', 'repartition'] as const)
    it(`${mode}: 3 processes, one SIGKILLed and restarted, a fourth joining: output = batch recomputation, sequences +1`, {
      timeout: 300_000,
    }, async () => {
      assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
      const brokers = kafka.address.split(',');
      const id = randomUUID().slice(0, 8);
      const input = `eddy-eos-in-${id}`;
      const output = `eddy-eos-out-${id}`;
      const app = `eddy-eos-${id}`;
      const admin = new Admin({ clientId: 'eddy-eos-test', bootstrapBrokers: brokers });
      const producer = new Producer({
        clientId: 'eddy-eos-test',
        bootstrapBrokers: brokers,
        idempotent: true,
        acks: ProduceAcks.ALL,
      });
      const log: string[] = [];
      const children: ChildProcess[] = [];
      try {
        await admin.createTopics({ topics: [input, output], partitions: PARTITIONS, replicas: 1 });
        // The input, produced in rounds while the processes run; per key: seq 0, 1, 2, …
        const next = new Array<number>(KEYS).fill(0);
        const sums = new Array<number>(KEYS).fill(0);
        const expected = new Map<string, Total[]>();
        let produced = 0;
        const poison: string[] = [];
        const produceRound = async (n: number) => {
          const messages = [];
          for (let i = 0; i < n; i++) {
            const k = (produced * 7 + i * 13) % KEYS;
            const key = `k${k}`;
            const seq = next[k]!++;
            const v = (seq * 31 + k) % 97;
            sums[k]! += v;
            if (!expected.has(key)) expected.set(key, []);
            expected.get(key)!.push({ key, count: seq + 1, sum: sums[k]!, seq });
            messages.push({
              topic: input,
              partition: (kafkaPartition(key, PARTITIONS) + (mode === 'repartition' ? 1 : 0)) % PARTITIONS,
              key: Buffer.from(key),
              value: Buffer.from(JSON.stringify({ key, seq, v })),
            });
          }
          produced += n;
          // Two poison records per round: the dead-letter topic must hold each exactly once.
          for (const bad of ['{"key": oops', '{"__proto__": {"x": 1}}']) {
            poison.push(bad);
            messages.push({
              topic: input,
              partition: produced % PARTITIONS,
              key: Buffer.from('bad'),
              value: Buffer.from(bad),
            });
          }
          await producer.send({ messages });
        };
        /** The partitions each process (by pid) owned last, from their `owns [..] in generation g` lines. */
        const owners = () => {
          const last = new Map<number, { partitions: number[]; generation: number }>();
          for (const m of log.join('').matchAll(/eos-app (\d+): owns \[([\d,]*)\] in generation (\d+)/g))
            last.set(Number(m[1]), {
              partitions: m[2] === '' ? [] : m[2]!.split(',').map(Number),
              generation: Number(m[3]),
            });
          return last;
        };
        const waitFor = (what: string, ok: () => boolean) =>
          until(what, ok, {
            timeoutMs: 120_000,
            context: () => `process log:\n${log.join('').slice(-3000)}`,
          });
        const owning = (pid: number | undefined) => (owners().get(pid ?? -1)?.partitions.length ?? 0) > 0;
        for (let i = 0; i < 3; i++)
          children.push(startApp(kafka.address, app, input, output, `p${i}`, log, mode));
        // All three own partitions before the input starts, so that the kill below moves state.
        await waitFor('three processes own partitions', () => children.every((c) => owning(c.pid)));
        const ROUNDS = 30;
        let killedIn = 0;
        for (let r = 0; r < ROUNDS; r++) {
          await produceRound(200);
          await sleep(250);
          if (r === 8) {
            killedIn = owners().get(children[1]!.pid!)?.generation ?? 0;
            children[1]!.kill('SIGKILL'); // mid-run, likely inside a transaction
            await exited(children[1]!);
          }
          if (r === 12) {
            // Its partitions go to the others (after the session timeout), their state from the changelog.
            await waitFor("the killed process's partitions move", () =>
              [children[0]!, children[2]!].every((c) => (owners().get(c.pid!)?.generation ?? 0) > killedIn),
            );
            // Restarted: it gets partitions back from the others, who stop only those.
            children[1] = startApp(kafka.address, app, input, output, 'p1', log, mode);
          }
          if (r === 18) children.push(startApp(kafka.address, app, input, output, 'p3', log, mode));
        }
        await waitFor('the fourth process owns partitions', () => owning(children[3]!.pid));
        // Wait until every key's last output is committed: for as long as the output grows (a loaded
        // machine is slower, not wrong), failing only when it stalls.
        const total = ROUNDS * 200;
        await untilProgress('every output is committed', () => countCommitted(brokers, output), total, {
          stallMs: 90_000,
          everyMs: 1000,
          context: () => `process log:\n${log.join('').slice(-3000)}`,
        });
        for (const c of children) c.kill('SIGTERM');
        const codes = await Promise.all(children.map(exited));
        // The verdict, from Java's read_committed consumer.
        const committed = await readCommittedJava(kafka.address, output, { atLeast: total });
        const byKey = new Map<string, Total[]>();
        for (const m of committed.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
          const t = JSON.parse(m.value) as Total;
          if (!byKey.has(t.key)) byKey.set(t.key, []);
          byKey.get(t.key)!.push(t);
        }
        let lost = 0;
        let duplicated = 0;
        for (const [key, want] of expected) {
          const got = byKey.get(key) ?? [];
          const counts = got.map((t) => t.count);
          lost += Math.max(0, want.length - new Set(counts).size);
          duplicated += got.length - new Set(counts).size;
          const at = want.findIndex((w, i) => JSON.stringify(w) !== JSON.stringify(got[i]));
          if (at >= 0 || got.length !== want.length) {
            assert.fail(
              `key ${key}: ${got.length} outputs, expected ${want.length}; first difference at #${at}: got ${JSON.stringify(got[at])}, expected ${JSON.stringify(want[at])}\nprocess log:\n${log.join('').slice(-3000)}`,
            );
          }
        }
        assert.equal(lost, 0);
        assert.equal(duplicated, 0);
        assert.equal(committed.length, total);
        const dead = await readCommittedJava(kafka.address, `${output}-dlq`);
        assert.deepEqual(
          dead.map((m) => m.value).sort(),
          [...poison].sort(),
          'every poison record in the dead-letter topic exactly once',
        );
        for (const m of dead) {
          assert.match(m.headers, /eddy\.error\.code:(invalid-json|forbidden-key)/);
          assert.match(m.headers, /eddy\.error\.reason:./);
          assert.ok(m.headers.includes(`eddy.source.topic:${input}`), m.headers);
        }
        assert.ok(log.join('').includes('back to the last commit'), 'partitions moved');
        // Cooperative hand-over: across every change of its partitions, a process stops only the
        // tasks of partitions that leave it; those it keeps run on (no roll-back, no restore).
        const keyed = mode === 'repartition' ? `${app}-repartition` : input;
        const lines = new Map<number, { owns?: number[]; stopped?: number }[]>();
        for (const m of log
          .join('')
          .matchAll(
            /eos-app (\d+): (?:owns \[([\d,]*)\]|back to the last commit \(partition ([^ ]+):(\d+) )/g,
          )) {
          const pid = Number(m[1]);
          if (!lines.has(pid)) lines.set(pid, []);
          if (m[2] !== undefined)
            lines.get(pid)!.push({ owns: m[2] === '' ? [] : m[2].split(',').map(Number) });
          else if (m[3] === keyed) lines.get(pid)!.push({ stopped: Number(m[4]) });
        }
        let keptAcrossChanges = 0;
        for (const [pid, events] of lines) {
          let before: number[] | undefined;
          let stopped: number[] = [];
          for (const e of events) {
            if (e.stopped !== undefined) {
              stopped.push(e.stopped);
              continue;
            }
            if (before !== undefined) {
              const kept = before.filter((p) => e.owns!.includes(p));
              keptAcrossChanges += kept.length;
              assert.deepEqual(
                stopped.filter((p) => kept.includes(p)),
                [],
                `process ${pid} stopped partitions it kept (${before} → ${e.owns}):\n${log.join('')}`,
              );
            }
            before = e.owns;
            stopped = [];
          }
        }
        assert.ok(keptAcrossChanges > 0, 'some process kept partitions across a rebalance');
        assert.deepEqual(
          codes.filter((c) => c !== 0),
          [],
          `every process stopped cleanly on SIGTERM:\n${log.join('')}`,
        );
      } finally {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        if (process.env['EDDY_TEST_LOG'] !== undefined)
          writeFileSync(process.env['EDDY_TEST_LOG'], log.join(''));
        await producer.close();
        await admin
          .deleteTopics({
            topics: [input, output, `${output}-dlq`, `${app}-changelog`, `${app}-repartition`],
          })
          .catch(() => {});
        await admin.close();
      }
    });
});
