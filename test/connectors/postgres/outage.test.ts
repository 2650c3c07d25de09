/**
 * PostgreSQL dropping the pipeline's connections mid-stream (each of its
 * sessions terminated by the server, twice): a PostgreSQL → PostgreSQL
 * pipeline with checkpoints restarts with backoff from its latest checkpoint
 * and ends with every row exactly once in the output table (polling source
 * positions in checkpoints; the exactly-once sink commits a checkpoint's rows
 * with its id). The output table has no key, so a doubled row would show.
 * Only the test's own database's sessions are terminated, never another
 * suite's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { postgresSink, postgresSource } from '../../../src/connectors/postgres/index.ts';
import { Pipeline, type Sink } from '../../../src/index.ts';
import { gatedSink } from '../../helpers/gated-sink.ts';
import { postgresSkip, scratchDb } from './helpers.ts';

const skip = await postgresSkip();

interface Row {
  readonly id: number;
  readonly v: number;
}

interface Out {
  readonly id: number;
  readonly v2: number;
}

describe('PostgreSQL: connections dropped by the server', { skip }, () => {
  it('every session of the run terminated twice mid-stream: it restarts from its checkpoint, each row once', async () => {
    const db = await scratchDb('outage');
    const dir = mkdtempSync(join(tmpdir(), 'eddy-pg-outage-'));
    try {
      const n = 6000;
      await db.query('CREATE TABLE src (id int PRIMARY KEY, v int NOT NULL)');
      await db.query('CREATE TABLE dst (id int NOT NULL, v2 int NOT NULL)');
      await db.query('INSERT INTO src SELECT i, i * 3 FROM generate_series(0, $1::int - 1) AS i', [n]);

      // The sink terminates the run's sessions (and waits for that) once a third and two thirds are written.
      const cuts = [n / 3, (2 * n) / 3];
      let terminated = 0;
      const cut = async () => {
        const r = await db.query<{ n: string }>(
          `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        terminated += Number(r[0]!.n);
      };
      const cutting = (sink: Sink<Out>): Sink<Out> =>
        gatedSink(sink, async (written) => {
          if (cuts.length > 0 && written >= cuts[0]!) {
            cuts.shift();
            await cut();
          }
        });
      const restarts: string[] = [];
      const p = new Pipeline({ name: 'pg-outage', batchSize: 100 });
      p.source(
        'src',
        postgresSource<Row>({ connectionString: db.url, table: 'src', orderBy: ['id'], fetchSize: 100 }),
      )
        .map((r): Out => ({ id: r.id, v2: r.v * 2 + 1 }), 'transform')
        .sink(cutting(postgresSink<Out>({ connectionString: db.url, table: 'dst', mode: 'insert' })), 'dst');
      await p.run({
        parallelism: 1,
        checkpoints: { dir, intervalMs: 100 },
        restart: { initialBackoffMs: 50, maxFailures: 10 },
        onRestart: (info) => restarts.push(String(info.error)),
      });

      assert.equal(cuts.length, 0, 'both cuts happened');
      assert.ok(terminated >= 2, `the run's sessions were terminated (${terminated})`);
      assert.ok(restarts.length >= 1, 'the run restarted');
      const rows = await db.query<{ id: number; v2: number }>('SELECT id, v2 FROM dst ORDER BY id');
      assert.equal(rows.length, n, `${rows.length} rows in the output for ${n} inputs`);
      assert.deepEqual(
        rows,
        Array.from({ length: n }, (_, i) => ({ id: i, v2: i * 6 + 1 })),
      );
      process.stdout.write(
        `# postgres outage: ${n} rows, ${terminated} sessions terminated in 2 cuts, ${restarts.length} restarts (${restarts[0]?.slice(0, 160)})\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  });
});
