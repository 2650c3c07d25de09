/**
 * The checkpoint protocol across subtasks, whatever thread each runs in. A
 * participant is one subtask; the coordinator drives the phases on all of
 * them in lockstep:
 *
 * 1. close every gate and wait until every source loop waits at it;
 * 2. drain until no subtask has work in flight and every link between threads
 *    is empty (messages sent = received at the other end), since draining one
 *    subtask can hand records to another;
 * 3. take every subtask's synchronous snapshot (positions, watermarks, timers,
 *    sinks' pre-commits, the state backend's copy-on-access mark);
 * 4. open the gates (a savepoint keeps them closed);
 * 5. collect the encoded chunks while records flow, write the checkpoint
 *    atomically, and tell every subtask it is complete (sinks commit).
 */
import type { SubtaskMeta } from './snapshot.ts';
import { type CheckpointMeta, metaChunk } from './snapshot.ts';
import type { Chunk } from './storage.ts';

/** One subtask as the coordinator sees it (in this thread or another). */
export interface Participant {
  /** Closes the gate; resolves once every source loop of the subtask waits at it. */
  park(): Promise<void>;
  /** Lets work in flight finish; says whether there was any, and the message counts of its links by peer. */
  drain(): Promise<{ busy: boolean; sent: Record<number, number>; received: Record<number, number> }>;
  /** Takes the synchronous snapshot for checkpoint `id`; resolves once it is taken (not encoded). */
  snapshot(id: number): Promise<void>;
  openGate(): void;
  /** Resolves with the subtask's meta and encoded chunks once its snapshot is complete. */
  collect(): Promise<{ meta: SubtaskMeta; chunks: Chunk[]; entries: number }>;
  /** The checkpoint is durable: operators commit. */
  complete(id: number): Promise<void>;
}

export interface Timings {
  alignmentMs: number;
  syncMs: number;
}

/**
 * Runs phases 1–4 and returns a function for phase 5's collection. Throws
 * (with the gates opened again) when a phase fails.
 */
export async function barrier(
  participants: readonly Participant[],
  id: number,
  holdGates: boolean,
  timings: Timings,
): Promise<void> {
  const t0 = performance.now();
  try {
    await Promise.all(participants.map((p) => p.park()));
    for (;;) {
      const states: Awaited<ReturnType<Participant['drain']>>[] = [];
      for (const p of participants) states.push(await p.drain());
      const busy = states.some((s) => s.busy);
      let inFlight = false;
      states.forEach((s, a) => {
        for (const [b, n] of Object.entries(s.sent))
          if (states[Number(b)]?.received[a] !== n) inFlight = true;
      });
      if (!busy && !inFlight) break;
      // Messages between threads still travelling: let them arrive.
      if (inFlight && !busy) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const t1 = performance.now();
    timings.alignmentMs = t1 - t0;
    await Promise.all(participants.map((p) => p.snapshot(id)));
    timings.syncMs = performance.now() - t1;
  } catch (e) {
    for (const p of participants) p.openGate();
    throw e;
  }
  if (!holdGates) for (const p of participants) p.openGate();
}

/** Phase 5's collection: every participant's chunks plus the meta chunk. */
export async function collect(
  participants: readonly Participant[],
  parallelism: number,
): Promise<{ chunks: Chunk[]; entries: number }> {
  const chunks: Chunk[] = [];
  const metas: SubtaskMeta[] = [];
  let entries = 0;
  for (const p of participants) {
    const r = await p.collect();
    metas.push(r.meta);
    for (const c of r.chunks) chunks.push(c);
    entries += r.entries;
  }
  const meta: CheckpointMeta = { parallelism, subtasks: metas };
  chunks.push(metaChunk(meta));
  return { chunks, entries };
}
