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
import { EddyError } from '../errors/index.ts';
import type { KeyedItems, RestoredOperator } from '../runtime/operator.ts';
import type { TaskWatermarks } from '../runtime/task.ts';
import type { FeederSnapshot } from '../runtime/timestamps.ts';
import type { KeyedStateBackend, StateChunk, StateSnapshot } from '../state/backend.ts';
import type { Key } from '../state/key-groups.ts';
import { decode, encode } from './codec.ts';
import type { Chunk, LoadedCheckpoint } from './storage.ts';

/** The non-keyed part of a checkpoint. */
export interface CheckpointMeta {
  readonly tasks: Record<string, TaskWatermarks>;
  readonly sources: Record<string, { readonly position: unknown; readonly feeder: FeederSnapshot }>;
  readonly operators: Record<string, unknown>;
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
  for (const [step, table, t] of backend.tables()) {
    for (const g of [...t.keyGroups()]) {
      const flat: unknown[] = [];
      for (const [key, ns, value] of t.entries(g)) flat.push(key, ns, value);
      if (flat.length > 0)
        chunks.push({ step, table, keyGroup: g, entries: flat.length / 3, bytes: encode(flat) });
    }
  }
  return { complete: async () => chunks };
}

/** What a restore needs, read from a loaded checkpoint for the key groups `owns` accepts. */
export interface Restore {
  readonly checkpointId: number;
  readonly meta: CheckpointMeta;
  readonly operators: ReadonlyMap<string, RestoredOperator>;
  /** Entries put into the backend. */
  readonly entries: number;
}

/**
 * Puts a checkpoint's state for the owned key groups into `backend` and
 * gathers what each operator gets back. `knownSteps` are the pipeline's step
 * and task ids: state of a step the pipeline no longer has is an error, not
 * something to drop silently.
 */
export function restoreFrom(
  loaded: LoadedCheckpoint,
  backend: KeyedStateBackend,
  owns: (keyGroup: number) => boolean,
  knownSteps: ReadonlySet<string>,
): Restore {
  const m = loaded.manifest;
  if (m.maxParallelism !== backend.maxParallelism) {
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `${loaded.dir} was written with maxParallelism ${m.maxParallelism}, but this pipeline has ${backend.maxParallelism}; key groups cannot be re-split across a different maxParallelism — set it back to ${m.maxParallelism}`,
    );
  }
  let meta: CheckpointMeta | undefined;
  const keyed = new Map<string, Map<string, unknown[]>>();
  let entries = 0;
  for (const ref of m.chunks) {
    if (ref.kind === 'meta') {
      meta = decode(loaded.read(ref)) as CheckpointMeta;
      continue;
    }
    if (!knownSteps.has(ref.step)) {
      throw new EddyError(
        'EDDY_CHECKPOINT_INVALID',
        `${loaded.dir} holds state of step "${ref.step}", which this pipeline has no step for; keep step ids stable (name steps explicitly) or start without the checkpoint`,
      );
    }
    if (!owns(ref.keyGroup)) continue;
    const items = decode(loaded.read(ref)) as unknown[];
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
  if (meta === undefined) {
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `${loaded.dir} has no meta chunk; it is not an eddy checkpoint`,
    );
  }
  const operators = new Map<string, RestoredOperator>();
  for (const [task, w] of Object.entries(meta.tasks)) {
    operators.set(task, {
      checkpointId: m.id,
      watermark: w.watermark,
      keyed: keyed.get(task) ?? new Map(),
      data: meta.operators[task],
    });
  }
  return { checkpointId: m.id, meta, operators, entries };
}
