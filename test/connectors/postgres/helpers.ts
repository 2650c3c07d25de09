/**
 * The PostgreSQL suites' service and scratch databases: a database of its own
 * per test run (unique name), dropped after. Under CI=true a closed port is a
 * failure; elsewhere the suite is skipped with one loud line.
 */
import { Socket } from 'node:net';
import pg from 'pg';

export const HOST = '127.0.0.1';
export const PORT = 5432;
const ADMIN = `postgres://postgres@${HOST}:${PORT}/postgres`;

function reachable(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(PORT, HOST, () => done(true));
  });
}

/** The `skip` option for node:test: false when PostgreSQL answers (or under CI, which must fail instead). */
export async function postgresSkip(): Promise<string | false> {
  if (await reachable()) return false;
  if (process.env['CI'] === 'true') return false;
  const why = `PostgreSQL is not reachable at ${HOST}:${PORT}: start it (pg_ctlcluster <version> main start, or .ci/run)`;
  process.stderr.write(`\n!!! SKIPPING PostgreSQL suite — ${why}\n\n`);
  return why;
}

export interface ScratchDb {
  readonly url: string;
  readonly name: string;
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/** Creates a database with a unique name; `drop()` removes it (and ends its sessions). */
export async function scratchDb(tag: string): Promise<ScratchDb> {
  const name = `eddy_h2_${tag}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = `postgres://postgres@${HOST}:${PORT}/${name}`;
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return {
    url,
    name,
    query: async (sql, params) => (await client.query(sql, params)).rows,
    async drop() {
      await client.end().catch(() => {});
      const a = new pg.Client({ connectionString: ADMIN });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** Waits until `check` holds, polling; fails after `timeoutMs` (generous: the machine is loaded). */
export async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
