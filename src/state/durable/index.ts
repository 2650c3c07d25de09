/**
 * The durable keyed-state backend: state larger than memory, kept in an
 * embedded LMDB store on local disk behind a write-back cache of hot entries.
 *
 * Why LMDB (`lmdb` 3.5.6) and not LevelDB (`classic-level` 3.0.0): measured
 * by `npm run bench -- state-store` on the shared 2-core development machine
 * (200k entries, ~24-byte keys, 155-byte values, puts in batches of 1000, no
 * fsync per batch; two runs, the machine under load, so ranges):
 *
 *                      lmdb            classic-level
 *   random get         88k-149k/s      20k-55k/s (getSync)
 *   batched put        98k-407k/s      78k-276k/s
 *   range read         ~125k/s         76k-197k/s (async iterator only)
 *
 * LMDB is faster at the reads a cache miss pays for, and it reads ranges
 * synchronously, which `entries(keyGroup)` and `namespaceEntries` need (the
 * state interface is synchronous); `classic-level` only iterates
 * asynchronously, which alone rules it out.
 *
 * Layout, cache and counts: see `encoding.ts`, `cache.ts` and `table.ts`.
 */
import { resolve } from 'node:path';
import { DEFAULT_MAX_PARALLELISM } from '../../core/key-groups.ts';
import { configError, EddyError } from '../../errors/index.ts';
import type { KeyedStateBackend } from '../backend.ts';
import { DurableBackend } from './backend.ts';
import { MAX_KEY_GROUPS } from './encoding.ts';
import { LmdbStore } from './store.ts';

export interface DurableStateOptions {
  /** The directory of the store (created if missing). One backend per directory. */
  readonly path: string;
  /**
   * How many entries the write-back cache holds, across all tables; default
   * 100,000. Hits on cached entries never touch the store; dirty entries are
   * written in batches when evicted and on `flush()`. Cached misses and
   * removals take a slot too.
   */
  readonly cacheEntries?: number;
  /** The number of key groups; must equal the pipeline's `maxParallelism`. Default 128. */
  readonly maxParallelism?: number;
  /**
   * Keep what an earlier backend left at `path`; default false: the store
   * starts empty, because a run's state comes from its checkpoint, which
   * refills the backend with `put` on restore. Set it to reopen a store that
   * was flushed or closed, e.g. for local state that outlives the process.
   */
  readonly reuse?: boolean;
}

/** A durable backend: `flush()` and `close()` always exist and return promises. */
export interface DurableStateBackend extends KeyedStateBackend {
  readonly kind: 'durable';
  /** Writes every dirty cached entry and resolves once the store is on disk. */
  flush(): Promise<void>;
  /** Flushes, then closes the store. The backend cannot be used afterwards. */
  close(): Promise<void>;
}

const DEFAULTS = { cacheEntries: 100_000, maxParallelism: DEFAULT_MAX_PARALLELISM, reuse: false } as const;
const KNOWN = new Set(['path', 'cacheEntries', 'maxParallelism', 'reuse']);

// Two backends on one directory would delete or overwrite each other's state.
const openPaths = new Set<string>();

/**
 * Makes a keyed state backend whose state may be larger than memory. Reads and
 * writes stay synchronous: hot entries are served from a bounded write-back
 * cache, the rest with a synchronous LMDB read. Values are copied when they go
 * to the store (msgpackr, structured-clone types), so change a value and `put`
 * it again rather than mutating it in place. `-0` reads back as `0`.
 *
 * Opening at a path that holds an earlier store starts empty unless
 * `reuse: true`. Call `close()` (or at least `flush()`) before the process
 * ends; otherwise cached writes are lost, which a checkpoint restore repairs.
 *
 * @example
 * ```ts
 * const backend = durableStateBackend({ path: '/var/lib/eddy/worker-0', cacheEntries: 200_000 });
 * const counts = backend.table<number>('count-3', 'acc');
 * counts.put(5, 'device-1', 0, 42);
 * await backend.close();
 * ```
 */
export function durableStateBackend(options: DurableStateOptions): DurableStateBackend {
  if (options === null || typeof options !== 'object')
    throw configError(
      'durableStateBackend needs an options object',
      options,
      'pass { path: "/some/dir" } and optionally cacheEntries, maxParallelism, reuse',
    );
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name))
      throw configError(
        `durableStateBackend has no option "${name}"`,
        (options as unknown as Record<string, unknown>)[name],
        `use only ${[...KNOWN].join(', ')}`,
      );
  }
  const { path } = options;
  if (typeof path !== 'string' || path.length === 0)
    throw configError('durableStateBackend needs a path', path, 'pass { path: "/some/dir" }');
  const cacheEntries = options.cacheEntries ?? DEFAULTS.cacheEntries;
  if (!Number.isSafeInteger(cacheEntries) || cacheEntries < 1 || cacheEntries > 2 ** 30)
    throw configError(
      'cacheEntries must be an integer in [1, 2^30]',
      cacheEntries,
      'pass how many entries to keep in memory, e.g. 100_000',
    );
  const maxParallelism = options.maxParallelism ?? DEFAULTS.maxParallelism;
  if (!Number.isSafeInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > MAX_KEY_GROUPS)
    throw configError(
      `maxParallelism must be an integer in [1, ${MAX_KEY_GROUPS}]`,
      maxParallelism,
      "pass the pipeline's maxParallelism (default 128)",
    );
  const reuse = options.reuse ?? DEFAULTS.reuse;
  if (typeof reuse !== 'boolean')
    throw configError('reuse must be a boolean', reuse, 'pass true to keep an earlier store, or omit it');

  const dir = resolve(path);
  if (openPaths.has(dir))
    throw configError(
      'another durable state backend in this process already uses this path',
      path,
      'give each backend (each worker) its own directory, or close the other one first',
    );
  let store: LmdbStore;
  try {
    store = LmdbStore.open(dir, reuse);
  } catch (e) {
    throw new EddyError(
      'EDDY_IO_FAILED',
      `cannot open the state store; received ${JSON.stringify(path)}; check that it is a writable directory on a local disk (${(e as Error).message})`,
      { cause: e },
    );
  }
  openPaths.add(dir);
  const backend = new DurableBackend(store, cacheEntries, maxParallelism, () => openPaths.delete(dir));
  if (reuse) {
    try {
      backend.load();
    } catch (e) {
      void backend.close();
      throw e;
    }
  }
  return backend;
}
