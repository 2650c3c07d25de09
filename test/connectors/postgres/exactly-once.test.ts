/**
 * postgresSink's exactly-once mode against a real PostgreSQL: a pipeline
 * SIGKILLed again and again — inside the checkpoint protocol (after
 * pre-commit, after the checkpoint is durable but before the database
 * commit, after the database commit but before the run knows) and at random
 * moments — then resumed from its latest checkpoint, leaves each input
 * record in the append-only table exactly once and totals equal to a batch
 * sum over the same seeded input. And the commit protocol step by step:
 * re-commits after restore, a restore from an older checkpoint, fencing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { postgresSink } from '../../../src/connectors/postgres/index.ts';
import { EddyError, type SinkContext } from '../../../src/index.ts';
import { Random } from '../../../src/util/random.ts';
import { type Sale, saleSource } from './fixtures/eo-child.ts';
import { postgresSkip, type ScratchDb, scratchDb } from './helpers.ts';

const skip = await postgresSkip();
const CHILD = join(import.meta.dirname, 'fixtures', 'eo-child.ts');
const COUNT = 30_000;
const SEED = 5;
const RATE = 10_000;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

function runChild(url: string, dir: string, crash: string, killAfterMs?: number): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], {
      env: {
        ...process.env,
        PG_URL: url,
        CRASH_DIR: dir,
        COUNT: String(COUNT),
        SEED: String(SEED),
        RATE: String(RATE),
        CRASH: crash,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const killer =
      killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    const limit = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      if (killer !== undefined) clearTimeout(killer);
      resolve({ code, signal, stderr });
    });
  });
}

async function inputSales(): Promise<Sale[]> {
  const reader = await saleSource(COUNT, SEED).open({
    stepId: 'oracle',
    clock: { now: () => 0, schedule: () => () => {} } as never,
    batchSize: 4096,
    deadLetter: () => {},
    signal: new AbortController().signal,
    subtask: 0,
    parallelism: 1,
    jobStart: 0,
  });
  const out: Sale[] = [];
  for (;;) {
    const b = await reader.poll(4096);
    if (b === null) return out;
    out.push(...b.values);
  }
}

describe('postgresSink exactly-once', { skip, timeout: 600_000 }, () => {
  let db: ScratchDb;
  before(async () => {
    db = await scratchDb('eo');
  });
  after(async () => {
    await db?.drop();
  });

  it('SIGKILLed mid-checkpoint and at random moments, resumed from the latest checkpoint: each row once, 0 lost, 0 doubled', async () => {
    await db.query('CREATE TABLE sales_out (id int NOT NULL, customer text NOT NULL, amount int NOT NULL)');
    await db.query('CREATE TABLE totals (customer text PRIMARY KEY, total bigint NOT NULL, n int NOT NULL)');
    const dir = mkdtempSync(join(tmpdir(), 'h2-pg-eo-'));
    try {
      const random = new Random(Number(process.env['CRASH_TEST_SEED'] ?? Date.now() % 100_000));
      const plan = [
        { crash: 'precommit:3' },
        { crash: 'commit-before:2' },
        { crash: 'none', killAfterMs: 800 + random.int(1200) },
        { crash: 'commit-after:2' },
        { crash: 'commit-before:1' },
        { crash: 'commit-after:1' },
        { crash: 'none', killAfterMs: 800 + random.int(1200) },
      ];
      let kills = 0;
      const seen: string[] = [];
      for (const step of plan) {
        const exit = await runChild(db.url, dir, step.crash, step.killAfterMs);
        if (exit.code === 0) break;
        assert.equal(exit.signal, 'SIGKILL', `child died otherwise: ${exit.stderr}`);
        kills++;
        seen.push(step.crash);
        // Between kills the table may only ever hold each id at most once.
        const doubled = await db.query('SELECT id FROM sales_out GROUP BY id HAVING count(*) > 1 LIMIT 5');
        assert.deepEqual(doubled, [], `after ${step.crash}: no id written twice`);
      }
      const last = await runChild(db.url, dir, 'none');
      assert.equal(last.code, 0, `the final run failed: ${last.stderr}`);
      assert.ok(
        seen.filter((s) => s.startsWith('commit')).length >= 2,
        `the commit windows were hit (killed at ${seen.join(', ')})`,
      );
      assert.ok(kills >= 4, `at least 4 runs were killed (got ${kills}: ${seen.join(', ')})`);

      const input = await inputSales();
      assert.equal(input.length, COUNT);
      const rows = await db.query<{ id: number; customer: string; amount: number }>(
        'SELECT id, customer, amount FROM sales_out ORDER BY id',
      );
      assert.equal(rows.length, COUNT, 'one row per input record');
      assert.deepEqual(rows, input);
      const expected = new Map<string, { total: number; n: number }>();
      for (const s of input) {
        const e = expected.get(s.customer) ?? { total: 0, n: 0 };
        expected.set(s.customer, { total: e.total + s.amount, n: e.n + 1 });
      }
      const totals = await db.query<{ customer: string; total: string; n: number }>('SELECT * FROM totals');
      assert.equal(totals.length, expected.size);
      for (const t of totals)
        assert.deepEqual({ total: Number(t.total), n: t.n }, expected.get(t.customer), t.customer);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the commit protocol: a restored checkpoint is committed once, an older one is refused for appends, a stale writer is fenced off', async () => {
    await db.query('CREATE TABLE log (n int NOT NULL)');
    await db.query('CREATE TABLE latest (k text PRIMARY KEY, n int NOT NULL)');
    const ctx = (restored?: unknown): SinkContext => ({
      stepId: 'log-sink',
      clock: { now: () => 0 } as never,
      checkpointing: true,
      ...(restored === undefined ? {} : { restored }),
    });
    const append = postgresSink<{ n: number }>({ connectionString: db.url, table: 'log', mode: 'insert' });
    const count = async () => Number((await db.query<{ c: string }>('SELECT count(*) AS c FROM log'))[0]!.c);
    const rows = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ n: from + i }));

    const a = await append.open(ctx());
    await a.write(rows(0, 10), []);
    const k1 = await a.preCommit!(1);
    assert.equal(await count(), 0, 'nothing visible before the commit');
    await a.commit!(1, k1);
    assert.equal(await count(), 10);
    await a.write(rows(10, 15), []);
    const k2 = await a.preCommit!(2);
    // Checkpoint 2 failed to commit: checkpoint 3's committable carries its rows too.
    await a.write(rows(15, 20), []);
    const k3 = await a.preCommit!(3);
    await a.close?.();
    assert.equal(await count(), 10, 'epochs 2 and 3 are not committed yet');

    // Crash after checkpoint 3 was durable, before its commit: the restored writer commits it, once.
    const b = await append.open(ctx(k3));
    assert.equal(await count(), 20);
    await b.close?.();
    const again = await append.open(ctx(k3));
    assert.equal(await count(), 20, 'restoring the same checkpoint again writes nothing');
    // The commit of 3 happens again from the (old) writer's view: skipped, since the table records 3.
    await again.commit!(3, k3);
    assert.equal(await count(), 20);
    await again.close?.();

    // Resuming from checkpoint 2 while the table holds checkpoint 3's output: appends would double it.
    await assert.rejects(Promise.resolve(append.open(ctx(k2))), (e: unknown) => {
      assert.ok(e instanceof EddyError);
      assert.equal(e.code, 'EDDY_CHECKPOINT_INVALID');
      assert.match(e.message, /already holds the output up to checkpoint 3.*after checkpoint 2.*twice/);
      return true;
    });
    assert.equal(await count(), 20);

    // Upserts may resume from an older checkpoint: they write again, to the same end state.
    const upsert = postgresSink<{ k: string; n: number }>({ connectionString: db.url, table: 'latest' });
    const u = await upsert.open(ctx());
    await u.write(
      [
        { k: 'a', n: 1 },
        { k: 'b', n: 1 },
      ],
      [],
    );
    const u1 = await u.preCommit!(1);
    await u.commit!(1, u1);
    await u.write([{ k: 'a', n: 2 }], []);
    await u.commit!(2, await u.preCommit!(2));
    await u.close?.();
    const u2 = await upsert.open(ctx(u1));
    await u2.write([{ k: 'a', n: 2 }], []);
    await u2.commit!(2, await u2.preCommit!(2));
    assert.deepEqual(await db.query('SELECT k, n FROM latest ORDER BY k'), [
      { k: 'a', n: 2 },
      { k: 'b', n: 1 },
    ]);

    // A fresh start takes the sink over: the old writer's next commit fails instead of writing.
    const fresh = await upsert.open(ctx());
    await u2.write([{ k: 'z', n: 9 }], []);
    await assert.rejects(
      Promise.resolve(u2.commit!(3, await u2.preCommit!(3))),
      /another run of sink .* took over/,
    );
    assert.deepEqual(await db.query("SELECT k FROM latest WHERE k = 'z'"), []);
    await u2.close?.();
    await fresh.close?.();
  });
});
