/**
 * Per-key changelog deltas (issue 13): a Kafka application's task snapshots
 * its heap state incrementally and the changelog store writes one record per
 * changed entry (a tombstone per removed one). Property: over seeded random
 * reads, writes, in-place changes, removals and namespace scans, the
 * changelog as a compacted topic would hold it after each checkpoint, read
 * back, gives exactly the state the backend had at that checkpoint's
 * barrier — with tiny parts (entries written in pieces), and after an
 * upgrade from a changelog written whole per key group.
 *
 * The "topic" here is a map (record key -> latest value, a tombstone
 * deletes), which is what compaction and the restore's read keep; the real
 * broker path is covered by test/kafka/eos.test.ts and savepoint.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckpointRestore, metaChunk, stateChunk } from '../../../src/checkpoint/snapshot.ts';
import type { Chunk } from '../../../src/checkpoint/storage.ts';
import { ChangelogStore, toCheckpoint, type Written } from '../../../src/connectors/kafka/changelog.ts';
import type { Key } from '../../../src/core/key-groups.ts';
import type { KeyedStateBackend } from '../../../src/state/backend.ts';
import { HeapStateBackend } from '../../../src/state/heap.ts';
import { Random } from '../../../src/util/random.ts';

const MAX_PARALLELISM = 4;
/** The partition (key group) the task owns. */
const P = 2;
const STEPS = ['fold', 'count'];

/** A seeded generator of floats in [0, 1), so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  const rng = new Random(seed);
  return () => rng.next();
}

type Value = { n: number; tags: string[] } | number | string;

/** Everything the backend holds, by step/table, as `namespace|key-json` -> a copy of the value. */
function contents(backend: KeyedStateBackend): Map<string, Map<string, unknown>> {
  const out = new Map<string, Map<string, unknown>>();
  for (const [step, name, table] of backend.tables()) {
    const m = new Map<string, unknown>();
    for (const g of table.keyGroups())
      for (const [key, ns, value] of table.entries(g))
        m.set(`${g}|${ns}|${JSON.stringify(key)}`, structuredClone(value));
    if (m.size > 0) out.set(`${step}/${name}`, m);
  }
  return out;
}

/** A changelog partition as compaction keeps it, and a store writing into it. */
class Log {
  readonly records = new Map<string, Buffer>();
  readonly written: Written = new Map([[P, new Map()]]);
  bytes = 0;
  readonly store: ChangelogStore;
  constructor(partBytes: number) {
    this.store = new ChangelogStore({
      topic: 'app-changelog',
      send: async (messages) => {
        for (const m of messages) {
          assert.equal(m.partition, P);
          const key = m.key.toString('utf8');
          if (m.value === null) this.records.delete(key);
          else {
            this.records.set(key, m.value);
            this.bytes += m.value.length;
          }
        }
      },
      commit: async () => {},
      owned: () => new Set([P]),
      written: this.written,
      partBytes,
    });
  }
  /** A checkpoint of `backend` now, written through the store. */
  async checkpoint(backend: KeyedStateBackend, id: number): Promise<void> {
    const chunks: Chunk[] = (await backend.snapshot!().complete(async () => {})).map(stateChunk);
    chunks.push(metaChunk({ parallelism: 1, subtasks: [{ tasks: {}, sources: {}, operators: {} }] }));
    await this.store.write(
      {
        id,
        kind: 'checkpoint',
        pipeline: 't',
        createdAt: 0,
        maxParallelism: MAX_PARALLELISM,
        parallelism: 1,
      },
      chunks,
    );
  }
  /** What a restore from the log now puts into a fresh backend. */
  restore(backend: HeapStateBackend): Written {
    const written: Written = new Map([[P, new Map()]]);
    const { loaded } = toCheckpoint(
      { topic: 'app-changelog', maxParallelism: MAX_PARALLELISM, pipeline: 't' },
      new Map([[P, new Map(this.records)]]),
      written,
    );
    if (loaded !== undefined)
      new CheckpointRestore(
        loaded,
        1,
        MAX_PARALLELISM,
        { steps: new Set(STEPS), sources: new Set() },
        () => false,
      ).restoreSubtask(0, backend);
    backend.restored();
    return written;
  }
}

/** A few random operations of the kinds the operators make. */
function work(backend: KeyedStateBackend, r: () => number, ops: number): void {
  const tables = [backend.table<Value>('fold', 'view'), backend.table<Value>('count', 'acc')];
  for (let i = 0; i < ops; i++) {
    const table = tables[Math.floor(r() * tables.length)]!;
    const key: Key = r() < 0.5 ? `k${Math.floor(r() * 40)}` : Math.floor(r() * 40);
    const ns = r() < 0.7 ? 0 : 1_700_000_000_000 + Math.floor(r() * 3) * 1000;
    const roll = r();
    if (roll < 0.35) {
      const v: Value =
        r() < 0.5
          ? { n: Math.floor(r() * 100), tags: ['a'.repeat(Math.floor(r() * 300))] }
          : r() < 0.5
            ? i
            : `s${i}`;
      table.put(P, key, ns, v);
    } else if (roll < 0.6) {
      // Read and change in place, without a put (as the window step does on the heap).
      const v = table.get(P, key, ns);
      if (v !== null && typeof v === 'object') {
        v.n++;
        v.tags.push(`t${i}`);
      }
    } else if (roll < 0.8) table.remove(P, key, ns);
    else {
      // A namespace scan that changes some values in place (a window firing reads its entries).
      for (const [, v] of table.namespaceEntries(P, ns)) if (typeof v === 'object' && r() < 0.5) v.n += 10;
    }
  }
}

describe('Kafka changelog with per-key deltas', () => {
  for (const partBytes of [512 * 1024, 48])
    it(`restores exactly the state at each checkpoint's barrier, over 60 seeds (parts of ${partBytes} bytes)`, async () => {
      for (let seed = 1; seed <= 60; seed++) {
        const r = random(seed);
        const log = new Log(partBytes);
        let backend = new HeapStateBackend(MAX_PARALLELISM, { deltas: {} });
        backend.restored();
        for (let cp = 1; cp <= 8; cp++) {
          work(backend, r, 1 + Math.floor(r() * 60));
          const expected = contents(backend);
          await log.checkpoint(backend, cp);
          // Work after the barrier is not in this checkpoint.
          work(backend, r, Math.floor(r() * 10));
          const restored = new HeapStateBackend(MAX_PARALLELISM, { deltas: {} });
          const written = log.restore(restored);
          assert.deepEqual(contents(restored), expected, `seed ${seed}, checkpoint ${cp}`);
          if (r() < 0.3) {
            // The task moved (or restarted): go on from the restore, with what it read as `written`.
            backend = restored;
            log.written.set(P, written.get(P)!);
            // The work after the barrier died with the old owner.
          }
        }
      }
    });

  it('writes only what changed: 10,000 keys, 10 changed, a few hundred bytes', async () => {
    const log = new Log(512 * 1024);
    const backend = new HeapStateBackend(MAX_PARALLELISM, { deltas: {} });
    backend.restored();
    const table = backend.table<{ n: number }>('count', 'acc');
    for (let k = 0; k < 10_000; k++) table.put(P, `key-${k}`, 0, { n: k });
    await log.checkpoint(backend, 1);
    const full = log.bytes;
    for (let k = 0; k < 10; k++) table.get(P, `key-${k * 997}`, 0)!.n++;
    table.remove(P, 'key-5', 0);
    await log.checkpoint(backend, 2);
    const delta = log.bytes - full;
    assert.ok(full > 100_000, `the first checkpoint writes every entry (${full} bytes)`);
    assert.ok(delta < 1000, `the second writes 10 entries and a tombstone: ${delta} bytes`);
    const restored = new HeapStateBackend(MAX_PARALLELISM, { deltas: {} });
    log.restore(restored);
    assert.deepEqual(contents(restored), contents(backend));
  });

  it('upgrades a changelog written whole per key group: the first checkpoint writes every entry and deletes the chunks', async () => {
    const log = new Log(512 * 1024);
    const whole = new HeapStateBackend(MAX_PARALLELISM);
    const r = random(7);
    work(whole, r, 200);
    await log.checkpoint(whole, 1);
    assert.ok([...log.records.keys()].some((k) => k.startsWith('c/state/')));
    const expected = contents(whole);
    // The task restarts with incremental snapshots; its restore read the whole chunks.
    const backend = new HeapStateBackend(MAX_PARALLELISM, { deltas: { fullFirst: true } });
    log.written.set(P, log.restore(backend).get(P)!);
    assert.deepEqual(contents(backend), expected);
    await log.checkpoint(backend, 2);
    assert.deepEqual(
      [...log.records.keys()].filter((k) => k.startsWith('c/state/')),
      [],
      'the whole chunks are gone',
    );
    work(backend, r, 100);
    const after = contents(backend);
    await log.checkpoint(backend, 3);
    const restored = new HeapStateBackend(MAX_PARALLELISM, { deltas: {} });
    log.restore(restored);
    assert.deepEqual(contents(restored), after);
  });
});
