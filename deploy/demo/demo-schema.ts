import type { Client } from 'pg';

/**
 * The inventory schema of every shard. A SKU lives on exactly one shard (see `shardOf`), so one row's
 * history is on one shard and, in Kafka, in one partition.
 */
export const inventoryDdl = `
  create schema if not exists inventory;
  create table if not exists inventory.stock (
    sku text not null,
    warehouse text not null,
    on_hand int4 not null check (on_hand >= 0),
    reserved int4 not null default 0 check (reserved >= 0),
    updated_at timestamptz not null default now(),
    primary key (sku, warehouse)
  );
  create table if not exists inventory.reservations (
    id bigserial primary key,
    sku text not null,
    warehouse text not null,
    quantity int4 not null check (quantity > 0),
    order_id bigint not null,
    created_at timestamptz not null default now()
  );
  create table if not exists inventory.orders (
    id bigserial primary key,
    sku text not null,
    quantity int4 not null,
    status text not null,
    created_at timestamptz not null default now()
  );
`;

export async function createInventorySchema(client: Client): Promise<void> {
  await client.query(inventoryDdl);
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
