/**
 * The service side of the transactional outbox: an order service changes its
 * state and records the event in the same PostgreSQL transaction, so the
 * event exists if and only if the change does — no dual write to Kafka that
 * a crash can tear in half. `relay.ts` publishes the outbox to Kafka.
 *
 * The relay reads the outbox in `id` order and remembers the last id it
 * read, so ids must become visible in increasing order. A sequence does not
 * promise that with concurrent writers (a transaction that took id 7 can
 * commit after one that took id 8, and a reader between the two commits
 * would skip 7 for ever). `appendEvent` therefore takes a transaction-level
 * advisory lock just before it draws the id: outbox inserts commit one at a
 * time, in id order. The lock is held only from the insert to the commit —
 * put the outbox insert last in the transaction.
 *
 * @example
 * ```ts
 * const db = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/shop' });
 * await db.connect();
 * await createOutboxSchema(db);
 * await placeOrder(db, { orderId: 'o-1', customer: 'c-7', total: 42 });
 * await changeStatus(db, 'o-1', 'paid');
 * ```
 */
import type pg from 'pg';

/** One event of the outbox, as the relay publishes it (the Kafka key is `aggregateId`). */
export interface OutboxEvent {
  /** The outbox row's id: increasing in commit order, unique: consumers deduplicate on it. */
  readonly eventId: number;
  readonly aggregateId: string;
  /** The aggregate's version after this event: 1, 2, 3, … per aggregate. */
  readonly version: number;
  readonly type: string;
  readonly payload: Record<string, unknown>;
}

/** Any advisory lock number that the application uses for nothing else. */
export const OUTBOX_LOCK = 7_160_016;

export async function createOutboxSchema(db: pg.ClientBase): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS orders (
    order_id text PRIMARY KEY, customer text NOT NULL, status text NOT NULL,
    total numeric NOT NULL, version int NOT NULL)`);
  await db.query(`CREATE TABLE IF NOT EXISTS outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aggregate_id text NOT NULL, version int NOT NULL, type text NOT NULL,
    payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
}

/** Records an event in the caller's transaction: last, under the outbox lock (see the header). */
export async function appendEvent(
  db: pg.ClientBase,
  aggregateId: string,
  version: number,
  type: string,
  payload: Record<string, unknown>,
): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [OUTBOX_LOCK]);
  await db.query('INSERT INTO outbox (aggregate_id, version, type, payload) VALUES ($1, $2, $3, $4)', [
    aggregateId,
    version,
    type,
    JSON.stringify(payload),
  ]);
}

async function inTransaction<R>(db: pg.ClientBase, body: () => Promise<R>): Promise<R> {
  await db.query('BEGIN');
  try {
    const r = await body();
    await db.query('COMMIT');
    return r;
  } catch (e) {
    await db.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

/** Creates an order and its `OrderPlaced` event, atomically. */
export function placeOrder(
  db: pg.ClientBase,
  o: { readonly orderId: string; readonly customer: string; readonly total: number },
): Promise<void> {
  return inTransaction(db, async () => {
    await db.query(
      "INSERT INTO orders (order_id, customer, status, total, version) VALUES ($1, $2, 'placed', $3, 1)",
      [o.orderId, o.customer, o.total],
    );
    await appendEvent(db, o.orderId, 1, 'OrderPlaced', { customer: o.customer, total: o.total });
  });
}

/** Moves an order to `status` and records `OrderStatusChanged`, atomically; the row lock orders an aggregate's events. */
export function changeStatus(db: pg.ClientBase, orderId: string, status: string): Promise<number> {
  return inTransaction(db, async () => {
    const r = await db.query<{ version: number }>(
      'UPDATE orders SET status = $2, version = version + 1 WHERE order_id = $1 RETURNING version',
      [orderId, status],
    );
    const version = r.rows[0]?.version;
    if (version === undefined) throw new Error(`no order "${orderId}"`);
    await appendEvent(db, orderId, version, 'OrderStatusChanged', { status });
    return version;
  });
}
