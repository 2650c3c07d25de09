/**
 * The keyed state backend interface. Every stateful step keeps its state in
 * named tables; a table maps (key group, key, namespace) to a value. The
 * namespace is a number: 0 for plain keyed state, the window's start for window
 * state. Partitioning by key group is what lets a checkpoint snapshot state per
 * group and a restore re-split the groups across a different number of workers.
 *
 * Reads and writes are synchronous on purpose: they run once per record on the
 * hot path. A durable backend keeps hot entries in memory (write-back) and
 * reads the rest with a synchronous store call.
 */
import type { Key } from '../core/key-groups.ts';

/** One state table of one step. */
export interface StateTable<V> {
  get(keyGroup: number, key: Key, namespace: number): V | undefined;
  put(keyGroup: number, key: Key, namespace: number, value: V): void;
  remove(keyGroup: number, key: Key, namespace: number): void;
  /** Every entry of one namespace in one key group (iteration order unspecified). */
  namespaceEntries(keyGroup: number, namespace: number): Iterable<readonly [Key, V]>;
  /** Every entry of one key group, as [key, namespace, value]. */
  entries(keyGroup: number): Iterable<readonly [Key, number, V]>;
  /** The key groups that hold at least one entry. */
  keyGroups(): Iterable<number>;
  /** The number of entries. */
  size(): number;
}

/** One table's entries in one key group, encoded (`[key, namespace, value, key, ...]`, flat). */
export interface StateChunk {
  readonly step: string;
  readonly table: string;
  readonly keyGroup: number;
  readonly entries: number;
  readonly bytes: Uint8Array;
  /**
   * Set on a chunk of an incremental snapshot (`HeapStateBackend` with
   * `deltas`): `bytes` holds only the entries changed since the last
   * snapshot, and this the ones removed since, as flat `[key, namespace, …]`.
   * Only a store that keeps entries one by one (the Kafka changelog) takes
   * such chunks.
   */
  readonly delta?: DeltaInfo;
}

/** What a delta chunk adds to a whole one (see `StateChunk.delta`). */
export interface DeltaInfo {
  /** Entries removed since the last snapshot: `[key, namespace, key, namespace, …]`. */
  readonly removed: readonly (Key | number)[];
  /** The table's entries in this key group at the barrier (the chunk holds only the changed ones). */
  readonly tableEntries: number;
  /** An estimate of what the whole key group of the table would encode to (the metrics' state bytes). */
  readonly estimatedBytes: number;
}

/**
 * A snapshot of every table as it was at one instant (a checkpoint barrier),
 * finished later while processing goes on.
 */
export interface StateSnapshot {
  /**
   * Encodes what is not encoded yet; `pause` is awaited between slices so
   * processing keeps running. Resolves with one chunk per (table, key group).
   */
  complete(pause: () => Promise<void>): Promise<StateChunk[]>;
}

/** A set of named state tables for the steps of one worker. */
export interface KeyedStateBackend {
  readonly kind: string;
  readonly maxParallelism: number;
  /** The table `name` of step `stepId`, created empty on first use. */
  table<V>(stepId: string, name: string): StateTable<V>;
  /** The names of the tables of `stepId` that exist. */
  tableNames(stepId: string): readonly string[];
  /** Every table that exists, as [stepId, name, table] (what a checkpoint snapshots). */
  tables(): Iterable<readonly [stepId: string, name: string, table: StateTable<unknown>]>;
  /**
   * Starts a snapshot of every table as it is now. Optional: without it, a
   * checkpoint reads every table synchronously at the barrier.
   */
  snapshot?(): StateSnapshot;
  /**
   * The job has put the state it restores (if any) into the backend, and no
   * record has been processed yet: a backend that snapshots incrementally
   * counts changes from here (the restored state is already where it came
   * from). Optional.
   */
  restored?(): void;
  /** Makes buffered writes durable (a write-back cache flushes here). Optional: the heap has nothing to flush. */
  flush?(): void | Promise<void>;
  /** Releases files and handles; called once when the run stops. */
  close?(): void | Promise<void>;
}
