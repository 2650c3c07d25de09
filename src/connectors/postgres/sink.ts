/**
 * The PostgreSQL sink: batched, parameterised upserts (or appends) into one
 * table, at-least-once or exactly-once.
 *
 * **At-least-once** (`delivery: 'at-least-once'`, or a run without
 * checkpoints): each batch is written in one transaction as it arrives. After
 * a crash the run replays from its last checkpoint and writes those rows
 * again: harmless for upserts (the same end state), duplicates for appends.
 *
 * **Exactly-once** (the default when the run takes checkpoints). Rows are
 * kept in memory per checkpoint epoch; `preCommit(c)` closes the epoch and
 * returns every epoch not yet committed (rows, dead letters, the run's id)
 * — that goes into checkpoint c, so the checkpoint itself is the write-ahead
 * log and no `PREPARE TRANSACTION` is needed (it is off by default:
 * max_prepared_transactions = 0). `commit(c)` then writes, in ONE
 * transaction, the rows of every epoch after the one the database last
 * recorded, the refused rows to the dead-letter table, and
 * `(sink_id, run_id, checkpoint_id = c)` to the checkpoint table, whose row
 * it locks first. Whether an epoch's rows are in is therefore one read:
 * its id ≤ the recorded checkpoint id of the same run. The crash windows:
 *
 * - before checkpoint c is durable (also after `preCommit(c)`): the run
 *   resumes from c−1 and recomputes epoch c; nothing of it was written.
 * - after c is durable, before or during the commit transaction: the
 *   restored writer finds c in `SinkContext.restored`, sees the table
 *   recording an older id, and commits it: once.
 * - after the commit transaction, before the run learned of it (a crash, or
 *   a COMMIT whose answer was lost): the table records c, so the restored
 *   writer (or the next commit, whose committable still carries epoch c)
 *   skips it: never twice.
 * - a commit that fails leaves its epochs in the writer, and the next
 *   checkpoint's committable carries them too (a later checkpoint subsumes
 *   a failed one).
 * - resumed from an older checkpoint than the table records (a savepoint,
 *   an older checkpoint directory): the outputs after it are already in.
 *   Upserts rewind the recorded id and write them again — the same end
 *   state; appends would be written twice, so the sink refuses to open and
 *   says so. Likewise when another run of the same sink (a fresh start)
 *   took the row over since: every fresh start records its run id when it
 *   opens, which also fences off a stale writer of the old run, whose next
 *   commit fails instead of writing.
 *
 * The cost: an epoch's rows are held in memory and stored in the checkpoint
 * until it completes, so checkpoint often when the output is large.
 * Refused rows (SQLSTATE classes 22 and 23: a constraint, a value that does
 * not fit) are found by bisection under savepoints and written to
 * `deadLetterTable` with the reason, in the same transaction as the rows,
 * so they too are recorded exactly once; any other failure fails the run,
 * which restarts from its last checkpoint with backoff.
 */
import { randomUUID } from 'node:crypto';
import type { Sink, SinkContext, SinkWriter } from '../../core/connector.ts';
import { configError, EddyError } from '../../errors/index.ts';
import {
  type PostgresSinkOptions,
  type ResolvedSinkOptions,
  resolveOptions,
  SINK_SCHEMA,
} from './options.ts';
import { type Refused, type Row, RowWriter } from './rows.ts';
import {
  type Client,
  checkColumns,
  connect,
  describeTable,
  ioError,
  qualified,
  type TableInfo,
} from './sql.ts';

const OWNER = 'postgresSink';

/** One checkpoint epoch's output, as stored in the checkpoint. */
interface Epoch {
  readonly id: number;
  readonly rows: Row[];
  /** Records the row function refused: written to the dead-letter table at commit. */
  readonly letters: Letter[];
}

interface Letter {
  readonly sqlstate: string;
  readonly reason: string;
  readonly payload: string;
  readonly time: number;
}

/** What `preCommit` returns: every epoch not yet committed, under the run that wrote them. */
interface Committable {
  readonly run: string;
  readonly checkpointId: number;
  readonly epochs: readonly Epoch[];
}

/**
 * Writes records to a PostgreSQL table: upserts by key (default) or
 * appends, exactly-once with checkpoints (see the file's header).
 *
 * @example
 * ```ts
 * totals.sink(postgresSink<Total>({
 *   connectionString: 'postgres://postgres@127.0.0.1:5432/shop',
 *   table: 'customer_totals', key: ['customer'],
 *   row: (t) => ({ customer: t.key, total: t.value }),
 * }));
 * ```
 */
export function postgresSink<T>(options: PostgresSinkOptions<T>): Sink<T> {
  const o = resolveOptions<ResolvedSinkOptions<T>>(OWNER, SINK_SCHEMA, options);
  if (o.mode === 'insert' && o.key !== undefined)
    throw configError(
      `${OWNER} key is only for mode "upsert"`,
      o.key,
      'leave key out for appends, or pass mode: "upsert"',
    );
  return {
    kind: 'postgres',
    guarantee:
      o.delivery === 'exactly-once' ? 'exactly-once' : o.mode === 'upsert' ? 'idempotent' : 'at-least-once',
    async open(ctx) {
      const client = await connect(o.connectionString, OWNER, ctx.stepId);
      try {
        return await openWriter(o, client, ctx);
      } catch (e) {
        await client.end().catch(() => {});
        throw e;
      }
    },
  };
}

async function openWriter<T>(
  o: ResolvedSinkOptions<T>,
  first: Client,
  ctx: SinkContext,
): Promise<SinkWriter<T>> {
  const stepId = ctx.stepId;
  const info = await describeTable(first, o.schema, o.table, OWNER, stepId);
  const columns = o.columns ?? [...info.columns.values()].filter((c) => !c.automatic).map((c) => c.name);
  checkColumns(info, columns, 'columns', OWNER, stepId);
  const generated = columns.filter((c) => info.columns.get(c)!.generated);
  if (generated.length > 0)
    throw configError(
      `${OWNER}: column "${generated[0]}" of ${info.schema}.${info.table} is generated and cannot be written`,
      generated[0],
      'leave it out of columns',
      stepId,
    );
  if (columns.length === 0)
    throw configError(
      `${OWNER}: no columns to write to ${info.schema}.${info.table} (all have defaults)`,
      columns,
      'pass columns: [...]',
      stepId,
    );
  const key = o.mode === 'upsert' ? upsertKey(o, info, columns, stepId) : undefined;
  const rows = new RowWriter(info.schema, info.table, columns, key, o.maxRowsPerStatement);
  const sinkId = o.sinkId ?? `${info.schema}.${info.table}/${stepId}`;
  const deadLetters = o.onRefused === 'dead-letter' ? qualified(info.schema, o.deadLetterTable) : undefined;
  if (deadLetters !== undefined)
    await createIfMissing(
      first,
      `CREATE TABLE IF NOT EXISTS ${deadLetters} (
         id bigserial PRIMARY KEY, sink_id text NOT NULL, step text NOT NULL, code text NOT NULL,
         sqlstate text, reason text NOT NULL, payload text NOT NULL, event_time double precision,
         at timestamptz NOT NULL DEFAULT now())`,
    );
  const format = o.row;
  const toRow = (v: T, time: number, letters: Letter[]): Row | undefined => {
    let r: unknown;
    try {
      r = format === undefined ? v : format(v);
    } catch (e) {
      letters.push({
        sqlstate: '',
        reason: `row() threw: ${e instanceof Error ? e.message : String(e)}`,
        payload: rows.payload({ values: [], time }),
        time,
      });
      return undefined;
    }
    if (r === null || typeof r !== 'object') {
      letters.push({
        sqlstate: '',
        reason: `a record is not an object of columns (${typeof r}); pass row: (r) => ({ column: value })`,
        payload: JSON.stringify(r) ?? String(r),
        time,
      });
      return undefined;
    }
    const record = r as Record<string, unknown>;
    const values = new Array<unknown>(columns.length);
    for (let i = 0; i < columns.length; i++) values[i] = record[columns[i]!] ?? null;
    return { values, time };
  };

  // One connection, reopened after a failure (a dropped connection must not fail every later commit).
  let client: Client | undefined = first;
  const use = async (): Promise<Client> => {
    client ??= await connect(o.connectionString, OWNER, stepId);
    return client;
  };
  const dropClient = () => {
    const c = client;
    client = undefined;
    void c?.end().catch(() => {});
  };
  /** Runs `body` in a transaction; rolls back and drops the connection on failure. */
  const transaction = async <R>(body: (c: Client) => Promise<R>, what: string): Promise<R> => {
    const c = await use();
    try {
      await c.query('BEGIN');
      const result = await body(c);
      await c.query('COMMIT');
      return result;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      if (e instanceof EddyError) throw e;
      dropClient();
      throw ioError(OWNER, what, e, stepId);
    }
  };
  const writeLetters = async (c: Client, letters: readonly Letter[]) => {
    if (letters.length === 0) return;
    if (deadLetters === undefined) {
      const l = letters[0]!;
      throw new EddyError(
        'EDDY_IO_FAILED',
        `${OWNER}: ${l.reason}; received onRefused: "fail"; fix the row or pass onRefused: "dead-letter"`,
        { stepId, domain: 'user' },
      );
    }
    for (let i = 0; i < letters.length; i += 5000) {
      const part = letters.slice(i, i + 5000);
      const params: unknown[] = [];
      const tuples = part.map((l) => {
        const n = params.length;
        params.push(sinkId, stepId, 'EDDY_IO_FAILED', l.sqlstate || null, l.reason, l.payload, l.time);
        return `($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}, $${n + 7})`;
      });
      await c.query(
        `INSERT INTO ${deadLetters} (sink_id, step, code, sqlstate, reason, payload, event_time) VALUES ${tuples.join(', ')}`,
        params,
      );
    }
  };
  /** Writes rows and dead letters in the caller's transaction. */
  const writeRows = async (c: Client, list: readonly Row[], letters: Letter[]) => {
    const refused: Refused[] | undefined = deadLetters === undefined ? undefined : [];
    await rows.write(c, list, refused, stepId);
    for (const r of refused ?? [])
      letters.push({
        sqlstate: r.sqlstate,
        reason: r.reason,
        payload: rows.payload(r.row),
        time: r.row.time,
      });
    await writeLetters(c, letters);
  };

  const close = async () => {
    const c = client;
    client = undefined;
    await c?.end().catch(() => {});
  };

  if (o.delivery !== 'exactly-once' || !ctx.checkpointing) {
    return {
      async write(values, times) {
        const list: Row[] = [];
        const letters: Letter[] = [];
        for (let i = 0; i < values.length; i++) {
          const row = toRow(values[i]!, times[i] ?? Number.NaN, letters);
          if (row !== undefined) list.push(row);
        }
        await transaction((c) => writeRows(c, list, letters), 'writing a batch');
      },
      close,
    };
  }

  // Exactly-once: the checkpoint table, this run's id, and a restored checkpoint finished first.
  const checkpoints = qualified(info.schema, o.checkpointTable);
  await createIfMissing(
    first,
    `CREATE TABLE IF NOT EXISTS ${checkpoints} (
       sink_id text PRIMARY KEY, run_id text NOT NULL, checkpoint_id bigint NOT NULL,
       committed_at timestamptz NOT NULL DEFAULT now())`,
  );
  /** Locks the sink's row (made if missing) and returns what it records. */
  const lock = async (c: Client, run: string) => {
    await c.query(
      `INSERT INTO ${checkpoints} (sink_id, run_id, checkpoint_id) VALUES ($1, $2, 0) ON CONFLICT (sink_id) DO NOTHING`,
      [sinkId, run],
    );
    const r = await c.query<{ run_id: string; checkpoint_id: string }>(
      `SELECT run_id, checkpoint_id FROM ${checkpoints} WHERE sink_id = $1 FOR UPDATE`,
      [sinkId],
    );
    const row = r.rows[0]!;
    return { run: row.run_id, checkpointId: Number(row.checkpoint_id) };
  };
  const record = (c: Client, run: string, checkpointId: number) =>
    c.query(
      `UPDATE ${checkpoints} SET run_id = $2, checkpoint_id = $3, committed_at = now() WHERE sink_id = $1`,
      [sinkId, run, checkpointId],
    );
  /** Writes the epochs after `after`, in order, in the caller's transaction. */
  const writeEpochs = async (c: Client, epochs: readonly Epoch[], after: number) => {
    const list: Row[] = [];
    const letters: Letter[] = [];
    for (const e of epochs) {
      if (e.id <= after) continue;
      for (const r of e.rows) list.push(r);
      for (const l of e.letters) letters.push(l);
    }
    await writeRows(c, list, letters);
  };

  let run: string;
  const restored = ctx.restored as Committable | undefined;
  if (restored === undefined) {
    run = randomUUID();
    // A fresh start takes the sink's row over: a writer of an older run can no longer commit.
    await transaction(async (c) => {
      await lock(c, run);
      await record(c, run, 0);
    }, 'recording a fresh run');
  } else {
    checkCommittable(restored, stepId);
    run = restored.run;
    await transaction(async (c) => {
      const at = await lock(c, run);
      const r = restored.checkpointId;
      if (at.run !== run || at.checkpointId > r) {
        const why =
          at.run !== run
            ? `another run of sink "${sinkId}" (${at.run}) has written since the run of this checkpoint (${run})`
            : `the table already holds the output up to checkpoint ${at.checkpointId} of sink "${sinkId}", after checkpoint ${r} resumed from`;
        if (o.mode === 'insert')
          throw new EddyError(
            'EDDY_CHECKPOINT_INVALID',
            `${OWNER}: ${why}; appending again would write those rows twice; resume from the latest checkpoint, or delete the rows written since and the sink's row in ${o.checkpointTable}`,
            { stepId, domain: 'user' },
          );
        // Upserts: write again from here; the same rows give the same end state.
        if (at.run !== run) await writeEpochs(c, restored.epochs, 0);
      } else await writeEpochs(c, restored.epochs, at.checkpointId);
      await record(c, run, r);
    }, `finishing the commit of checkpoint ${restored.checkpointId}`);
  }

  let current: Epoch = { id: Number.NaN, rows: [], letters: [] };
  // Closed epochs whose commit has not succeeded yet, oldest first.
  let uncommitted: Epoch[] = [];
  return {
    write(values, times) {
      for (let i = 0; i < values.length; i++) {
        const row = toRow(values[i]!, times[i] ?? Number.NaN, current.letters);
        if (row !== undefined) current.rows.push(row);
      }
    },
    preCommit(checkpointId) {
      if (current.rows.length > 0 || current.letters.length > 0)
        uncommitted.push({ id: checkpointId, rows: current.rows, letters: current.letters });
      current = { id: Number.NaN, rows: [], letters: [] };
      return { run, checkpointId, epochs: [...uncommitted] } satisfies Committable;
    },
    async commit(checkpointId, committable) {
      const c = committable as Committable;
      if (c.epochs.length > 0)
        await transaction(async (db) => {
          const at = await lock(db, run);
          if (at.run !== run)
            throw new EddyError(
              'EDDY_STATE_INVALID',
              `${OWNER}: another run of sink "${sinkId}" (${at.run}) took over its row in ${o.checkpointTable}; this writer stops rather than write twice; give concurrent pipelines different sinkIds`,
              { stepId },
            );
          if (at.checkpointId >= checkpointId) return;
          await writeEpochs(db, c.epochs, at.checkpointId);
          await record(db, run, checkpointId);
        }, `committing checkpoint ${checkpointId}`);
      uncommitted = uncommitted.filter((e) => e.id > checkpointId);
    },
    close,
  };
}

/** The conflict target: the given key or the primary key, covered by a unique index, written as columns. */
function upsertKey<T>(
  o: ResolvedSinkOptions<T>,
  info: TableInfo,
  columns: readonly string[],
  stepId: string,
): readonly string[] {
  const key = o.key ?? info.primaryKey;
  const where = `${info.schema}.${info.table}`;
  if (key.length === 0)
    throw configError(
      `${OWNER} mode "upsert" needs key columns, and ${where} has no primary key`,
      o.key,
      'pass key: ["id"] (with a unique index on them), add a primary key, or pass mode: "insert" to append',
      stepId,
    );
  checkColumns(info, key, 'key columns', OWNER, stepId);
  const wanted = [...key].sort().join('\0');
  if (!info.uniqueKeys.some((k) => [...k].sort().join('\0') === wanted))
    throw configError(
      `${OWNER}: no unique index of ${where} covers exactly the key (${key.join(', ')}), which ON CONFLICT needs`,
      key,
      `create one: CREATE UNIQUE INDEX ON ${where} (${key.join(', ')})`,
      stepId,
    );
  const unwritten = key.filter((k) => !columns.includes(k));
  if (unwritten.length > 0)
    throw configError(
      `${OWNER}: key column "${unwritten[0]}" is not among the columns written`,
      columns,
      'add it to columns',
      stepId,
    );
  return key;
}

function checkCommittable(c: Committable, stepId: string): void {
  if (typeof c?.run !== 'string' || typeof c.checkpointId !== 'number' || !Array.isArray(c.epochs))
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `${OWNER}: the checkpoint's commit record is not a postgresSink's; resume from a checkpoint this sink wrote`,
      { stepId },
    );
}

/** CREATE … IF NOT EXISTS can still race another session's; losing the race is fine. */
async function createIfMissing(client: Client, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== '23505' && code !== '42P07') throw e;
  }
}
