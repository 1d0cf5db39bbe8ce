/**
 * What the reference receivers keep in PostgreSQL: the tables, and the few statements that fill and read
 * them.
 *
 * Each receiver owns a schema named after it (`wms` / `erp`), so both can share one database. The intended
 * home is a database named `receivers` on the local stack's shard-0 server, which the caller creates
 * (`create database receivers`); the receivers only create their schema and tables in it.
 *
 * Everything a receiver is asked to remember goes through Postgres, not memory, so a test can restart a
 * receiver (or read the tables directly) and still see every change, duplicate and counter.
 */
import { Pool, type PoolClient } from 'pg';

export type ReceiverName = 'wms' | 'erp';

/** A WMS stock change as stored; the receiver has validated it. */
export interface StockChangeRecord {
  idempotencyKey: string;
  sku: string;
  warehouse: string;
  onHand: number;
  reserved: number;
  available: number;
  position: string;
  op: 'c' | 'u' | 'd' | 'r';
  commitTs: string;
}

/** An ERP posting as stored; the receiver has validated it. */
export interface PostingRecord {
  postingId: string;
  lines: { sku: string; warehouse: string; deltaOnHand: number; deltaReserved: number }[];
  window: unknown;
  createdAt: string;
}

export interface ReceiverCounts {
  received: number;
  applied: number;
  duplicates: number;
  rejected: number;
  outOfOrder: number;
}

export interface WmsStockRow {
  sku: string;
  warehouse: string;
  onHand: number;
  reserved: number;
  available: number;
  position: string;
}

export interface ErpNetStockRow {
  sku: string;
  warehouse: string;
  deltaOnHand: number;
  deltaReserved: number;
}

export type CounterName = 'received' | 'duplicates' | 'rejected' | 'out_of_order';

/**
 * `position` is compared as a string, and must sort byte-wise: the database's default collation (often
 * en_US) ignores punctuation such as the `:` separators of a source position, hence `collate "C"`.
 * `window` is a reserved word in SQL, hence the quotes.
 */
const ddl: Record<ReceiverName, string[]> = {
  wms: [
    `create table if not exists wms.wms_changes (
      idempotency_key text primary key, sku text not null, warehouse text not null,
      on_hand bigint not null, reserved bigint not null, available bigint not null,
      position text collate "C" not null, op text not null check (op in ('c', 'u', 'd', 'r')),
      commit_ts timestamptz not null, received_at timestamptz not null default now())`,
    `create table if not exists wms.wms_stock (
      sku text not null, warehouse text not null,
      on_hand bigint not null, reserved bigint not null, available bigint not null,
      position text collate "C" not null, primary key (sku, warehouse))`,
  ],
  erp: [
    `create table if not exists erp.erp_postings (
      posting_id text primary key, lines jsonb not null, "window" jsonb not null,
      created_at timestamptz not null, received_at timestamptz not null default now())`,
    `create table if not exists erp.erp_lines (
      posting_id text not null references erp.erp_postings (posting_id) on delete cascade, line_no int not null,
      sku text not null, warehouse text not null, delta_on_hand bigint not null, delta_reserved bigint not null,
      primary key (posting_id, line_no))`,
  ],
};

const countersDdl = (name: ReceiverName): string =>
  `create table if not exists ${name}.receiver_counters (
    receiver text not null, name text not null, value bigint not null default 0, primary key (receiver, name))`;

/** The table whose row count is the number of changes or postings applied (stored for the first time). */
const appliedTable: Record<ReceiverName, string> = { wms: 'wms.wms_changes', erp: 'erp.erp_postings' };

const allTables: Record<ReceiverName, string> = {
  wms: 'wms.wms_changes, wms.wms_stock, wms.receiver_counters',
  erp: 'erp.erp_lines, erp.erp_postings, erp.receiver_counters',
};

/** Runs `work` in one transaction, rolled back if it throws. */
async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The receiver's store: a pool on `databaseUrl` with the receiver's schema in place. An advisory lock
 * serialises the DDL, so two receivers of one kind starting together on one database do not race on
 * `create schema if not exists`.
 */
export async function openReceiverStore(databaseUrl: string, name: ReceiverName, onPoolError: (error: Error) => void): Promise<Pool> {
  const pool = new Pool({ connectionString: databaseUrl, max: 10, application_name: `${name}-receiver` });
  // An idle client losing its connection would otherwise be an unhandled 'error' event: a crash.
  pool.on('error', onPoolError);
  try {
    await inTransaction(pool, async (client) => {
      await client.query('select pg_advisory_xact_lock(hashtext($1))', [`receivers:${name}`]);
      await client.query(`create schema if not exists ${name}`);
      for (const statement of [...ddl[name], countersDdl(name)]) await client.query(statement);
    });
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return pool;
}

export async function incrementCounter(db: Pool | PoolClient, name: ReceiverName, counter: CounterName): Promise<void> {
  await db.query(
    `insert into ${name}.receiver_counters (receiver, name, value) values ($1, $2, 1)
     on conflict (receiver, name) do update set value = receiver_counters.value + 1`,
    [name, counter],
  );
}

/** The `/admin/state` counts. `applied` is the stored rows themselves, so it cannot drift from the tables. */
export async function readCounts(pool: Pool, name: ReceiverName): Promise<ReceiverCounts> {
  const counters = await pool.query<{ name: CounterName; value: string }>(
    `select name, value from ${name}.receiver_counters where receiver = $1`,
    [name],
  );
  const applied = await pool.query<{ count: string }>(`select count(*) as count from ${appliedTable[name]}`);
  const value = (counter: CounterName): number => Number(counters.rows.find((row) => row.name === counter)?.value ?? 0);
  return {
    received: value('received'),
    applied: Number(applied.rows[0]?.count ?? 0),
    duplicates: value('duplicates'),
    rejected: value('rejected'),
    outOfOrder: value('out_of_order'),
  };
}

/** Empties the receiver's tables and counters (`POST /admin/reset`). */
export async function resetReceiver(pool: Pool, name: ReceiverName): Promise<void> {
  await pool.query(`truncate ${allTables[name]}`);
}

/**
 * Stores a WMS change once per idempotency key and applies it to `wms_stock` when it is newer than what
 * is there. An older change is still stored (the WMS received it) but counted out of order instead of
 * overwriting newer stock. A delete removes the row, so the WMS forgets that position: an older change
 * arriving after a delete recreates the row, as a WMS keyed on rows alone would.
 */
export async function recordStockChange(pool: Pool, change: StockChangeRecord): Promise<'applied' | 'duplicate'> {
  const inserted = await inTransaction(pool, async (client) => {
    const stored = await client.query(
      `insert into wms.wms_changes (idempotency_key, sku, warehouse, on_hand, reserved, available, position, op, commit_ts)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (idempotency_key) do nothing`,
      [
        change.idempotencyKey,
        change.sku,
        change.warehouse,
        change.onHand,
        change.reserved,
        change.available,
        change.position,
        change.op,
        change.commitTs,
      ],
    );
    if (stored.rowCount === 0) return false;
    await applyToStock(client, change);
    return true;
  });
  if (!inserted) await incrementCounter(pool, 'wms', 'duplicates');
  return inserted ? 'applied' : 'duplicate';
}

async function applyToStock(client: PoolClient, change: StockChangeRecord): Promise<void> {
  const current = await client.query<{ older: boolean }>(
    `select $3::text collate "C" < position as older from wms.wms_stock where sku = $1 and warehouse = $2 for update`,
    [change.sku, change.warehouse, change.position],
  );
  if (current.rows[0]?.older === true) await incrementCounter(client, 'wms', 'out_of_order');
  if (change.op === 'd') {
    await client.query(`delete from wms.wms_stock where sku = $1 and warehouse = $2 and position < $3::text collate "C"`, [
      change.sku,
      change.warehouse,
      change.position,
    ]);
    return;
  }
  await client.query(
    `insert into wms.wms_stock (sku, warehouse, on_hand, reserved, available, position) values ($1, $2, $3, $4, $5, $6)
     on conflict (sku, warehouse) do update
       set on_hand = excluded.on_hand, reserved = excluded.reserved, available = excluded.available, position = excluded.position
       where wms_stock.position < excluded.position`,
    [change.sku, change.warehouse, change.onHand, change.reserved, change.available, change.position],
  );
}

export async function readWmsStock(pool: Pool): Promise<WmsStockRow[]> {
  const result = await pool.query<Record<keyof WmsStockRow, string>>(
    `select sku, warehouse, on_hand as "onHand", reserved, available, position from wms.wms_stock order by sku, warehouse`,
  );
  return result.rows.map((row) => ({
    ...row,
    onHand: Number(row.onHand),
    reserved: Number(row.reserved),
    available: Number(row.available),
  }));
}

/** Stores a posting and its lines in one transaction, once per posting id. */
export async function recordPosting(pool: Pool, posting: PostingRecord): Promise<'booked' | 'duplicate'> {
  const inserted = await inTransaction(pool, async (client) => {
    const stored = await client.query(
      `insert into erp.erp_postings (posting_id, lines, "window", created_at) values ($1, $2::jsonb, $3::jsonb, $4)
       on conflict (posting_id) do nothing`,
      [posting.postingId, JSON.stringify(posting.lines), JSON.stringify(posting.window), posting.createdAt],
    );
    if (stored.rowCount === 0) return false;
    await client.query(
      `insert into erp.erp_lines (posting_id, line_no, sku, warehouse, delta_on_hand, delta_reserved)
       select $1, line.n - 1, line.sku, line.warehouse, line.delta_on_hand, line.delta_reserved
       from unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) with ordinality
         as line (sku, warehouse, delta_on_hand, delta_reserved, n)`,
      [
        posting.postingId,
        posting.lines.map((line) => line.sku),
        posting.lines.map((line) => line.warehouse),
        posting.lines.map((line) => line.deltaOnHand),
        posting.lines.map((line) => line.deltaReserved),
      ],
    );
    return true;
  });
  if (!inserted) await incrementCounter(pool, 'erp', 'duplicates');
  return inserted ? 'booked' : 'duplicate';
}

/** The ERP's view of stock: every booked line summed per SKU and warehouse. */
export async function readErpNetStock(pool: Pool): Promise<ErpNetStockRow[]> {
  const result = await pool.query<Record<keyof ErpNetStockRow, string>>(
    `select sku, warehouse, sum(delta_on_hand)::bigint as "deltaOnHand", sum(delta_reserved)::bigint as "deltaReserved"
     from erp.erp_lines group by sku, warehouse order by sku, warehouse`,
  );
  return result.rows.map((row) => ({ ...row, deltaOnHand: Number(row.deltaOnHand), deltaReserved: Number(row.deltaReserved) }));
}
