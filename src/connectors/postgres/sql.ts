/**
 * What the PostgreSQL source and sink share: connecting (a bad connection
 * string, database or role is a configuration error naming it; a refused or
 * dropped connection is an I/O error the restart strategy rides out),
 * quoting identifiers, reading a table's shape, and telling a row the
 * database refuses from a failure of the database.
 */
import pg from 'pg';
import { configError, EddyError } from '../../errors/index.ts';

export type Client = pg.Client;

/** Quotes an identifier for SQL text: values are never put in SQL text, only `$n` parameters. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"`. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** The connection string with its password hidden, for messages. */
export function redact(connectionString: string): string {
  return connectionString.replace(/^(postgres(?:ql)?:\/\/[^:@/]*:)[^@]*@/, '$1***@');
}

/** Opens a client; what is the user's to fix throws a configuration error saying what and how. */
export async function connect(connectionString: string, owner: string, stepId: string): Promise<Client> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 30_000 });
  // A connection that drops while idle emits 'error'; without a listener that would end the process.
  // The next query fails instead, and the run restarts.
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (e) {
    await client.end().catch(() => {});
    const code = (e as { code?: string }).code;
    const shown = redact(connectionString);
    const message = e instanceof Error ? e.message : String(e);
    if (code === '3D000' || code === '28000' || code === '28P01' || code === 'ENOTFOUND')
      throw configError(
        `${owner} cannot connect: ${message}`,
        shown,
        code === '3D000'
          ? 'create the database (createdb) or name an existing one in connectionString'
          : code === 'ENOTFOUND'
            ? 'check the host in connectionString'
            : "check the user and password in connectionString (and the server's pg_hba.conf)",
        stepId,
      );
    throw new EddyError(
      'EDDY_IO_FAILED',
      `${owner} cannot connect to ${shown}: ${message}; check that PostgreSQL is running there (the run restarts with backoff)`,
      { cause: e, stepId, retriable: true },
    );
  }
}

/** A column of a table, as the sink and source need it. */
export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
  /** Written by the database unless given: a default, an identity or a generated column. */
  readonly automatic: boolean;
  readonly generated: boolean;
  readonly notNull: boolean;
}

export interface TableInfo {
  readonly schema: string;
  readonly table: string;
  readonly columns: ReadonlyMap<string, ColumnInfo>;
  readonly primaryKey: readonly string[];
  /** The column sets of every unique index without a predicate or expressions (the primary key's too). */
  readonly uniqueKeys: readonly (readonly string[])[];
}

/** Reads a table's columns and unique keys; a missing table is a configuration error naming it. */
export async function describeTable(
  client: Client,
  schema: string | undefined,
  table: string,
  owner: string,
  stepId: string,
): Promise<TableInfo> {
  const found = await client.query<{ oid: number; schema: string }>(
    schema === undefined
      ? `SELECT c.oid, n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = $1 AND c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))
         ORDER BY array_position(current_schemas(false), n.nspname) LIMIT 1`
      : `SELECT c.oid, n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = $1 AND c.relkind IN ('r', 'p') AND n.nspname = $2`,
    schema === undefined ? [table] : [table, schema],
  );
  const hit = found.rows[0];
  if (hit === undefined)
    throw configError(
      `${owner}: table ${schema === undefined ? table : `${schema}.${table}`} does not exist`,
      table,
      schema === undefined
        ? 'create it, or pass the schema it is in (schema: "...") — only the search path was looked in'
        : 'create it, or check the table and schema names (they are case-sensitive)',
      stepId,
    );
  const cols = await client.query<ColumnInfo>(
    `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull",
            (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS automatic,
            (a.attgenerated <> '' OR a.attidentity = 'a') AS generated
       FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [hit.oid],
  );
  const keys = await client.query<{ primary: boolean; columns: string[] }>(
    `SELECT i.indisprimary AS primary,
            array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a
                  ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) AS columns
       FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
    [hit.oid],
  );
  return {
    schema: hit.schema,
    table,
    columns: new Map(cols.rows.map((c) => [c.name, c])),
    primaryKey: keys.rows.find((k) => k.primary)?.columns ?? [],
    uniqueKeys: keys.rows.map((k) => k.columns),
  };
}

/** Names the columns of `wanted` the table does not have, as a configuration error. */
export function checkColumns(
  info: TableInfo,
  wanted: readonly string[],
  what: string,
  owner: string,
  stepId: string,
): void {
  const missing = wanted.filter((c) => !info.columns.has(c));
  if (missing.length > 0)
    throw configError(
      `${owner}: ${what} ${missing.map((c) => `"${c}"`).join(', ')} not in table ${info.schema}.${info.table}`,
      missing[0],
      `use columns of the table: ${[...info.columns.keys()].join(', ')}`,
      stepId,
    );
}

/**
 * Whether the database refused the rows themselves — a value that does not
 * fit its column (SQLSTATE class 22) or a constraint (class 23) — so the same
 * statement would fail again. Anything else (a dropped connection, a
 * deadlock, a server shutting down) is the database's and worth a retry.
 */
export function isRefusal(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** The database's reason for refusing, with its SQLSTATE and detail. */
export function refusalReason(e: unknown): string {
  const err = e as { code?: string; message?: string; detail?: string; constraint?: string };
  const detail = err.detail === undefined ? '' : ` (${err.detail})`;
  return `${err.message ?? String(e)}${detail} [SQLSTATE ${err.code}]`;
}

/** A failure talking to the database, for the restart strategy. */
export function ioError(owner: string, what: string, e: unknown, stepId: string): EddyError {
  if (e instanceof EddyError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new EddyError('EDDY_IO_FAILED', `${owner}: ${what} failed: ${message}`, {
    cause: e,
    stepId,
    retriable: true,
  });
}
