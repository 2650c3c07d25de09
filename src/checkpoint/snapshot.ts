/**
 * Turning a run's state into checkpoint chunks and back. A checkpoint holds:
 * - `state` chunks: one per (step, state table, key group), from the backend;
 * - `keyed` chunks: one per (task, item name, key group), an operator's keyed
 *   items outside the backend (timers);
 * - one `meta` chunk: source positions, watermarks, and each operator's
 *   non-keyed data (a sink's pending commit).
 * Everything keyed is split by key group, so a restore can take only the
 * groups it owns — that is what rescaling is.
 */

import { decode, encode } from '../codec/chunks.ts';
import { EntryWriter } from '../codec/entries.ts';
import { type Assignment, type Key, workerForKeyGroup } from '../core/key-groups.ts';
import { EddyError } from '../errors/index.ts';
import type { KeyedItems, RestoredOperator } from '../operators/operator.ts';
import type { KeyedStateBackend, StateChunk, StateSnapshot } from '../state/backend.ts';
import type { Chunk, LoadedCheckpoint } from './storage.ts';

/** A task's watermarks in a checkpoint: its own, each input channel's, and what it forwarded. */
export interface TaskWatermarks {
  readonly watermark: number;
  readonly inputs: readonly number[];
  readonly forwarded: number;
}

/** A source's watermark generator in a checkpoint (its per-split maxima). */
export interface FeederSnapshot {
  readonly emitted: number;
  /** The splits this feeder read, with their maxima: restored as they were. */
  readonly splits: readonly (readonly [string, number])[];
  /**
   * After a rescale: every split's maximum from every old subtask, taken up
   * only by the splits this subtask goes on to read (the others would hold
   * its watermark back for ever).
   */
  readonly known?: readonly (readonly [string, number])[];
}

/** One subtask's non-keyed part of a checkpoint. */
export interface SubtaskMeta {
  readonly tasks: Record<string, TaskWatermarks>;
  readonly sources: Record<string, { readonly position: unknown; readonly feeder: FeederSnapshot }>;
  readonly operators: Record<string, unknown>;
}

/** The non-keyed part of a checkpoint: one entry per subtask that wrote it. */
export interface CheckpointMeta {
  readonly parallelism: number;
  readonly subtasks: readonly SubtaskMeta[];
}

/** Encodes an operator's keyed items, one chunk per (name, key group). */
export function keyedChunks(task: string, keyed: readonly KeyedItems[]): Chunk[] {
  return keyed
    .filter((k) => k.items.length > 0)
    .map((k) => ({
      kind: 'keyed' as const,
      step: task,
      name: k.name,
      keyGroup: k.keyGroup,
      entries: k.items.length,
      bytes: encode(k.items),
    }));
}

export function stateChunk(c: StateChunk): Chunk {
  return {
    kind: 'state',
    step: c.step,
    name: c.table,
    keyGroup: c.keyGroup,
    entries: c.entries,
    bytes: c.bytes,
    ...(c.delta === undefined ? {} : { delta: c.delta }),
  };
}

export function metaChunk(meta: CheckpointMeta): Chunk {
  return { kind: 'meta', step: '', name: 'meta', keyGroup: -1, entries: 1, bytes: encode(meta) };
}

/**
 * A snapshot for backends without their own: reads every table now, at the
 * barrier (a synchronous pause proportional to the state's size).
 */
export function readAllNow(backend: KeyedStateBackend): StateSnapshot {
  const chunks: StateChunk[] = [];
  const w = new EntryWriter();
  for (const [step, table, t] of backend.tables()) {
    for (const g of [...t.keyGroups()]) {
      w.begin();
      for (const [key, ns, value] of t.entries(g)) w.entry(key, ns, value);
      if (w.count > 0) chunks.push({ step, table, keyGroup: g, entries: w.count, bytes: w.finish() });
    }
  }
  return { complete: async () => chunks };
}

/** What one subtask gets back from a checkpoint. */
export interface SubtaskRestore {
  readonly checkpointId: number;
  readonly tasks: Record<string, TaskWatermarks>;
  readonly sources: SubtaskMeta['sources'];
  readonly operators: ReadonlyMap<string, RestoredOperator>;
  /** State entries put into the subtask's backend. */
  readonly entries: number;
}

/**
 * Reads a checkpoint for a job of `parallelism` subtasks (maybe not the
 * parallelism that wrote it). `restoreSubtask(k, backend)` puts the state of
 * the key groups subtask k owns into its backend and returns the rest of what
 * it gets back. At another parallelism, watermarks restart from the lowest any
 * old subtask had (conservative: nothing that was on time becomes late), the
 * positions of a splittable source's splits are merged so that each split's
 * new owner finds it, and sinks' pending commits go to subtask 0, where sinks run.
 */
export class CheckpointRestore {
  readonly checkpointId: number;
  readonly #loaded: LoadedCheckpoint;
  readonly #meta: CheckpointMeta;
  readonly #parallelism: number;
  readonly #splittable: (sourceId: string) => boolean;

  constructor(
    loaded: LoadedCheckpoint,
    parallelism: number,
    maxParallelism: number,
    known: { readonly steps: ReadonlySet<string>; readonly sources: ReadonlySet<string> },
    splittable: (sourceId: string) => boolean,
  ) {
    const m = loaded.manifest;
    if (m.maxParallelism !== maxParallelism) {
      throw new EddyError(
        'EDDY_CHECKPOINT_INVALID',
        `${loaded.dir} was written with maxParallelism ${m.maxParallelism}, but this pipeline has ${maxParallelism}; key groups cannot be re-split across a different maxParallelism — set it back to ${m.maxParallelism}`,
      );
    }
    let meta: CheckpointMeta | undefined;
    for (const ref of m.chunks) {
      if (ref.kind === 'meta') meta = decode(loaded.read(ref)) as CheckpointMeta;
      else if (!known.steps.has(ref.step)) {
        throw new EddyError(
          'EDDY_CHECKPOINT_INVALID',
          `${loaded.dir} holds state of step "${ref.step}", which this pipeline has no step for; keep step ids stable (name steps explicitly) or start without the checkpoint`,
        );
      }
    }
    if (meta === undefined || !Array.isArray(meta.subtasks)) {
      throw new EddyError(
        'EDDY_CHECKPOINT_INVALID',
        `${loaded.dir} has no meta chunk; it is not an eddy checkpoint`,
      );
    }
    for (const sub of meta.subtasks) {
      for (const id of Object.keys(sub.sources)) {
        if (!known.sources.has(id)) {
          throw new EddyError(
            'EDDY_CHECKPOINT_INVALID',
            `${loaded.dir} holds the position of source "${id}", which this pipeline has no source for; keep source ids stable or start without the checkpoint`,
          );
        }
      }
    }
    this.checkpointId = m.id;
    this.#loaded = loaded;
    this.#meta = meta;
    this.#parallelism = parallelism;
    this.#splittable = splittable;
  }

  /**
   * `assignment` says which subtask owns each key group (default: contiguous
   * ranges); a rebalanced run passes the table it moved groups in.
   */
  restoreSubtask(subtask: number, backend: KeyedStateBackend, assignment?: Assignment): SubtaskRestore {
    const loaded = this.#loaded;
    const maxP = backend.maxParallelism;
    const n = this.#parallelism;
    const owner = (g: number) => (assignment === undefined ? workerForKeyGroup(maxP, n, g) : assignment[g]);
    const keyed = new Map<string, Map<string, unknown[]>>();
    let entries = 0;
    for (const ref of loaded.manifest.chunks) {
      if (ref.kind === 'meta' || owner(ref.keyGroup) !== subtask) continue;
      const items = loaded.items?.(ref) ?? (decode(loaded.read(ref)) as unknown[]);
      if (ref.kind === 'state') {
        const table = backend.table<unknown>(ref.step, ref.name);
        for (let i = 0; i + 2 < items.length; i += 3)
          table.put(ref.keyGroup, items[i] as Key, items[i + 1] as number, items[i + 2]);
        entries += items.length / 3;
      } else {
        let byName = keyed.get(ref.step);
        if (byName === undefined) keyed.set(ref.step, (byName = new Map()));
        const list = byName.get(ref.name);
        if (list === undefined) byName.set(ref.name, items);
        else for (const item of items) list.push(item);
      }
    }
    const subs = this.#meta.subtasks;
    const same = subs.length === n;
    const tasks: Record<string, TaskWatermarks> = same ? { ...subs[subtask]!.tasks } : {};
    if (!same) {
      for (const sub of subs) {
        for (const [id, w] of Object.entries(sub.tasks)) {
          const prev = tasks[id];
          tasks[id] =
            prev === undefined
              ? { watermark: w.watermark, forwarded: w.forwarded, inputs: [] }
              : {
                  watermark: Math.min(prev.watermark, w.watermark),
                  forwarded: Math.min(prev.forwarded, w.forwarded),
                  inputs: [],
                };
        }
      }
    }
    const sources: Record<string, SubtaskMeta['sources'][string]> = {};
    const ids = new Set(subs.flatMap((sub) => Object.keys(sub.sources)));
    for (const id of ids) {
      if (!this.#splittable(id)) {
        // Read by subtask 0 only, then and now.
        const s0 = subs[0]!.sources[id];
        if (subtask === 0 && s0 !== undefined) sources[id] = s0;
        continue;
      }
      if (same) {
        const own = subs[subtask]!.sources[id];
        const merged = mergePositions(subs.map((sub) => sub.sources[id]?.position));
        if (own !== undefined) sources[id] = { position: merged, feeder: own.feeder };
        continue;
      }
      const feeders = subs.map((sub) => sub.sources[id]?.feeder).filter((f) => f !== undefined);
      sources[id] = {
        position: mergePositions(subs.map((sub) => sub.sources[id]?.position)),
        feeder: {
          emitted: Math.min(...feeders.map((f) => f.emitted)),
          splits: [],
          // Each split's maximum goes to its new owner: its records' floors go on as before (issue 19).
          known: feeders.flatMap((f) => [...f.splits, ...(f.known ?? [])]),
        },
      };
    }
    const operators = new Map<string, RestoredOperator>();
    for (const [task, w] of Object.entries(tasks)) {
      const data = same || subtask === 0 ? subs[same ? subtask : 0]!.operators[task] : undefined;
      operators.set(task, {
        checkpointId: this.checkpointId,
        watermark: w.watermark,
        keyed: keyed.get(task) ?? new Map(),
        data,
      });
    }
    return { checkpointId: this.checkpointId, tasks, sources, operators, entries };
  }
}

/** A splittable source's position is an object keyed by split: the union over subtasks. */
function mergePositions(positions: readonly unknown[]): unknown {
  const merged: Record<string, unknown> = Object.create(null);
  for (const p of positions) {
    if (p === null || typeof p !== 'object') continue;
    for (const [split, pos] of Object.entries(p as Record<string, unknown>)) merged[split] = pos;
  }
  return merged;
}
