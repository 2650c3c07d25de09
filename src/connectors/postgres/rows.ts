/**
 * Writing rows to a table inside an open transaction: batched, parameterised
 * `INSERT … VALUES ($1, $2), ($3, $4) … [ON CONFLICT (key) DO UPDATE]`
 * statements (identifiers quoted, values only ever as parameters), and rows
 * the database refuses found by bisection under savepoints and handed back
 * with the reason, so the good rows of a batch still go in and a bad one is
 * never retried for ever.
 */
import { payloadText } from '../../core/dead-letter.ts';
import { EddyError } from '../../errors/index.ts';
import { type Client, isRefusal, qualified, quoteIdent, refusalReason } from './sql.ts';

/** One row to write: its column values (in the writer's column order) and its record's event time. */
export interface Row {
  readonly values: readonly unknown[];
  readonly time: number;
}

/** A row the database refused, with why. */
export interface Refused {
  readonly row: Row;
  readonly sqlstate: string;
  readonly reason: string;
}

/** The most parameters one statement may carry (the protocol's 16-bit count). */
const MAX_PARAMETERS = 65_535;

/** Builds and runs the statements of one table. */
export class RowWriter {
  readonly #target: string;
  readonly #columns: readonly string[];
  readonly #keyIndexes: readonly number[] | undefined;
  readonly #perStatement: number;
  readonly #tail: string;
  readonly #sql = new Map<number, string>();
  readonly #head: string;

  /** `key` undefined: plain inserts (append); else an upsert on those columns. */
  constructor(
    schema: string,
    table: string,
    columns: readonly string[],
    key: readonly string[] | undefined,
    maxRows: number,
  ) {
    this.#target = qualified(schema, table);
    this.#columns = columns;
    this.#keyIndexes = key?.map((k) => columns.indexOf(k));
    this.#perStatement = Math.max(1, Math.min(maxRows, Math.floor(MAX_PARAMETERS / columns.length)));
    this.#head = `INSERT INTO ${this.#target} (${columns.map(quoteIdent).join(', ')}) VALUES `;
    if (key === undefined) this.#tail = '';
    else {
      const rest = columns.filter((c) => !key.includes(c));
      this.#tail =
        ` ON CONFLICT (${key.map(quoteIdent).join(', ')}) ` +
        (rest.length === 0
          ? 'DO NOTHING'
          : `DO UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`);
    }
  }

  /** The row as an object, for a dead letter's payload. */
  payload(row: Row): string {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < this.#columns.length; i++) o[this.#columns[i]!] = row.values[i];
    return payloadText(o);
  }

  /**
   * Writes `rows` in order inside the caller's transaction. With
   * `refused` the rows the database refuses are collected there; without,
   * the first refusal throws (a user-domain error: a restart would meet the
   * same row again).
   */
  async write(
    client: Client,
    rows: readonly Row[],
    refused: Refused[] | undefined,
    stepId: string,
  ): Promise<void> {
    const list = this.#keyIndexes === undefined ? rows : this.#lastPerKey(rows);
    for (let i = 0; i < list.length; i += this.#perStatement)
      await this.#chunk(client, list.slice(i, i + this.#perStatement), refused, stepId);
  }

  /**
   * An upsert statement may not touch a row twice, so of several rows with
   * one key only the last is written: the same end state as writing them
   * in order. (Keys the database thinks equal but JavaScript does not are
   * caught by the statement and split below.)
   */
  #lastPerKey(rows: readonly Row[]): readonly Row[] {
    const idx = this.#keyIndexes!;
    const last = new Map<string, number>();
    for (let i = 0; i < rows.length; i++) last.set(keyText(rows[i]!.values, idx), i);
    if (last.size === rows.length) return rows;
    const keep = [...last.values()].sort((a, b) => a - b);
    return keep.map((i) => rows[i]!);
  }

  async #chunk(
    client: Client,
    rows: readonly Row[],
    refused: Refused[] | undefined,
    stepId: string,
  ): Promise<void> {
    const width = this.#columns.length;
    const params: unknown[] = new Array(rows.length * width);
    for (let r = 0; r < rows.length; r++) {
      const values = rows[r]!.values;
      for (let c = 0; c < width; c++) params[r * width + c] = values[c] ?? null;
    }
    await client.query('SAVEPOINT eddy_rows');
    try {
      await client.query(this.#statement(rows.length), params);
      await client.query('RELEASE SAVEPOINT eddy_rows');
      return;
    } catch (e) {
      // 21000: the upsert met one row twice (keys equal to the database only); split until it does not.
      const twice = (e as { code?: string }).code === '21000';
      if (!twice && !isRefusal(e)) throw e;
      await client.query('ROLLBACK TO SAVEPOINT eddy_rows');
      await client.query('RELEASE SAVEPOINT eddy_rows');
      if (rows.length === 1 && !twice) {
        const reason = `${this.#target} refused the row: ${refusalReason(e)}`;
        if (refused === undefined)
          throw new EddyError(
            'EDDY_IO_FAILED',
            `${reason}; received onRefused: "fail"; fix the row or the table, or pass onRefused: "dead-letter"`,
            { cause: e, stepId, domain: 'user' },
          );
        refused.push({ row: rows[0]!, sqlstate: (e as { code: string }).code, reason });
        return;
      }
      if (rows.length === 1) throw e;
      const mid = rows.length >> 1;
      await this.#chunk(client, rows.slice(0, mid), refused, stepId);
      await this.#chunk(client, rows.slice(mid), refused, stepId);
    }
  }

  #statement(n: number): string {
    let sql = this.#sql.get(n);
    if (sql !== undefined) return sql;
    const width = this.#columns.length;
    const tuples: string[] = new Array(n);
    for (let r = 0; r < n; r++) {
      const cells: string[] = new Array(width);
      for (let c = 0; c < width; c++) cells[c] = `$${r * width + c + 1}`;
      tuples[r] = `(${cells.join(', ')})`;
    }
    sql = this.#head + tuples.join(', ') + this.#tail;
    // Only the common sizes are kept: a full chunk and the few tails a run meets.
    if (this.#sql.size < 16) this.#sql.set(n, sql);
    return sql;
  }
}

function keyText(values: readonly unknown[], idx: readonly number[]): string {
  let s = '';
  for (const i of idx) {
    const v = values[i];
    s += `${
      typeof v === 'bigint'
        ? `${v}n`
        : v instanceof Date
          ? `d${v.getTime()}`
          : typeof v === 'string'
            ? `s${v}`
            : (JSON.stringify(v) ?? 'null')
    }\u0000`;
  }
  return s;
}
