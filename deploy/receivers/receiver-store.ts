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

/** A WMS truncation as stored: every row of the position's shard older than it is removed. */
export interface StockTruncationRecord {
  idempotencyKey: string;
  op: 't';
  shard: number;
  position: string;
  commitTs: string;
}

/** An ERP posting as stored; the receiver has validated it. */
export interface PostingRecord {
  postingId: string;
  /** A movement to add, or a balance to set (a snapshot's line): booked as the difference to the ERP's sum. */
  lines: ({ sku: string; warehouse: string } & ({ deltaOnHand: number; deltaReserved: number } | { onHand: number; reserved: number }))[];
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

/**
 * A request's signature nonce and the receiver's signature window: a nonce already stored within the
 * window is a replayed request, refused ('replayed') without storing or counting it as a duplicate. A
 * retry is a new attempt with a nonce of its own, so it still meets the idempotency key ('duplicate').
 */
export interface ReplayGuard {
  nonce: string;
  windowSeconds: number;
}

export type CounterName = 'received' | 'duplicates' | 'rejected' | 'out_of_order';

/**
 * Each counter is spread over this many rows (cells) of `receiver_counter_cells`; an increment adds 1 to a
 * random cell and a read sums the cells. With a single row per counter, every request of a receiver
 * updated the same row, so concurrent requests queued on its row lock until the one ahead committed.
 */
const counterCells = 16;

/**
 * `position` is compared as a string, and must sort byte-wise: the database's default collation (often
 * en_US) ignores punctuation such as the `:` separators of a source position, hence `collate "C"`.
 * `window` is a reserved word in SQL, hence the quotes.
 *
 * Storing a change or a posting is one function call, so a request costs one round trip to Postgres
 * instead of one per statement (begin, insert, select for update, upsert, commit, counters): a receiver
 * under a concurrent client is bound by those round trips, not by the work in them. A function call is
 * a single statement, hence a single transaction: the change, its effect on stock and its counters
 * commit together or not at all.
 */
/**
 * The start of a store function (parameters `p_nonce`, `p_window_seconds`): records the request's
 * signature nonce, or answers 'replayed' (counted received and rejected) when it is already there. The
 * nonces a timestamp check would refuse anyway are forgotten now and then, about one request in a hundred.
 */
const replayGuard = (name: ReceiverName): string => `insert into ${name}.seen_nonces (nonce) values (p_nonce) on conflict do nothing;
      if not found then
        perform ${name}.increment_counters(array['received', 'rejected']);
        return 'replayed';
      end if;
      if random() < 0.01 then
        delete from ${name}.seen_nonces where seen_at < now() - make_interval(secs => p_window_seconds * 2);
      end if;`;

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
    // A deleted row stays as a tombstone holding the delete's position (see record_stock_change).
    `alter table wms.wms_stock add column if not exists deleted boolean not null default false`,
    // Stores the change once per idempotency key, applies it to wms_stock when it is newer, counts it,
    // and answers 'applied' or 'duplicate'. Parameters are prefixed p_ so none is mistaken for a column.
    `create or replace function wms.record_stock_change(
      p_idempotency_key text, p_sku text, p_warehouse text, p_on_hand bigint, p_reserved bigint, p_available bigint,
      p_position text, p_op text, p_commit_ts timestamptz, p_nonce text, p_window_seconds int) returns text
    language plpgsql as $function$
    declare
      older boolean;
    begin
      ${replayGuard('wms')}
      insert into wms.wms_changes (idempotency_key, sku, warehouse, on_hand, reserved, available, position, op, commit_ts)
      values (p_idempotency_key, p_sku, p_warehouse, p_on_hand, p_reserved, p_available, p_position, p_op, p_commit_ts)
      on conflict (idempotency_key) do nothing;
      if not found then
        -- Stored before (a concurrent insert of the same key waits for the first to commit, then lands here).
        perform wms.increment_counters(array['received', 'duplicates']);
        return 'duplicate';
      end if;
      -- Locks the stock row, so concurrent changes to one SKU and warehouse apply one after the other and
      -- each compares with what the one before it left. No row: older stays null, not out of order.
      select p_position collate "C" < s.position into older
      from wms.wms_stock s where s.sku = p_sku and s.warehouse = p_warehouse for update;
      -- Newer position wins (the column is collate "C"); an equal or older one leaves the row as is. A
      -- delete is applied the same way, as a tombstone keeping its position: an older change arriving
      -- after the delete then finds a newer position and cannot bring the row back.
      insert into wms.wms_stock as s (sku, warehouse, on_hand, reserved, available, position, deleted)
      values (p_sku, p_warehouse, p_on_hand, p_reserved, p_available, p_position, p_op = 'd')
      on conflict (sku, warehouse) do update
        set on_hand = excluded.on_hand, reserved = excluded.reserved, available = excluded.available,
            position = excluded.position, deleted = excluded.deleted
        where s.position < excluded.position;
      -- Counters last, so their cells stay locked only until the commit right after. A change older than
      -- the stock is still stored (the WMS received it) but has left the stock as it was: out of order.
      perform wms.increment_counters(case when older then array['received', 'out_of_order'] else array['received'] end);
      return 'applied';
    end
    $function$`,
    `create table if not exists wms.wms_truncations (
      idempotency_key text primary key, shard int not null, position text collate "C" not null,
      commit_ts timestamptz not null, received_at timestamptz not null default now())`,
    // Stores the truncation once per idempotency key and removes every row of its shard (the position's
    // first field) older than it; rows written after the truncate stay. Answers 'applied' or 'duplicate'.
    `drop function if exists wms.record_stock_truncation(text, int, text, timestamptz)`,
    `create or replace function wms.record_stock_truncation(
      p_idempotency_key text, p_shard int, p_position text, p_commit_ts timestamptz, p_nonce text, p_window_seconds int) returns text
    language plpgsql as $function$
    begin
      ${replayGuard('wms')}
      insert into wms.wms_truncations (idempotency_key, shard, position, commit_ts)
      values (p_idempotency_key, p_shard, p_position, p_commit_ts)
      on conflict (idempotency_key) do nothing;
      if not found then
        perform wms.increment_counters(array['received', 'duplicates']);
        return 'duplicate';
      end if;
      delete from wms.wms_stock s
      where s.position < p_position collate "C" and split_part(s.position, ':', 1) = split_part(p_position, ':', 1);
      perform wms.increment_counters(array['received']);
      return 'applied';
    end
    $function$`,
  ],
  erp: [
    `create table if not exists erp.erp_postings (
      posting_id text primary key, lines jsonb not null, "window" jsonb not null,
      created_at timestamptz not null, received_at timestamptz not null default now())`,
    `create table if not exists erp.erp_lines (
      posting_id text not null references erp.erp_postings (posting_id) on delete cascade, line_no int not null,
      sku text not null, warehouse text not null, delta_on_hand bigint not null, delta_reserved bigint not null,
      primary key (posting_id, line_no))`,
    // A balance line reads the key's sum so far: without this index each one scans every line booked, and a
    // catalogue's snapshot (one balance line per row) costs quadratic time.
    `create index if not exists erp_lines_sku_warehouse on erp.erp_lines (sku, warehouse)`,
    // Stores the posting and its lines once per posting id, counts it, and answers 'booked' or 'duplicate'.
    // A balance line is booked as the difference between the balance and the key's sum so far, so a
    // snapshot read twice books its stock once. Postings with a balance line take one lock, so two of them
    // never both read the same sum.
    // Earlier signatures of the function (before balance lines, before signed nonces), so the store's
    // database from an older receiver gets the current one.
    `drop function if exists erp.record_posting(text, jsonb, jsonb, timestamptz, text[], text[], bigint[], bigint[])`,
    `drop function if exists erp.record_posting(text, jsonb, jsonb, timestamptz, text[], text[], bigint[], bigint[], text, int)`,
    `drop function if exists erp.record_posting(text, jsonb, jsonb, timestamptz, text[], text[], bigint[], bigint[], boolean[])`,
    `create or replace function erp.record_posting(
      p_posting_id text, p_lines jsonb, p_window jsonb, p_created_at timestamptz,
      p_skus text[], p_warehouses text[], p_deltas_on_hand bigint[], p_deltas_reserved bigint[], p_balances boolean[],
      p_nonce text, p_window_seconds int) returns text
    language plpgsql as $function$
    begin
      ${replayGuard('erp')}
      insert into erp.erp_postings (posting_id, lines, "window", created_at)
      values (p_posting_id, p_lines, p_window, p_created_at)
      on conflict (posting_id) do nothing;
      if not found then
        perform erp.increment_counters(array['received', 'duplicates']);
        return 'duplicate';
      end if;
      if true = any (p_balances) then perform pg_advisory_xact_lock(hashtext('erp.record_posting balance')); end if;
      insert into erp.erp_lines (posting_id, line_no, sku, warehouse, delta_on_hand, delta_reserved)
      select p_posting_id, line.n - 1, line.sku, line.warehouse,
        line.delta_on_hand - case when line.balance then coalesce(held.on_hand, 0) else 0 end,
        line.delta_reserved - case when line.balance then coalesce(held.reserved, 0) else 0 end
      from unnest(p_skus, p_warehouses, p_deltas_on_hand, p_deltas_reserved, p_balances) with ordinality
        as line (sku, warehouse, delta_on_hand, delta_reserved, balance, n)
      left join lateral (
        select sum(booked.delta_on_hand) as on_hand, sum(booked.delta_reserved) as reserved
        from erp.erp_lines booked
        where line.balance and booked.sku = line.sku and booked.warehouse = line.warehouse and booked.posting_id <> p_posting_id
      ) held on true;
      perform erp.increment_counters(array['received']);
      return 'booked';
    end
    $function$`,
  ],
};

/**
 * The counters, as cells (see `counterCells`), and `increment_counters(names)`, which adds 1 to each named
 * counter in one statement. Callers name 'received' first: every transaction then locks its cells in
 * the same order of counters (and no cell before a change or stock row), so two cannot deadlock.
 *
 * Receivers before the cells kept one row per counter in `receiver_counters`; a database made by one
 * has its counts carried over into cell 0 once, and that table dropped, so no stale counters remain.
 */
const countersDdl = (name: ReceiverName): string[] => [
  // The signature nonces of stored requests, for the window in which a request's timestamp is accepted.
  `create table if not exists ${name}.seen_nonces (nonce text primary key, seen_at timestamptz not null default now())`,
  `create table if not exists ${name}.receiver_counter_cells (
    name text not null, cell smallint not null, value bigint not null default 0, primary key (name, cell))`,
  `do $do$ begin
    if to_regclass('${name}.receiver_counters') is not null then
      insert into ${name}.receiver_counter_cells (name, cell, value)
      select name, 0, value from ${name}.receiver_counters where receiver = '${name}'
      on conflict (name, cell) do update set value = receiver_counter_cells.value + excluded.value;
      drop table ${name}.receiver_counters;
    end if;
  end $do$`,
  `create or replace function ${name}.increment_counters(p_names text[]) returns void
  language sql as $function$
    insert into ${name}.receiver_counter_cells (name, cell, value)
    select counter, floor(random() * ${counterCells})::smallint, 1 from unnest(p_names) with ordinality as c (counter, n)
    order by c.n
    on conflict (name, cell) do update set value = receiver_counter_cells.value + 1
  $function$`,
];

/** The table whose row count is the number of changes or postings applied (stored for the first time). */
const appliedTable: Record<ReceiverName, string> = { wms: 'wms.wms_changes', erp: 'erp.erp_postings' };

/** Listed in the order a store function locks them, so a reset during requests cannot deadlock with one. */
const allTables: Record<ReceiverName, string> = {
  wms: 'wms.seen_nonces, wms.wms_changes, wms.wms_truncations, wms.wms_stock, wms.receiver_counter_cells',
  erp: 'erp.seen_nonces, erp.erp_postings, erp.erp_lines, erp.receiver_counter_cells',
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
      // Counters first: increment_counters is a SQL function, checked against its table when created.
      for (const statement of [...countersDdl(name), ...ddl[name]]) await client.query(statement);
    });
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return pool;
}

/**
 * Adds 1 to each of `counters` in one round trip. Name 'received' first when it is among them (see
 * `countersDdl`), and each counter at most once.
 */
export async function incrementCounters(pool: Pool, name: ReceiverName, counters: CounterName[]): Promise<void> {
  await pool.query(`select ${name}.increment_counters($1::text[])`, [counters]);
}

/** The `/admin/state` counts. `applied` is the stored rows themselves, so it cannot drift from the tables. */
export async function readCounts(pool: Pool, name: ReceiverName): Promise<ReceiverCounts> {
  const counters = await pool.query<{ name: CounterName; value: string }>(
    `select name, sum(value) as value from ${name}.receiver_counter_cells group by name`,
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
 * overwriting newer stock. A delete leaves a tombstone with its position, so an older change arriving
 * after the delete is out of order too and does not recreate the row.
 *
 * Also counts the request as received (and a duplicate as one), all in one round trip: see
 * `wms.record_stock_change` in the DDL above.
 */
export async function recordStockChange(
  pool: Pool,
  change: StockChangeRecord,
  replay: ReplayGuard,
): Promise<'applied' | 'duplicate' | 'replayed'> {
  const result = await pool.query<{ status: 'applied' | 'duplicate' | 'replayed' }>(
    `select wms.record_stock_change($1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::bigint, $7::text, $8::text, $9::timestamptz,
       $10::text, $11::int) as status`,
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
      replay.nonce,
      replay.windowSeconds,
    ],
  );
  return result.rows[0]!.status;
}

/** Stores a truncation once per idempotency key and applies it: one round trip, see `wms.record_stock_truncation`. */
export async function recordStockTruncation(
  pool: Pool,
  truncation: StockTruncationRecord,
  replay: ReplayGuard,
): Promise<'applied' | 'duplicate' | 'replayed'> {
  const result = await pool.query<{ status: 'applied' | 'duplicate' | 'replayed' }>(
    `select wms.record_stock_truncation($1::text, $2::int, $3::text, $4::timestamptz, $5::text, $6::int) as status`,
    [truncation.idempotencyKey, truncation.shard, truncation.position, truncation.commitTs, replay.nonce, replay.windowSeconds],
  );
  return result.rows[0]!.status;
}

export async function readWmsStock(pool: Pool): Promise<WmsStockRow[]> {
  const result = await pool.query<Record<keyof WmsStockRow, string>>(
    `select sku, warehouse, on_hand as "onHand", reserved, available, position from wms.wms_stock where not deleted
     order by sku, warehouse`,
  );
  return result.rows.map((row) => ({
    ...row,
    onHand: Number(row.onHand),
    reserved: Number(row.reserved),
    available: Number(row.available),
  }));
}

/**
 * Stores a posting and its lines in one transaction, once per posting id, and counts the request as
 * received (and a duplicate as one): one round trip, see `erp.record_posting` in the DDL above.
 */
export async function recordPosting(pool: Pool, posting: PostingRecord, replay: ReplayGuard): Promise<'booked' | 'duplicate' | 'replayed'> {
  const result = await pool.query<{ status: 'booked' | 'duplicate' | 'replayed' }>(
    `select erp.record_posting($1::text, $2::jsonb, $3::jsonb, $4::timestamptz, $5::text[], $6::text[], $7::bigint[], $8::bigint[],
       $9::boolean[], $10::text, $11::int) as status`,
    [
      posting.postingId,
      JSON.stringify(posting.lines),
      JSON.stringify(posting.window),
      posting.createdAt,
      posting.lines.map((line) => line.sku),
      posting.lines.map((line) => line.warehouse),
      posting.lines.map((line) => ('onHand' in line ? line.onHand : line.deltaOnHand)),
      posting.lines.map((line) => ('onHand' in line ? line.reserved : line.deltaReserved)),
      posting.lines.map((line) => 'onHand' in line),
      replay.nonce,
      replay.windowSeconds,
    ],
  );
  return result.rows[0]!.status;
}

/** The ERP's view of stock: every booked line (a balance line booked as its difference) summed per SKU and warehouse. */
export async function readErpNetStock(pool: Pool): Promise<ErpNetStockRow[]> {
  const result = await pool.query<Record<keyof ErpNetStockRow, string>>(
    `select sku, warehouse, sum(delta_on_hand)::bigint as "deltaOnHand", sum(delta_reserved)::bigint as "deltaReserved"
     from erp.erp_lines group by sku, warehouse order by sku, warehouse`,
  );
  return result.rows.map((row) => ({ ...row, deltaOnHand: Number(row.deltaOnHand), deltaReserved: Number(row.deltaReserved) }));
}
