/**
 * The options of the PostgreSQL connectors as data: one schema per connector
 * with each option's documentation, default and check, read once when the
 * connector is made. Defaults live here and nowhere else.
 */

import {
  type CheckedOptionSchema as OptionSchema,
  type CheckedOptionSpec as OptionSpec,
  resolveCheckedOptions as resolveOptions,
} from '../checked-options.ts';

export type { OptionSchema, OptionSpec };
export { resolveOptions };

const isName = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 63 && !v.includes('\0');
const names = (v: unknown) =>
  Array.isArray(v) && v.length > 0 && v.every(isName) && new Set(v).size === v.length;
const positiveInt = (v: unknown, max: number) =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;

const CONNECTION: OptionSpec = {
  doc: 'a postgres:// URL',
  required: true,
  check: (v) =>
    typeof v === 'string' && /^postgres(ql)?:\/\//.test(v)
      ? undefined
      : 'pass connectionString: "postgres://user@127.0.0.1:5432/db"',
};

/** The sink's options; see {@link PostgresSinkOptions} for each one's meaning. */
export const SINK_SCHEMA = {
  connectionString: CONNECTION,
  table: {
    doc: 'the table written to',
    required: true,
    check: (v) =>
      isName(v) ? undefined : 'pass the table name, e.g. table: "totals" (with schema: "app" if needed)',
  },
  schema: {
    doc: "the table's schema; default the first in the search path that has it",
    check: (v) => (isName(v) ? undefined : 'pass a schema name, e.g. "public"'),
  },
  columns: {
    doc: 'the columns written; default every column without a default value, generated or identity',
    check: (v) => (names(v) ? undefined : 'pass distinct column names, e.g. ["customer", "total"]'),
  },
  key: {
    doc: "the conflict target of the upsert; default the table's primary key",
    check: (v) => (names(v) ? undefined : 'pass the key columns, e.g. ["customer"]'),
  },
  mode: {
    doc: '"upsert" (INSERT … ON CONFLICT (key) DO UPDATE) or "insert" (append)',
    default: 'upsert',
    check: (v) => (v === 'upsert' || v === 'insert' ? undefined : 'pass mode: "upsert" or mode: "insert"'),
  },
  row: {
    doc: 'turns a record into its row (column name -> value); default the record itself',
    check: (v) =>
      typeof v === 'function' ? undefined : 'pass row: (r) => ({ customer: r.id, total: r.sum })',
  },
  delivery: {
    doc: '"exactly-once" (each checkpoint\'s rows in one transaction with its id) or "at-least-once"',
    default: 'exactly-once',
    check: (v) =>
      v === 'exactly-once' || v === 'at-least-once'
        ? undefined
        : 'pass delivery: "exactly-once" or delivery: "at-least-once"',
  },
  sinkId: {
    doc: 'names this sink in the checkpoint table; default "<schema>.<table>/<step id>"',
    check: (v) =>
      typeof v === 'string' && v.length > 0 && v.length <= 200 ? undefined : 'pass a short unique name',
  },
  checkpointTable: {
    doc: "where exactly-once commits record each sink's last checkpoint (created if missing, in the table's schema)",
    default: 'eddy_checkpoints',
    check: (v) => (isName(v) ? undefined : 'pass a table name, e.g. "eddy_checkpoints"'),
  },
  onRefused: {
    doc: 'a row the database refuses (a constraint, a value that does not fit): "dead-letter" or "fail"',
    default: 'dead-letter',
    check: (v) =>
      v === 'dead-letter' || v === 'fail' ? undefined : 'pass onRefused: "dead-letter" or "fail"',
  },
  deadLetterTable: {
    doc: "where refused rows go with the reason (created if missing, in the table's schema)",
    default: 'eddy_dead_letters',
    check: (v) => (isName(v) ? undefined : 'pass a table name, e.g. "eddy_dead_letters"'),
  },
  maxRowsPerStatement: {
    doc: 'rows per INSERT statement (at most 65,535 parameters in all)',
    default: 1000,
    check: (v) => (positiveInt(v, 65_535) ? undefined : 'pass a whole number from 1 to 65535'),
  },
} as const satisfies OptionSchema;

/**
 * Options of {@link postgresSink}.
 *
 * @example
 * ```ts
 * const options: PostgresSinkOptions<Total> = {
 *   connectionString: 'postgres://postgres@127.0.0.1:5432/shop', table: 'totals', key: ['customer'],
 * };
 * ```
 */
export interface PostgresSinkOptions<T> {
  /** A `postgres://` URL. */
  readonly connectionString: string;
  /** The table written to; it must exist. */
  readonly table: string;
  /** Its schema; default the first schema in the search path that has the table. */
  readonly schema?: string;
  /** The columns written; default every column without a default value and not generated or identity. */
  readonly columns?: readonly string[];
  /** The upsert's conflict target (a primary key or unique index must cover exactly these); default the primary key. */
  readonly key?: readonly string[];
  /** `'upsert'` (default): `INSERT … ON CONFLICT (key) DO UPDATE`, idempotent; `'insert'`: append. */
  readonly mode?: 'upsert' | 'insert';
  /** Turns a record into its row; a column missing from it is written as NULL. Default the record itself. */
  readonly row?: (value: T) => Readonly<Record<string, unknown>>;
  /** Default `'exactly-once'` (when the run takes checkpoints; without, rows are written as they come). */
  readonly delivery?: 'exactly-once' | 'at-least-once';
  /** This sink's name in the checkpoint table; default `"<schema>.<table>/<step id>"`. */
  readonly sinkId?: string;
  /** Default `eddy_checkpoints`, in the table's schema. */
  readonly checkpointTable?: string;
  /** Default `'dead-letter'`: a refused row goes to `deadLetterTable` with the reason; `'fail'` fails the run. */
  readonly onRefused?: 'dead-letter' | 'fail';
  /** Default `eddy_dead_letters`, in the table's schema. */
  readonly deadLetterTable?: string;
  /** Rows per statement; default 1,000. */
  readonly maxRowsPerStatement?: number;
}

/** The sink's options after validation, with defaults. */
export type ResolvedSinkOptions<T> = PostgresSinkOptions<T> &
  Required<
    Pick<
      PostgresSinkOptions<T>,
      'mode' | 'delivery' | 'checkpointTable' | 'onRefused' | 'deadLetterTable' | 'maxRowsPerStatement'
    >
  >;

/** The polling source's options; see {@link PostgresSourceOptions}. */
export const SOURCE_SCHEMA = {
  connectionString: CONNECTION,
  table: {
    doc: 'the table read',
    required: true,
    check: (v) => (isName(v) ? undefined : 'pass the table name, e.g. table: "orders"'),
  },
  schema: {
    doc: "the table's schema; default the first in the search path that has it",
    check: (v) => (isName(v) ? undefined : 'pass a schema name, e.g. "public"'),
  },
  orderBy: {
    doc: 'the columns that order the rows and only grow (e.g. ["id"], or ["updated_at", "id"] with a unique tiebreak last)',
    required: true,
    check: (v) => (names(v) ? undefined : 'pass orderBy: ["id"] or ["updated_at", "id"]'),
  },
  columns: {
    doc: 'the columns read; default all',
    check: (v) => (names(v) ? undefined : 'pass column names, e.g. ["id", "customer", "amount"]'),
  },
  mode: {
    doc: '"bounded" stops at the rows there when it starts reading; "unbounded" polls for new ones',
    default: 'bounded',
    check: (v) => (v === 'bounded' || v === 'unbounded' ? undefined : 'pass mode: "bounded" or "unbounded"'),
  },
  pollIntervalMs: {
    doc: 'how long an unbounded source waits after finding nothing new',
    default: 1000,
    check: (v) => (positiveInt(v, 2 ** 31 - 1) ? undefined : 'pass milliseconds, e.g. 1000'),
  },
  fetchSize: {
    doc: 'rows per query; default the pipeline batch size',
    check: (v) => (positiveInt(v, 1_000_000) ? undefined : 'pass a whole number, e.g. 1000'),
  },
  parse: {
    doc: 'turns a row into a record; throw to dead-letter the row with your message',
    check: (v) => (typeof v === 'function' ? undefined : 'pass parse: (row) => ({ ... })'),
  },
} as const satisfies OptionSchema;

/**
 * Options of {@link postgresSource}.
 *
 * @example
 * ```ts
 * const options: PostgresSourceOptions<Order> = {
 *   connectionString: 'postgres://postgres@127.0.0.1:5432/shop', table: 'orders', orderBy: ['id'], mode: 'unbounded',
 * };
 * ```
 */
export interface PostgresSourceOptions<T> {
  readonly connectionString: string;
  readonly table: string;
  readonly schema?: string;
  /**
   * Columns whose values only grow as rows are added (a serial id; or a
   * commit timestamp then a unique id as tiebreak). Rows are read in this
   * order, and the last row's values are the position kept in checkpoints.
   */
  readonly orderBy: readonly string[];
  /** The columns read; default all. */
  readonly columns?: readonly string[];
  /** `'bounded'` (default): read the rows there when reading starts, then end; `'unbounded'`: keep polling. */
  readonly mode?: 'bounded' | 'unbounded';
  /** Unbounded: how long to wait after finding nothing new (ms); default 1,000. */
  readonly pollIntervalMs?: number;
  /** Rows per query; default the pipeline's batch size. */
  readonly fetchSize?: number;
  /** Turns a row into a record; throw to dead-letter the row. Default the row itself. */
  readonly parse?: (row: Record<string, unknown>) => T;
}

export type ResolvedSourceOptions<T> = PostgresSourceOptions<T> &
  Required<Pick<PostgresSourceOptions<T>, 'mode' | 'pollIntervalMs'>>;
