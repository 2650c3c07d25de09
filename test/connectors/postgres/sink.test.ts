/**
 * postgresSink against a real PostgreSQL (127.0.0.1:5432): batched upserts
 * equal to a batch computation over the same seeded input; appends; refused
 * rows dead-lettered with the reason while the rest go in; configuration
 * errors that name the bad value and the fix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { postgresSink } from '../../../src/connectors/postgres/index.ts';
import { arraySource, EddyError, Pipeline } from '../../../src/index.ts';
import { Random } from '../../../src/util/random.ts';
import { postgresSkip, type ScratchDb, scratchDb } from './helpers.ts';

const skip = await postgresSkip();

interface Sale {
  readonly id: number;
  readonly customer: string;
  readonly amount: number;
}

function sales(n: number, seed: number): Sale[] {
  const g = new Random(seed);
  return Array.from({ length: n }, (_, id) => ({ id, customer: `c${g.int(40)}`, amount: 1 + g.int(100) }));
}

describe('postgresSink', { skip, timeout: 180_000 }, () => {
  let db: ScratchDb;
  before(async () => {
    db = await scratchDb('sink');
  });
  after(async () => {
    await db?.drop();
  });

  it('upserts running totals in batches: the table equals a batch sum over the same seeded input', async () => {
    await db.query('CREATE TABLE totals (customer text PRIMARY KEY, total bigint NOT NULL, n int NOT NULL)');
    const input = sales(20_000, 7);
    const p = new Pipeline({ batchSize: 700 });
    p.source('sales', arraySource(input))
      .map((s) => ({ customer: s.customer, total: s.amount, n: 1 }))
      .keyBy((s) => s.customer)
      .reduce((a, b) => ({ customer: a.customer, total: a.total + b.total, n: a.n + b.n }))
      .sink(
        postgresSink({
          connectionString: db.url,
          table: 'totals',
          delivery: 'at-least-once',
          maxRowsPerStatement: 97,
        }),
      );
    await p.run();
    const expected = new Map<string, { total: number; n: number }>();
    for (const s of input) {
      const e = expected.get(s.customer) ?? { total: 0, n: 0 };
      expected.set(s.customer, { total: e.total + s.amount, n: e.n + 1 });
    }
    const rows = await db.query<{ customer: string; total: string; n: number }>('SELECT * FROM totals');
    assert.equal(rows.length, expected.size);
    for (const r of rows)
      assert.deepEqual({ total: Number(r.total), n: r.n }, expected.get(r.customer), r.customer);
  });

  it('appends with mode "insert", and quotes identifiers (a table and columns with quotes and spaces)', async () => {
    await db.query('CREATE TABLE "odd ""table""" ("the id" int NOT NULL, "Who" text, amount int)');
    const input = sales(3_000, 8);
    const p = new Pipeline({ batchSize: 256 });
    p.source('sales', arraySource(input)).sink(
      postgresSink<Sale>({
        connectionString: db.url,
        table: 'odd "table"',
        mode: 'insert',
        row: (s) => ({ 'the id': s.id, Who: s.customer, amount: s.amount }),
      }),
    );
    await p.run();
    const rows = await db.query<{ id: number; who: string; amount: number }>(
      'SELECT "the id" AS id, "Who" AS who, amount FROM "odd ""table""" ORDER BY 1',
    );
    assert.deepEqual(
      rows,
      input.map((s) => ({ id: s.id, who: s.customer, amount: s.amount })),
    );
  });

  it('dead-letters rows the database refuses (check, not null, too long, out of range) with the reason; the rest go in', async () => {
    await db.query(
      'CREATE TABLE accounts (id int PRIMARY KEY, code varchar(4) NOT NULL, balance int NOT NULL CHECK (balance >= 0))',
    );
    const input = Array.from({ length: 1000 }, (_, i) => ({ id: i, code: `a${i % 100}`, balance: i }));
    const bad = new Map<number, { code: unknown; balance: unknown; sqlstate: string }>([
      [17, { code: 'x', balance: -5, sqlstate: '23514' }],
      [400, { code: null, balance: 1, sqlstate: '23502' }],
      [401, { code: 'toolong', balance: 1, sqlstate: '22001' }],
      [999, { code: 'y', balance: 2 ** 40, sqlstate: '22003' }],
    ]);
    const records = input.map((r) => {
      const b = bad.get(r.id);
      return b === undefined ? r : { id: r.id, code: b.code, balance: b.balance };
    });
    for (const delivery of ['at-least-once', 'exactly-once'] as const) {
      await db.query('TRUNCATE accounts');
      await db.query('DROP TABLE IF EXISTS eddy_dead_letters');
      const p = new Pipeline({ batchSize: 128 });
      p.source('accounts', arraySource(records)).sink(
        postgresSink({
          connectionString: db.url,
          table: 'accounts',
          delivery,
          sinkId: `accounts-${delivery}`,
        }),
        'to-db',
      );
      const dir = mkdtempSync(join(tmpdir(), 'h2-pg-dlq-'));
      try {
        await p.run(delivery === 'exactly-once' ? { checkpoints: { dir, intervalMs: 0 } } : {});
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const rows = await db.query<{ id: number; code: string; balance: number }>(
        'SELECT * FROM accounts ORDER BY id',
      );
      assert.deepEqual(
        rows,
        input.filter((r) => !bad.has(r.id)),
        delivery,
      );
      const letters = await db.query<{ step: string; sqlstate: string; reason: string; payload: string }>(
        'SELECT step, sqlstate, reason, payload FROM eddy_dead_letters ORDER BY id',
      );
      assert.equal(letters.length, bad.size, `${delivery}: one dead letter per refused row`);
      for (const l of letters) {
        const row = JSON.parse(l.payload) as { id: number };
        const b = bad.get(row.id);
        assert.ok(b !== undefined, `dead letter for a refused row: ${l.payload}`);
        assert.equal(l.sqlstate, b.sqlstate, l.reason);
        assert.equal(l.step, 'to-db');
        assert.match(l.reason, /refused the row: .*SQLSTATE/);
      }
    }
  });

  it('with onRefused "fail" a refused row fails the run naming the reason and the fix', async () => {
    await db.query('CREATE TABLE strict_t (id int PRIMARY KEY, v int CHECK (v > 0))');
    const p = new Pipeline();
    p.source(
      's',
      arraySource([
        { id: 1, v: 1 },
        { id: 2, v: -1 },
      ]),
    ).sink(
      postgresSink({
        connectionString: db.url,
        table: 'strict_t',
        delivery: 'at-least-once',
        onRefused: 'fail',
      }),
    );
    await assert.rejects(p.run(), (e: unknown) => {
      assert.ok(e instanceof EddyError);
      assert.match(e.message, /strict_t_v_check.*onRefused: "fail".*onRefused: "dead-letter"/s);
      return true;
    });
  });

  it('fails fast on misconfiguration, naming the bad value and the fix', async () => {
    await db.query('CREATE TABLE nokey (a int, b int)');
    await db.query('CREATE TABLE keyed (a int PRIMARY KEY, b int, c int)');
    const open = (o: Parameters<typeof postgresSink<Record<string, unknown>>>[0]) =>
      postgresSink<Record<string, unknown>>(o).open({
        stepId: 'sink-1',
        clock: { now: () => 0 } as never,
        checkpointing: false,
      });
    const cases: [string, () => unknown, RegExp][] = [
      ['not a URL', () => postgresSink({ connectionString: 'localhost', table: 't' }), /postgres:\/\/user@/],
      [
        'unknown option',
        () => postgresSink({ connectionString: db.url, table: 't', tabel: 'x' } as never),
        /no option "tabel"/,
      ],
      [
        'bad mode',
        () => postgresSink({ connectionString: db.url, table: 't', mode: 'merge' as never }),
        /"merge".*upsert/,
      ],
      [
        'missing database',
        () => open({ connectionString: `${db.url}_nope`, table: 't' }),
        /does not exist.*createdb/,
      ],
      [
        'missing table',
        () => open({ connectionString: db.url, table: 'nosuch' }),
        /nosuch does not exist.*create it/,
      ],
      [
        'missing column',
        () => open({ connectionString: db.url, table: 'keyed', columns: ['a', 'zz'] }),
        /"zz" not in table .*keyed.*a, b, c/,
      ],
      [
        'no key for upsert',
        () => open({ connectionString: db.url, table: 'nokey' }),
        /needs key columns.*no primary key.*key: \["id"\]/,
      ],
      [
        'key without a unique index',
        () => open({ connectionString: db.url, table: 'keyed', key: ['b'] }),
        /no unique index.*CREATE UNIQUE INDEX ON public.keyed \(b\)/,
      ],
    ];
    for (const [what, make, message] of cases) {
      await assert.rejects(
        async () => make(),
        (e: unknown) => {
          assert.ok(e instanceof EddyError, what);
          assert.equal(e.code, 'EDDY_CONFIG_INVALID', what);
          assert.match(e.message, message, what);
          return true;
        },
        what,
      );
    }
  });
});
