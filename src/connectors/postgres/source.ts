/**
 * The PostgreSQL polling source: reads a table in the order of columns that
 * only grow (`orderBy`: a serial id, or a timestamp with a unique tiebreak),
 * a batch per query — `WHERE (k1, k2) > ($1, $2) ORDER BY k1, k2 LIMIT n`,
 * keyset pagination, so each query costs the same however far it has read.
 *
 * Its position is the last row handed out: the `orderBy` values as text
 * (exact: a timestamp keeps its microseconds, a bigint all its digits), so a
 * run resumed from a checkpoint reads from the next row on — nothing lost,
 * nothing twice. `'bounded'` reads up to the last row present when it first
 * opened (kept in the position, so a resumed run ends at the same row) and
 * ends; `'unbounded'` keeps polling, waiting `pollIntervalMs` after a query
 * found nothing.
 *
 * The order must be the order rows become visible. A serial id assigned in
 * one transaction can become visible after a higher one committed by another
 * (concurrent writers), and a row behind the position is never read: with
 * concurrent writers, order by a column set at commit by a single writer
 * (an outbox relay's sequence) or read with a delay. Rows `parse` rejects go
 * to the dead-letter output. Logical-replication CDC (pgoutput) is not
 * implemented.
 */
import type { Source, SourceReader } from '../../core/connector.ts';
import { configError, EddyError } from '../../errors/index.ts';
import {
  type PostgresSourceOptions,
  type ResolvedSourceOptions,
  resolveOptions,
  SOURCE_SCHEMA,
} from './options.ts';
import { checkColumns, connect, describeTable, ioError, qualified, quoteIdent } from './sql.ts';

const OWNER = 'postgresSource';

/** The source's position: the last row handed out and, bounded, the last row to read (orderBy values as text). */
interface Position {
  readonly after: readonly string[] | null;
  readonly until?: readonly string[] | null;
}

/**
 * Reads a table in `orderBy` order; a checkpoint keeps the last row read.
 *
 * @example
 * ```ts
 * p.source('orders', postgresSource<Order>({
 *   connectionString: 'postgres://postgres@127.0.0.1:5432/shop',
 *   table: 'orders', orderBy: ['id'], mode: 'unbounded', pollIntervalMs: 500,
 * }), { timestamp: (o) => o.placedAt.getTime() });
 * ```
 */
export function postgresSource<T = Record<string, unknown>>(options: PostgresSourceOptions<T>): Source<T> {
  const o = resolveOptions<ResolvedSourceOptions<T>>(OWNER, SOURCE_SCHEMA, options);
  return {
    kind: 'postgres',
    async open(ctx): Promise<SourceReader<T>> {
      const stepId = ctx.stepId;
      const client = await connect(o.connectionString, OWNER, stepId);
      try {
        const info = await describeTable(client, o.schema, o.table, OWNER, stepId);
        checkColumns(info, o.orderBy, 'orderBy columns', OWNER, stepId);
        if (o.columns !== undefined) checkColumns(info, o.columns, 'columns', OWNER, stepId);
        const nullable = o.orderBy.find((k) => !info.columns.get(k)!.notNull);
        if (nullable !== undefined)
          throw configError(
            `${OWNER}: orderBy column "${nullable}" of ${info.schema}.${info.table} may be NULL, and a row with NULL there would never be read`,
            nullable,
            `make it NOT NULL (ALTER TABLE ${info.schema}.${info.table} ALTER COLUMN ${nullable} SET NOT NULL) or order by another column`,
            stepId,
          );
        const target = qualified(info.schema, info.table);
        const keys = o.orderBy.map(quoteIdent);
        const keyTuple = `(${keys.join(', ')})`;
        const params = (from: number) =>
          `(${o.orderBy.map((k, i) => `$${from + i}::${info.columns.get(k)!.type}`).join(', ')})`;
        const selected = o.columns ?? [...info.columns.keys()];
        const keyTexts = o.orderBy.map((k, i) => `${quoteIdent(k)}::text AS "__eddy_k${i}"`);
        const select = `SELECT ${[...selected.map(quoteIdent), ...keyTexts].join(', ')} FROM ${target}`;
        const order = ` ORDER BY ${keys.join(', ')} LIMIT `;
        const n = o.orderBy.length;
        const textsOf = (row: Record<string, unknown>) =>
          o.orderBy.map((_, i) => row[`__eddy_k${i}`] as string);

        const restored = restoredPosition(ctx.restored, n, stepId);
        let after = restored?.after ?? null;
        let until: readonly string[] | null | undefined;
        if (o.mode === 'bounded') {
          if (restored !== undefined && restored.until !== undefined) until = restored.until;
          else {
            const last = await client.query<Record<string, unknown>>(
              `SELECT ${keyTexts.join(', ')} FROM ${target} ORDER BY ${o.orderBy.map((k) => `${quoteIdent(k)} DESC`).join(', ')} LIMIT 1`,
            );
            until = last.rows[0] === undefined ? null : textsOf(last.rows[0]);
          }
        }
        const fetchSize = o.fetchSize ?? ctx.batchSize;
        const parse = o.parse;
        let done = o.mode === 'bounded' && until === null;
        let nextQueryAt = 0;
        return {
          async poll(max) {
            if (done) return null;
            if (o.mode === 'unbounded' && ctx.clock.now() < nextQueryAt) return { values: [] };
            const limit = Math.max(1, Math.min(max, fetchSize));
            const conditions: string[] = [];
            const values: unknown[] = [];
            if (after !== null) {
              conditions.push(`${keyTuple} > ${params(values.length + 1)}`);
              values.push(...after);
            }
            if (until !== undefined && until !== null) {
              conditions.push(`${keyTuple} <= ${params(values.length + 1)}`);
              values.push(...until);
            }
            values.push(limit);
            const where = conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
            let rows: Record<string, unknown>[];
            try {
              rows = (await client.query(`${select}${where}${order}$${values.length}`, values)).rows;
            } catch (e) {
              throw ioError(OWNER, `reading ${target}`, e, stepId);
            }
            if (rows.length === 0) {
              if (o.mode === 'bounded') {
                done = true;
                return null;
              }
              nextQueryAt = ctx.clock.now() + o.pollIntervalMs;
              return { values: [] };
            }
            after = textsOf(rows[rows.length - 1]!);
            if (o.mode === 'bounded' && rows.length < limit) done = true;
            const out: T[] = [];
            for (const row of rows) {
              for (let i = 0; i < n; i++) delete row[`__eddy_k${i}`];
              if (parse === undefined) out.push(row as T);
              else
                try {
                  out.push(parse(row));
                } catch (e) {
                  ctx.deadLetter(
                    'EDDY_DECODE_FAILED',
                    `parse threw for a row of ${target}: ${e instanceof Error ? e.message : String(e)}`,
                    row,
                  );
                }
            }
            return { values: out };
          },
          position: () =>
            (o.mode === 'bounded' ? { after, until: until ?? null } : { after }) satisfies Position,
          close: () => client.end().catch(() => {}),
        };
      } catch (e) {
        await client.end().catch(() => {});
        throw e;
      }
    },
  };
}

function restoredPosition(restored: unknown, n: number, stepId: string): Position | undefined {
  if (restored === undefined) return undefined;
  const p = restored as Position | null;
  const ok = (v: unknown) =>
    v === null || (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'string'));
  if (p === null || typeof p !== 'object' || !ok(p.after) || (p.until !== undefined && !ok(p.until)))
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `${OWNER}: the checkpoint's position is not this source's (${n} orderBy values); resume from a checkpoint of the same source and orderBy`,
      { stepId },
    );
  return p;
}
