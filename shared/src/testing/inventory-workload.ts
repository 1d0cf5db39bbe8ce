import type { Client } from 'pg';

/** The inventory tables of one shard, in schema `schema` (the demo uses `inventory`). */
export function inventoryDdl(schema: string): string {
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

/**
 * SKU → shard: FNV-1a of the SKU text, modulo the shard count. Stable (a pure function of the SKU) and not
 * monotonic (consecutive SKUs scatter over the shards), so a hot range never lands on one shard.
 */
export function shardOf(sku: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < sku.length; index++) {
    hash ^= sku.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

export const warehouses = ['WH-A', 'WH-B', 'WH-C'] as const;

export function skuName(index: number): string {
  return `SKU-${String(index).padStart(6, '0')}`;
}

/** Seeds `skus` SKUs × the warehouses with `onHand` each, every SKU on its own shard. */
export async function seedStock(clients: Client[], schema: string, skus: number, onHand: number): Promise<void> {
  const names = Array.from({ length: skus }, (_, index) => skuName(index));
  await Promise.all(
    clients.map((client, shard) =>
      client.query(
        `insert into ${schema}.stock (sku, warehouse, on_hand) select s, w, $3 from unnest($1::text[]) s, unnest($2::text[]) w`,
        [names.filter((sku) => shardOf(sku, clients.length) === shard), warehouses, onHand],
      ),
    ),
  );
}

/**
 * A purchase as an application makes it: one transaction that decrements stock only when enough is left
 * (so stock never goes below zero in the truth), records the order and a reservation.
 */
export async function purchase(client: Client, schema: string, sku: string, warehouse: string, quantity: number): Promise<boolean> {
  await client.query('begin');
  try {
    const updated = await client.query(
      `update ${schema}.stock set on_hand = on_hand - $3, reserved = reserved + $3, updated_at = now() where sku = $1 and warehouse = $2 and on_hand - reserved >= $3`,
      [sku, warehouse, quantity],
    );
    if (updated.rowCount === 0) {
      await client.query('rollback');
      return false;
    }
    const order = await client.query<{ id: string }>(
      `insert into ${schema}.orders (sku, quantity, status) values ($1, $2, 'placed') returning id`,
      [sku, quantity],
    );
    await client.query(`insert into ${schema}.reservations (sku, warehouse, quantity, order_id) values ($1, $2, $3, $4)`, [
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

/** A restock (or a shipment that releases reservations): a second kind of stock change. */
export async function restock(client: Client, schema: string, sku: string, warehouse: string, quantity: number): Promise<void> {
  await client.query(
    `update ${schema}.stock set on_hand = on_hand + $3, reserved = greatest(reserved - 1, 0), updated_at = now() where sku = $1 and warehouse = $2`,
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
export async function stockTruth(clients: Client[], schema: string): Promise<Map<string, StockRow>> {
  const truth = new Map<string, StockRow>();
  for (const client of clients) {
    const result = await client.query<{ sku: string; warehouse: string; on_hand: number; reserved: number }>(
      `select sku, warehouse, on_hand, reserved from ${schema}.stock`,
    );
    for (const row of result.rows)
      truth.set(`${row.sku}|${row.warehouse}`, { sku: row.sku, warehouse: row.warehouse, onHand: row.on_hand, reserved: row.reserved });
  }
  return truth;
}
