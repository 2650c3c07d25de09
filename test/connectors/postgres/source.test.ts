/**
 * postgresSource against a real PostgreSQL: reads a table in order; resumed
 * from a position taken at random cut points (microsecond timestamps with
 * many ties, id tiebreak) it reads each row exactly once; an unbounded source
 * feeding an exactly-once sink, stopped with a savepoint and resumed while
 * rows keep arriving, copies each row once; rows `parse` rejects are
 * dead-lettered; misconfiguration fails fast.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { postgresSink, postgresSource } from '../../../src/connectors/postgres/index.ts';
import { collectSink, type DeadLetter, EddyError, Pipeline, type SourceContext } from '../../../src/index.ts';
import { Random } from '../../../src/util/random.ts';
import { postgresSkip, type ScratchDb, scratchDb, waitUntil } from './helpers.ts';

const skip = await postgresSkip();

function context(restored?: unknown): SourceContext {
  return {
    stepId: 'pg-source',
    clock: { now: () => Date.now(), schedule: () => () => {} } as never,
    batchSize: 100,
    deadLetter: () => {},
    signal: new AbortController().signal,
    subtask: 0,
    parallelism: 1,
    jobStart: 0,
    ...(restored === undefined ? {} : { restored }),
  };
}

describe('postgresSource', { skip, timeout: 300_000 }, () => {
  let db: ScratchDb;
  before(async () => {
    db = await scratchDb('source');
    // Timestamps with microseconds and many ties: the id breaks them.
    await db.query(
      `CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, note text, amount int NOT NULL)`,
    );
    await db.query(
      `INSERT INTO events (at, note, amount)
       SELECT timestamptz '2024-01-01' + ((g % 997) * interval '1 microsecond') + ((g / 997) * interval '1 second'),
              'n' || g, g % 101 FROM generate_series(1, 4000) g`,
    );
  });
  after(async () => {
    await db?.drop();
  });

  it('resumed from its position at random cut points, reads every row exactly once, in order', async () => {
    const all = await db.query<{ id: string }>('SELECT id FROM events ORDER BY at, id');
    const random = new Random(Number(process.env['PG_SOURCE_SEED'] ?? 3));
    const source = postgresSource<{ id: string }>({
      connectionString: db.url,
      table: 'events',
      orderBy: ['at', 'id'],
      columns: ['id'],
    });
    for (let trial = 0; trial < 5; trial++) {
      const got: string[] = [];
      let restored: unknown;
      for (;;) {
        const reader = await source.open(context(restored));
        let ended = false;
        const polls = 1 + random.int(6);
        for (let i = 0; i < polls; i++) {
          const b = await reader.poll(1 + random.int(700));
          if (b === null) {
            ended = true;
            break;
          }
          for (const v of b.values) got.push(v.id);
        }
        restored = structuredClone(reader.position!());
        await reader.close?.();
        if (ended) break;
      }
      assert.deepEqual(
        got,
        all.map((r) => r.id),
        `trial ${trial}`,
      );
    }
  });

  it('bounded: ends at the last row present when it opened, also when resumed after more rows arrived', async () => {
    await db.query('CREATE TABLE b (id int PRIMARY KEY)');
    await db.query('INSERT INTO b SELECT generate_series(1, 50)');
    const source = postgresSource<{ id: number }>({ connectionString: db.url, table: 'b', orderBy: ['id'] });
    const reader = await source.open(context());
    const first = await reader.poll(20);
    const position = reader.position!();
    await reader.close?.();
    await db.query('INSERT INTO b SELECT generate_series(51, 80)');
    const resumed = await source.open(context(position));
    const rest: number[] = [];
    for (let b = await resumed.poll(15); b !== null; b = await resumed.poll(15))
      rest.push(...b.values.map((v) => v.id));
    await resumed.close?.();
    assert.deepEqual(
      [...first!.values.map((v) => v.id), ...rest],
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  it('unbounded into an exactly-once sink, stopped with a savepoint and resumed while rows arrive: each row copied once', async () => {
    await db.query('CREATE TABLE orders (id serial PRIMARY KEY, amount int NOT NULL)');
    await db.query('CREATE TABLE orders_copy (id int NOT NULL, amount int NOT NULL)');
    const dir = mkdtempSync(join(tmpdir(), 'h2-pg-src-'));
    const insert = (from: number, to: number) =>
      db.query('INSERT INTO orders (amount) SELECT g % 13 FROM generate_series($1::int, $2::int) g', [
        from,
        to,
      ]);
    const copied = async () =>
      Number((await db.query<{ c: string }>('SELECT count(*) AS c FROM orders_copy'))[0]!.c);
    const build = () => {
      const p = new Pipeline({ batchSize: 64 });
      p.source(
        'orders',
        postgresSource<{ id: number; amount: number }>({
          connectionString: db.url,
          table: 'orders',
          orderBy: ['id'],
          mode: 'unbounded',
          pollIntervalMs: 20,
        }),
      ).sink(postgresSink({ connectionString: db.url, table: 'orders_copy', mode: 'insert' }), 'copy');
      return p;
    };
    try {
      await insert(1, 500);
      const first = await build().start({ checkpoints: { dir: join(dir, 'chk'), intervalMs: 50 } });
      await insert(501, 900);
      await waitUntil(async () => (await copied()) >= 600, '600 rows copied');
      await first.stopWithSavepoint(join(dir, 'savepoint'));
      await first.done;
      await insert(901, 1500);
      const second = await build().start({
        checkpoints: { dir: join(dir, 'chk'), intervalMs: 50 },
        resumeFrom: join(dir, 'savepoint'),
      });
      await insert(1501, 2000);
      await waitUntil(async () => (await copied()) >= 2000, 'all 2000 rows copied');
      second.stop();
      await second.done;
      const doubled = await db.query('SELECT id FROM orders_copy GROUP BY id HAVING count(*) > 1');
      assert.deepEqual(doubled, []);
      const diff = await db.query(
        'SELECT id, amount FROM orders EXCEPT SELECT id, amount FROM orders_copy UNION ALL SELECT id, amount FROM orders_copy EXCEPT SELECT id, amount FROM orders',
      );
      assert.deepEqual(diff, []);
      assert.equal(await copied(), 2000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dead-letters rows that parse rejects, with the reason, and goes on', async () => {
    const out = collectSink<number>();
    const dead = collectSink<DeadLetter>();
    const p = new Pipeline();
    p.source(
      'events',
      postgresSource({
        connectionString: db.url,
        table: 'events',
        orderBy: ['id'],
        parse: (row) => {
          if ((row['amount'] as number) === 100)
            throw new Error(`amount 100 is not allowed (id ${row['id']})`);
          return row['amount'] as number;
        },
      }),
    ).sink(out);
    p.deadLetters().sink(dead);
    await p.run();
    const expectedDead = (await db.query('SELECT id FROM events WHERE amount = 100')).length;
    assert.ok(expectedDead > 0);
    assert.equal(out.values.length, 4000 - expectedDead);
    assert.equal(dead.values.length, expectedDead);
    assert.match(dead.values[0]!.reason, /amount 100 is not allowed/);
    assert.equal(dead.values[0]!.code, 'EDDY_DECODE_FAILED');
  });

  it('fails fast on a missing table or column and on an orderBy column that may be NULL', async () => {
    await db.query('CREATE TABLE loose (id int, v int)');
    const cases: [Parameters<typeof postgresSource>[0], RegExp][] = [
      [{ connectionString: db.url, table: 'missing', orderBy: ['id'] }, /missing does not exist/],
      [
        { connectionString: db.url, table: 'events', orderBy: ['seq'] },
        /"seq" not in table .*events.*id, at/,
      ],
      [{ connectionString: db.url, table: 'loose', orderBy: ['id'] }, /may be NULL.*SET NOT NULL/],
    ];
    for (const [options, message] of cases)
      await assert.rejects(Promise.resolve(postgresSource(options).open(context())), (e: unknown) => {
        assert.ok(e instanceof EddyError);
        assert.equal(e.code, 'EDDY_CONFIG_INVALID');
        assert.match(e.message, message);
        return true;
      });
    assert.throws(
      () => postgresSource({ connectionString: db.url, table: 'events' } as never),
      /needs orderBy/,
    );
  });
});
