import { Client, type ClientBase } from 'pg';
import { shardOf, sqlIdentifier } from '@inventory-cdc/shared';

/**
 * Drops `database` (closing its sessions) and creates it empty on the server of `adminUrl`; returns its URL.
 * The reference receivers' database of the demo and the fault matrix.
 */
export async function recreateDatabase(adminUrl: string, database: string): Promise<string> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${sqlIdentifier(database)} with (force)`);
    await admin.query(`create database ${sqlIdentifier(database)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A connection or a pool: anything that runs one statement. */
export type Queryable = Pick<ClientBase, 'query'>;

/** The inventory tables of one shard, in schema `schema` (the demo uses `inventory`). */
export function inventoryDdl(name: string): string {
  const schema = sqlIdentifier(name);
  return `
  create schema if not exists ${schema};
  create table if not exists ${schema}.stock (
    sku text not null,
    warehouse text not null,
    on_hand int4 not null check (on_hand >= 0),
    reserved int4 not null default 0 check (reserved >= 0),
    updated_at timestamptz not null default now(),
    primary key (sku, warehouse)
  );
  create table if not exists ${schema}.reservations (
    id bigserial primary key,
    sku text not null,
    warehouse text not null,
    quantity int4 not null check (quantity > 0),
    order_id bigint not null,
    created_at timestamptz not null default now()
  );
  create table if not exists ${schema}.orders (
    id bigserial primary key,
    sku text not null,
    quantity int4 not null,
    status text not null,
    created_at timestamptz not null default now()
  );`;
}

export { shardOf } from '@inventory-cdc/shared';

export const warehouses = ['WH-A', 'WH-B', 'WH-C'] as const;

export function skuName(index: number): string {
  return `SKU-${String(index).padStart(6, '0')}`;
}

/** Seeds `skus` SKUs × the warehouses with `onHand` each, every SKU on its own shard. */
export async function seedStock(clients: Queryable[], schema: string, skus: number, onHand: number): Promise<void> {
  const names = Array.from({ length: skus }, (_, index) => skuName(index));
  await Promise.all(
    clients.map((client, shard) =>
      client.query(
        `insert into ${sqlIdentifier(schema)}.stock (sku, warehouse, on_hand) select s, w, $3 from unnest($1::text[]) s, unnest($2::text[]) w`,
        [names.filter((sku) => shardOf(sku, clients.length) === shard), warehouses, onHand],
      ),
    ),
  );
}

/**
 * A purchase as an application makes it: one transaction that reserves stock only when enough is
 * available (on hand − reserved), so availability never goes below zero in the truth, and records the
 * order and its reservation. `client` is a connection of its own (e.g. checked out of a pool).
 */
export async function purchase(client: ClientBase, schema: string, sku: string, warehouse: string, quantity: number): Promise<boolean> {
  await client.query('begin');
  try {
    const updated = await client.query(
      `update ${sqlIdentifier(schema)}.stock set reserved = reserved + $3, updated_at = now() where sku = $1 and warehouse = $2 and on_hand - reserved >= $3`,
      [sku, warehouse, quantity],
    );
    if (updated.rowCount === 0) {
      await client.query('rollback');
      return false;
    }
    const order = await client.query<{ id: string }>(
      `insert into ${sqlIdentifier(schema)}.orders (sku, quantity, status) values ($1, $2, 'placed') returning id`,
      [sku, quantity],
    );
    await client.query(`insert into ${sqlIdentifier(schema)}.reservations (sku, warehouse, quantity, order_id) values ($1, $2, $3, $4)`, [
      sku,
      warehouse,
      quantity,
      order.rows[0]!.id,
    ]);
    await client.query('commit');
    return true;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
}

/**
 * Ships the oldest reservation of `sku` in `warehouse`, if any: the reserved units leave on hand and the
 * reservation, and the order is marked shipped — one transaction. Returns whether something shipped.
 */
export async function ship(client: Queryable, schema: string, sku: string, warehouse: string): Promise<boolean> {
  const result = await client.query(
    `with shipped as (
       delete from ${sqlIdentifier(schema)}.reservations where id = (
         select id from ${sqlIdentifier(schema)}.reservations where sku = $1 and warehouse = $2 order by id limit 1 for update skip locked)
       returning quantity, order_id),
     stock as (
       update ${sqlIdentifier(schema)}.stock s set on_hand = on_hand - shipped.quantity, reserved = reserved - shipped.quantity, updated_at = now()
       from shipped where s.sku = $1 and s.warehouse = $2 returning 1)
     update ${sqlIdentifier(schema)}.orders o set status = 'shipped' from shipped, stock where o.id = shipped.order_id`,
    [sku, warehouse],
  );
  return (result.rowCount ?? 0) > 0;
}

/** A restock: `quantity` more units on hand (always a change, so always an event). */
export async function restock(client: Queryable, schema: string, sku: string, warehouse: string, quantity: number): Promise<void> {
  await client.query(
    `update ${sqlIdentifier(schema)}.stock set on_hand = on_hand + $3, updated_at = now() where sku = $1 and warehouse = $2`,
    [sku, warehouse, quantity],
  );
}

export interface StockRow {
  sku: string;
  warehouse: string;
  onHand: number;
  reserved: number;
}

/** The truth: every stock row of every shard, keyed `sku|warehouse`. */
export async function stockTruth(clients: Queryable[], schema: string): Promise<Map<string, StockRow>> {
  const truth = new Map<string, StockRow>();
  for (const client of clients) {
    const result = await client.query<{ sku: string; warehouse: string; on_hand: number; reserved: number }>(
      `select sku, warehouse, on_hand, reserved from ${sqlIdentifier(schema)}.stock`,
    );
    for (const row of result.rows)
      truth.set(`${row.sku}|${row.warehouse}`, { sku: row.sku, warehouse: row.warehouse, onHand: row.on_hand, reserved: row.reserved });
  }
  return truth;
}
