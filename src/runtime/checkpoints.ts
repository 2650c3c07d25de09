/**
 * Taking one checkpoint or savepoint over a run's subtasks, whatever thread
 * they run in: the aligned-barrier protocol (`checkpoint/coordinator.ts`),
 * then encoding, writing and committing; and an executor of this thread as a
 * participant of that protocol.
 */
import { barrier, collect, type Participant } from '../checkpoint/coordinator.ts';
import { keyedChunks, stateChunk } from '../checkpoint/snapshot.ts';
import { type CheckpointStore, type Chunk, writeCheckpointDir } from '../checkpoint/storage.ts';
import type { Executor, SubtaskSnapshot } from './executor.ts';

/** What one checkpoint or savepoint took. */
export interface CheckpointInfo {
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  /** Where it was written. */
  readonly dir: string;
  readonly bytes: number;
  /** State entries in it. */
  readonly entries: number;
  /** From the trigger until every source was paused and in-flight work drained. */
  readonly alignmentMs: number;
  /** The synchronous part at the barrier (sources paused). */
  readonly syncMs: number;
  /** Encoding and writing, while processing went on. */
  readonly asyncMs: number;
  /** From the trigger until it was durable and committed. */
  readonly durationMs: number;
  readonly error?: unknown;
}

/** Checkpoint counters for the metrics snapshot. */
export interface CheckpointMetrics {
  readonly completed: number;
  readonly failed: number;
  readonly last: CheckpointInfo | undefined;
  /** The checkpoint this run resumed from, if any. */
  readonly restoredFrom: number | undefined;
}

/** Takes one checkpoint or savepoint over `participants`; never throws: a failure is in `error`. */
export async function takeCheckpoint(o: {
  readonly participants: readonly Participant[];
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly pipeline: string;
  readonly storage: CheckpointStore | undefined;
  readonly savepointDir: string | undefined;
  /** Keep the sources paused after the barrier (default: for a savepoint): the run stops after it. */
  readonly hold?: boolean;
}): Promise<CheckpointInfo> {
  const t0 = performance.now();
  const timings = { alignmentMs: 0, syncMs: 0 };
  let dir = o.savepointDir ?? o.storage?.dir ?? '';
  const result = (extra: Partial<CheckpointInfo>): CheckpointInfo => ({
    id: o.id,
    kind: o.kind,
    dir,
    bytes: 0,
    entries: 0,
    ...timings,
    asyncMs: 0,
    durationMs: performance.now() - t0,
    ...extra,
  });
  try {
    await barrier(o.participants, o.id, o.hold ?? o.kind === 'savepoint', timings);
  } catch (error) {
    return result({ error });
  }
  try {
    const t2 = performance.now();
    const { chunks, entries } = await collect(o.participants, o.parallelism);
    const header = {
      id: o.id,
      kind: o.kind,
      pipeline: o.pipeline,
      createdAt: Date.now(),
      maxParallelism: o.maxParallelism,
      parallelism: o.parallelism,
    };
    const written =
      o.savepointDir !== undefined || o.storage === undefined
        ? await writeCheckpointDir(o.savepointDir ?? dir, header, chunks)
        : await o.storage.write(header, chunks);
    dir = written.dir;
    // Durable: sinks may now make the checkpoint's output visible.
    for (const p of o.participants) await p.complete(o.id);
    if (o.savepointDir === undefined) await o.storage?.prune();
    return result({ bytes: written.bytes, entries, asyncMs: performance.now() - t2 });
  } catch (error) {
    return result({ error });
  }
}

/** An executor in this thread as a checkpoint participant; `links` are its links to other threads. */
export function localParticipant(
  ex: Executor,
  links: ReadonlyMap<number, { sent: number; received: number }> = new Map(),
): Participant {
  let taken: SubtaskSnapshot | undefined;
  return {
    async park() {
      ex.closeGate();
      await ex.whenParked();
    },
    async drain() {
      const busy = await ex.drainInFlight();
      const sent: Record<number, number> = {};
      const received: Record<number, number> = {};
      for (const [k, l] of links) {
        sent[k] = l.sent;
        received[k] = l.received;
      }
      return { busy, sent, received };
    },
    async snapshot(id) {
      taken = ex.snapshot(id);
    },
    openGate: () => ex.openGate(),
    async collect() {
      const snap = taken!;
      taken = undefined;
      const collected = await collectSubtask(snap);
      ex.noteStateBytes(bytesByStep(collected.chunks));
      return collected;
    },
    complete: (id) => ex.checkpointComplete(id),
  };
}

/** The encoded bytes of a subtask's chunks, by step. */
export function bytesByStep(chunks: readonly Chunk[]): Map<string, number> {
  const out = new Map<string, number>();
  // A delta chunk holds only the changes: its table's whole size is estimated from them.
  for (const c of chunks)
    out.set(c.step, (out.get(c.step) ?? 0) + (c.delta?.estimatedBytes ?? c.bytes.length));
  return out;
}

/** Awaits a subtask's snapshot parts (sinks' pre-commits, background encoding) and encodes them. */
export async function collectSubtask(
  snap: SubtaskSnapshot,
): Promise<{ meta: SubtaskSnapshot['meta']; chunks: Chunk[]; entries: number }> {
  const chunks: Chunk[] = [];
  let entries = 0;
  for (const { task, snapshot } of snap.operators) {
    const s = await snapshot;
    if (s?.keyed !== undefined) chunks.push(...keyedChunks(task, s.keyed));
    if (s?.data !== undefined) snap.meta.operators[task] = s.data;
  }
  for (const c of await snap.state.complete(() => new Promise((resolve) => setImmediate(resolve)))) {
    chunks.push(stateChunk(c));
    entries += c.entries;
  }
  return { meta: snap.meta, chunks, entries };
}
