/**
 * The state-store benchmark, in two parts, each side measured in this process
 * one after the other so the ratios hold on a noisy machine.
 *
 * 1. The raw stores a durable backend could sit on, on the same pre-encoded
 *    keys (the backend's layout) and ~150-byte values: `lmdb` (synchronous
 *    get, batched puts in one synchronous transaction) against `classic-level`
 *    (getSync, batched puts with `batch()`); plus range-read rates. Neither
 *    syncs to disk per batch. `classic-level` is not a dependency of eddy: to
 *    compare, `npm install --no-save classic-level@3.0.0` first; without it,
 *    its figures are null.
 * 2. The durable backend (with its write-back cache) against the heap backend:
 *    get and put throughput with a hot working set (half the cache) and a
 *    cold one (8x the cache, uniformly random keys).
 *
 * Flags: --entries N (raw stores, default 200000), --cache N (default 50000).
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"state-store","lmdbGetPerSec":…,"lmdbPutPerSec":…,"levelGetPerSec":…,"levelPutPerSec":…,"chosen":"lmdb",…}
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';
import { keyGroupOf } from '../src/core/key-groups.ts';
import type { StateTable } from '../src/state/backend.ts';
import { encodeKey, encodeValue, groupPrefix, prefixEnd } from '../src/state/durable/encoding.ts';
import { durableStateBackend } from '../src/state/durable/index.ts';
import { HeapStateBackend } from '../src/state/heap.ts';

const BATCH = 1000;
const MAX_P = 128;

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function perSec(n: number, ms: number): number {
  return Math.round((n * 1000) / ms);
}

/** A ~150-byte value once encoded: what a window accumulator or a session might hold. */
function makeValue(i: number): { id: number; device: string; readings: number[] } {
  return { id: i, device: `dev-${i}`, readings: Array.from({ length: 14 }, (_, k) => i + k / 8) };
}

/** A deterministic shuffle of [0, n). */
function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const j = x % (i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

interface RawFigures {
  getPerSec: number;
  putPerSec: number;
  scanPerSec: number;
}

function rawData(entries: number): { keys: Buffer[]; values: Uint8Array[] } {
  const keys: Buffer[] = [];
  const values: Uint8Array[] = [];
  for (let i = 0; i < entries; i++) {
    const key = `key-${i}`;
    keys.push(encodeKey(1, keyGroupOf(key, MAX_P), 0, key));
    values.push(Uint8Array.from(encodeValue(makeValue(i))));
  }
  return { keys, values };
}

function benchLmdb(dir: string, keys: Buffer[], values: Uint8Array[], order: Uint32Array): RawFigures {
  const db = open<Uint8Array, Buffer>({ path: dir, keyEncoding: 'binary', encoding: 'binary', noSync: true });
  let t0 = performance.now();
  for (let b = 0; b < keys.length; b += BATCH) {
    db.transactionSync(() => {
      for (let i = b; i < Math.min(b + BATCH, keys.length); i++) db.put(keys[i]!, values[i]!);
    });
  }
  const putPerSec = perSec(keys.length, performance.now() - t0);
  t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < order.length; i++) bytes += db.getBinary(keys[order[i]!]!)!.length;
  const getPerSec = perSec(order.length, performance.now() - t0);
  t0 = performance.now();
  let scanned = 0;
  for (let g = 0; g < MAX_P; g++) {
    const start = groupPrefix(1, g);
    for (const _ of db.getRange({ start, end: prefixEnd(start) })) scanned++;
  }
  const scanPerSec = perSec(scanned, performance.now() - t0);
  if (bytes === 0 || scanned !== keys.length) throw new Error('lmdb read back nothing');
  void db.close();
  return { getPerSec, putPerSec, scanPerSec };
}

/** The few `classic-level` calls used here (it is loaded only if installed). */
interface LevelDb {
  open(): Promise<void>;
  close(): Promise<void>;
  batch(ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[]): Promise<void>;
  getSync(key: Uint8Array): Uint8Array | undefined;
  iterator(range: { gte: Uint8Array; lt: Uint8Array }): AsyncIterable<[Uint8Array, Uint8Array]>;
}

async function benchLevel(
  dir: string,
  keys: Buffer[],
  values: Uint8Array[],
  order: Uint32Array,
): Promise<RawFigures | undefined> {
  const name: string = 'classic-level';
  let ClassicLevel: new (path: string, options: object) => LevelDb;
  try {
    ({ ClassicLevel } = await import(name));
  } catch {
    log('classic-level is not installed (npm install --no-save classic-level@3.0.0 to compare); skipped');
    return undefined;
  }
  const db = new ClassicLevel(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  let t0 = performance.now();
  for (let b = 0; b < keys.length; b += BATCH) {
    const ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
    for (let i = b; i < Math.min(b + BATCH, keys.length); i++)
      ops.push({ type: 'put', key: keys[i]!, value: values[i]! });
    await db.batch(ops);
  }
  const putPerSec = perSec(keys.length, performance.now() - t0);
  t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < order.length; i++) bytes += db.getSync(keys[order[i]!]!)!.length;
  const getPerSec = perSec(order.length, performance.now() - t0);
  t0 = performance.now();
  let scanned = 0;
  for (let g = 0; g < MAX_P; g++) {
    const start = groupPrefix(1, g);
    // Only an async iterator exists: the backend's synchronous entries() could not use it.
    for await (const _ of db.iterator({ gte: start, lt: prefixEnd(start) })) scanned++;
  }
  const scanPerSec = perSec(scanned, performance.now() - t0);
  if (bytes === 0 || scanned !== keys.length) throw new Error('classic-level read back nothing');
  await db.close();
  return { getPerSec, putPerSec, scanPerSec };
}

interface BackendFigures {
  getPerSec: number;
  putPerSec: number;
}

/** Puts then gets `ops` uniformly random keys out of `keys` (after one put of every key). */
function benchTable(
  table: StateTable<unknown>,
  keys: number,
  ops: number,
  pool: readonly unknown[],
): BackendFigures {
  const names = Array.from({ length: keys }, (_, i) => `key-${i}`);
  const groups = names.map((k) => keyGroupOf(k, MAX_P));
  for (let i = 0; i < keys; i++) table.put(groups[i]!, names[i]!, 0, pool[i % pool.length]);
  const order = new Uint32Array(ops);
  let x = 7;
  for (let i = 0; i < ops; i++) order[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % keys;
  let t0 = performance.now();
  for (let i = 0; i < ops; i++) {
    const k = order[i]!;
    table.put(groups[k]!, names[k]!, 0, pool[(k + i) % pool.length]);
  }
  const putPerSec = perSec(ops, performance.now() - t0);
  t0 = performance.now();
  let found = 0;
  for (let i = ops - 1; i >= 0; i--) {
    const k = order[i]!;
    if (table.get(groups[k]!, names[k]!, 0) !== undefined) found++;
  }
  const getPerSec = perSec(ops, performance.now() - t0);
  if (found !== ops) throw new Error(`read back ${found} of ${ops}`);
  return { getPerSec, putPerSec };
}

export async function main(args: string[]): Promise<void> {
  const { values: flags } = parseArgs({
    args,
    options: { entries: { type: 'string', default: '200000' }, cache: { type: 'string', default: '50000' } },
  });
  const entries = Number(flags.entries);
  const cache = Number(flags.cache);
  const root = mkdtempSync(join(tmpdir(), 'eddy-bench-state-'));
  try {
    log(`raw stores: ${entries} entries, batches of ${BATCH}`);
    const { keys, values } = rawData(entries);
    const order = permutation(entries, 11);
    const avgValueBytes = Math.round(values.reduce((n, v) => n + v.length, 0) / entries);
    const lmdb = benchLmdb(join(root, 'lmdb'), keys, values, order);
    log(`lmdb: ${JSON.stringify(lmdb)}`);
    const level = await benchLevel(join(root, 'level'), keys, values, order);
    if (level !== undefined) log(`classic-level: ${JSON.stringify(level)}`);

    const pool = Array.from({ length: 1024 }, (_, i) => makeValue(i));
    const hotKeys = Math.floor(cache / 2);
    const coldKeys = cache * 8;
    const hotOps = 1_000_000;
    const coldOps = 200_000;
    log(`backends: cache ${cache}, hot set ${hotKeys} keys, cold set ${coldKeys} keys`);
    const heapHot = benchTable(new HeapStateBackend(MAX_P).table('bench', 'hot'), hotKeys, hotOps, pool);
    log(`heap hot: ${JSON.stringify(heapHot)}`);
    const hot = durableStateBackend({ path: join(root, 'hot'), cacheEntries: cache, maxParallelism: MAX_P });
    const durableHot = benchTable(hot.table('bench', 'hot'), hotKeys, hotOps, pool);
    await hot.close();
    log(`durable hot: ${JSON.stringify(durableHot)}`);
    const heapCold = benchTable(new HeapStateBackend(MAX_P).table('bench', 'cold'), coldKeys, coldOps, pool);
    log(`heap cold: ${JSON.stringify(heapCold)}`);
    const cold = durableStateBackend({
      path: join(root, 'cold'),
      cacheEntries: cache,
      maxParallelism: MAX_P,
    });
    const durableCold = benchTable(cold.table('bench', 'cold'), coldKeys, coldOps, pool);
    await cold.close();
    log(`durable cold: ${JSON.stringify(durableCold)}`);

    process.stdout.write(
      `${JSON.stringify({
        bench: 'state-store',
        entries,
        avgValueBytes,
        lmdbGetPerSec: lmdb.getPerSec,
        lmdbPutPerSec: lmdb.putPerSec,
        lmdbScanPerSec: lmdb.scanPerSec,
        levelGetPerSec: level?.getPerSec ?? null,
        levelPutPerSec: level?.putPerSec ?? null,
        levelScanPerSec: level?.scanPerSec ?? null,
        // The backend's entries() and namespaceEntries() are synchronous, and
        // only lmdb reads ranges synchronously; so lmdb, whatever the figures.
        chosen: 'lmdb',
        cacheEntries: cache,
        heapHotGetPerSec: heapHot.getPerSec,
        heapHotPutPerSec: heapHot.putPerSec,
        durableHotGetPerSec: durableHot.getPerSec,
        durableHotPutPerSec: durableHot.putPerSec,
        heapColdGetPerSec: heapCold.getPerSec,
        heapColdPutPerSec: heapCold.putPerSec,
        durableColdGetPerSec: durableCold.getPerSec,
        durableColdPutPerSec: durableCold.putPerSec,
      })}\n`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
