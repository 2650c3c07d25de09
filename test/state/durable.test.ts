import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import type { Key } from '../../src/core/key-groups.ts';
import { EddyError } from '../../src/errors/index.ts';
import type { KeyedStateBackend } from '../../src/state/backend.ts';
import { type DurableStateBackend, durableStateBackend } from '../../src/state/durable/index.ts';
import { HeapStateBackend } from '../../src/state/heap.ts';

const MAX_P = 4;
const TABLES = [
  ['sum-1', 'acc'],
  ['join-2', 'left'],
] as const;
const NAMESPACES = [0, -0, -1.5, 1_700_000_000_000, 42];

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'eddy-durable-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

type Op =
  | { op: 'put'; t: number; kg: number; ns: number; key: Key; value: unknown }
  | { op: 'remove'; t: number; kg: number; ns: number; key: Key }
  | { op: 'get'; t: number; kg: number; ns: number; key: Key }
  | { op: 'fire'; t: number; kg: number; ns: number }
  | { op: 'check' }
  | { op: 'flush' }
  | { op: 'reopen' };

const keyArb = fc.oneof(
  fc.integer({ min: -3, max: 12 }),
  fc.constantFrom<Key>(1.5, -0, 'a', 'b', '1', '', 'sensor-07', '\uD800x', 'héllo'),
);
const valueArb = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.record(
    { count: fc.nat(), sum: fc.double({ noNaN: true, min: -1e6, max: 1e6 }).map((d) => d + 0) },
    { noNullPrototype: true },
  ),
  fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 }),
  fc.constant(undefined),
  fc.integer().map(
    (n) =>
      new Map<string, unknown>([
        ['n', n],
        ['list', [n, { nested: true }]],
      ]),
  ),
);
const cell = { t: fc.nat(TABLES.length - 1), kg: fc.nat(MAX_P - 1), ns: fc.constantFrom(...NAMESPACES) };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ op: fc.constant('put' as const), ...cell, key: keyArb, value: valueArb }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('remove' as const), ...cell, key: keyArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), ...cell, key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fire' as const), ...cell }) },
  { weight: 1, arbitrary: fc.constant({ op: 'check' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

function sortKey(key: Key, ns: number): string {
  return `${typeof key}:${String(key)}@${ns}`;
}

/** Everything a backend shows of its tables, in a canonical order. */
function view(b: KeyedStateBackend): unknown {
  return TABLES.map(([step, name]) => {
    const t = b.table<unknown>(step, name);
    const groups = [...t.keyGroups()].sort((x, y) => x - y);
    const perGroup = [];
    for (let kg = 0; kg < MAX_P; kg++) {
      const entries = [...t.entries(kg)].sort((x, y) => (sortKey(x[0], x[1]) < sortKey(y[0], y[1]) ? -1 : 1));
      const namespaces = NAMESPACES.map((ns) =>
        [...t.namespaceEntries(kg, ns)].sort((x, y) => (sortKey(x[0], ns) < sortKey(y[0], ns) ? -1 : 1)),
      );
      perGroup.push({ kg, entries, namespaces });
    }
    return { step, name, size: t.size(), groups, perGroup };
  });
}

describe('durable state backend', () => {
  it('behaves exactly like the heap backend under constant eviction, flush and reopen', async () => {
    const path = join(root, 'model');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(opArb, { maxLength: 80 }),
        async (cache, ops) => {
          const heap = new HeapStateBackend(MAX_P);
          let durable: DurableStateBackend = durableStateBackend({
            path,
            cacheEntries: cache,
            maxParallelism: MAX_P,
          });
          try {
            for (const o of ops) {
              if (o.op === 'check') assert.deepStrictEqual(view(durable), view(heap));
              else if (o.op === 'flush') await durable.flush();
              else if (o.op === 'reopen') {
                await durable.close();
                durable = durableStateBackend({
                  path,
                  cacheEntries: cache,
                  maxParallelism: MAX_P,
                  reuse: true,
                });
              } else {
                const [step, name] = TABLES[o.t]!;
                const h = heap.table<unknown>(step, name);
                const d = durable.table<unknown>(step, name);
                if (o.op === 'put') {
                  h.put(o.kg, o.key, o.ns, o.value);
                  d.put(o.kg, o.key, o.ns, o.value);
                } else if (o.op === 'remove') {
                  h.remove(o.kg, o.key, o.ns);
                  d.remove(o.kg, o.key, o.ns);
                } else if (o.op === 'get') {
                  assert.deepStrictEqual(d.get(o.kg, o.key, o.ns), h.get(o.kg, o.key, o.ns));
                } else {
                  // A window firing: read each entry, remove it while iterating.
                  const fired: (readonly [Key, unknown])[] = [];
                  for (const [k, v] of d.namespaceEntries(o.kg, o.ns)) {
                    fired.push([k, v]);
                    d.remove(o.kg, k, o.ns);
                  }
                  const expected = [...h.namespaceEntries(o.kg, o.ns)];
                  for (const [k] of expected) h.remove(o.kg, k, o.ns);
                  const order = (a: readonly [Key, unknown], b: readonly [Key, unknown]) =>
                    sortKey(a[0], 0) < sortKey(b[0], 0) ? -1 : 1;
                  assert.deepStrictEqual(fired.sort(order), expected.sort(order));
                }
                assert.equal(d.size(), h.size());
              }
            }
            assert.deepStrictEqual(view(durable), view(heap));
            await durable.flush();
            assert.deepStrictEqual(view(durable), view(heap));
            await durable.close();
            durable = durableStateBackend({ path, cacheEntries: cache, maxParallelism: MAX_P, reuse: true });
            assert.deepStrictEqual(durable.tableNames('sum-1'), ['acc']);
            assert.deepStrictEqual(view(durable), view(heap));
          } finally {
            await durable.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps structured-clone values through the store', async () => {
    const b = durableStateBackend({ path: join(root, 'values'), cacheEntries: 1 });
    try {
      const t = b.table<unknown>('s', 'v');
      const values: unknown[] = [
        Buffer.from([1, 2, 3]),
        new Uint8Array([4, 5]),
        new Map<unknown, unknown>([
          [1, 'a'],
          ['1', { b: [1, 2] }],
        ]),
        new Set(['x', 2]),
        new Date(1_700_000_000_000),
        { a: undefined, nan: Number.NaN, inf: -Infinity, big: 2n ** 70n },
        [undefined, null, 'héllo'],
        // Issue 19: lone surrogates came back as U+FFFD.
        { '\uD800': 'x\uDC00', list: ['\uDBFF'] },
        '\uD800',
      ];
      for (const [i, v] of values.entries()) t.put(0, i, 0, v);
      // cacheEntries 1: every value but the last went through the store.
      const read = values.map((_, i) => t.get(0, i, 0));
      // Compared after every read: a decoded value must not share the store's read buffer.
      for (const [i, v] of values.entries()) assert.deepStrictEqual(read[i], v);
    } finally {
      await b.close();
    }
  });

  it('stores keys up to the store key limit and rejects longer ones with a config error', async () => {
    const b = durableStateBackend({ path: join(root, 'long-keys'), cacheEntries: 1 });
    try {
      const t = b.table<number>('s', 'v');
      const longest = 'k'.repeat(1963);
      t.put(0, longest, 0, 1);
      t.put(0, 'other', 0, 2); // evicts the long key to the store
      assert.equal(t.get(0, longest, 0), 1);
      assert.deepStrictEqual([...t.entries(0)].map(([k]) => String(k).length).sort(), [1963, 5]);
      assert.throws(
        () => t.put(0, `${longest}k`, 0, 1),
        (e: unknown) =>
          e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && /too long.*; key by/.test(e.message),
      );
      assert.equal(t.get(0, `${longest}k`, 0), undefined);
      assert.equal(t.size(), 2);
    } finally {
      await b.close();
    }
  });

  it('starts empty at a used path unless reuse is true', async () => {
    const path = join(root, 'reuse');
    let b = durableStateBackend({ path });
    b.table<number>('s', 't').put(3, 'k', 0, 1);
    await b.close();
    b = durableStateBackend({ path, reuse: true });
    assert.deepStrictEqual(b.tableNames('s'), ['t']);
    assert.equal(b.table<number>('s', 't').get(3, 'k', 0), 1);
    await b.close();
    b = durableStateBackend({ path });
    assert.deepStrictEqual(b.tableNames('s'), []);
    assert.equal(b.table<number>('s', 't').size(), 0);
    assert.equal(b.table<number>('s', 't').get(3, 'k', 0), undefined);
    await b.close();
  });

  it('fails fast on misconfiguration, naming the value and the fix', async () => {
    const bad: [unknown, RegExp][] = [
      [undefined, /needs an options object; received undefined; pass \{ path/],
      [{ path: '' }, /needs a path; received ""; pass/],
      [
        { path: join(root, 'x'), cacheEntries: 0 },
        /cacheEntries must be an integer in \[1, 2\^30\]; received 0;/,
      ],
      [{ path: join(root, 'x'), cacheEntries: 1.5 }, /cacheEntries .*; received 1\.5;/],
      [{ path: join(root, 'x'), maxParallelism: 70_000 }, /maxParallelism must be .*; received 70000;/],
      [{ path: join(root, 'x'), reuse: 'yes' }, /reuse must be a boolean; received "yes";/],
      [{ path: join(root, 'x'), cache: 5 }, /has no option "cache"; received 5; use only path, cacheEntries/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => durableStateBackend(options as Parameters<typeof durableStateBackend>[0]),
        (e: unknown) => e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && message.test(e.message),
      );
    }
    const path = join(root, 'twice');
    const b = durableStateBackend({ path });
    try {
      assert.throws(
        () => durableStateBackend({ path }),
        (e: unknown) =>
          e instanceof EddyError && /already uses this path; received ".*twice"; give each/.test(e.message),
      );
    } finally {
      await b.close();
    }
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    assert.throws(
      () => durableStateBackend({ path: file }),
      (e: unknown) => e instanceof EddyError && e.code === 'EDDY_IO_FAILED',
    );
  });

  it('holds state larger than the heap cap that the heap backend runs out of memory on', async () => {
    // The same workload in two children capped at 64 MB of heap: 800k entries
    // of ~150 bytes (~220 MB as JS objects, ~260 MB on disk).
    const entries = 800_000;
    const child = (backend: 'durable' | 'heap') => {
      const dir = join(root, `big-${backend}`);
      const script = `
        const { durableStateBackend } = await import(${JSON.stringify(moduleUrl('../../src/state/durable/index.ts'))});
        const { HeapStateBackend } = await import(${JSON.stringify(moduleUrl('../../src/state/heap.ts'))});
        const { keyGroupOf } = await import(${JSON.stringify(moduleUrl('../../src/core/key-groups.ts'))});
        const N = ${entries};
        const b = ${JSON.stringify(backend)} === 'durable'
          ? durableStateBackend({ path: ${JSON.stringify(dir)}, cacheEntries: 20000 })
          : new HeapStateBackend(128);
        const t = b.table('big-1', 'acc');
        const value = (i) => ({ id: i, device: 'dev-' + i, readings: Array.from({ length: 16 }, (_, k) => i + k / 8) });
        for (let i = 0; i < N; i++) { const key = 'key-' + i; t.put(keyGroupOf(key, 128), key, 0, value(i)); }
        let checked = 0, wrong = 0, x = 12345;
        for (let s = 0; s < 20000; s++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          const i = x % N, key = 'key-' + i;
          const v = t.get(keyGroupOf(key, 128), key, 0);
          checked++;
          if (JSON.stringify(v) !== JSON.stringify(value(i))) wrong++;
        }
        let group0 = 0, expected0 = 0;
        for (let i = 0; i < N; i++) if (keyGroupOf('key-' + i, 128) === 0) expected0++;
        for (const [key, , v] of t.entries(0)) if (v.device === 'dev-' + key.slice(4)) group0++;
        globalThis.gc();
        const heapMb = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
        await b.close?.();
        console.log(JSON.stringify({ size: t.size(), checked, wrong, group0, expected0, heapMb }));
      `;
      return run(process.execPath, [
        '--max-old-space-size=64',
        '--expose-gc',
        '--input-type=module',
        '-e',
        script,
      ]);
    };

    // Side by side: the heap child fails within seconds, while the durable one works.
    const [durable, heap] = await Promise.all([child('durable'), child('heap')]);
    assert.equal(durable.status, 0, durable.stderr);
    const result = JSON.parse(durable.stdout.trim().split('\n').at(-1)!);
    assert.equal(result.size, entries);
    assert.equal(result.checked, 20000);
    assert.equal(result.wrong, 0);
    assert.ok(result.expected0 > 0);
    assert.equal(result.group0, result.expected0);
    // What stays live is the cache, not the state.
    assert.ok(result.heapMb < 48, `live heap ${result.heapMb} MB`);

    assert.notEqual(heap.status, 0, 'the heap backend should not fit this state in 64 MB');
    assert.match(heap.stderr, /heap out of memory/i);
  });
});

/** Runs a child process to its end; `status` is null when a signal (an abort on out-of-memory) ended it. */
function run(
  cmd: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function moduleUrl(relative: string): string {
  return pathToFileURL(join(import.meta.dirname, relative)).href;
}
