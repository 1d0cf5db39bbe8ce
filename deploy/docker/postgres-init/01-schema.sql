-- Runs once, on the first start of an empty data directory (docker-entrypoint-initdb.d), in POSTGRES_DB: the
-- demo's inventory tables (inventoryDdl('inventory') in shared/src/testing/inventory-workload.ts).
create schema if not exists "inventory";
create table if not exists "inventory".stock (
  sku text not null,
  warehouse text not null,
  on_hand int4 not null check (on_hand >= 0),
  reserved int4 not null default 0 check (reserved >= 0),
  updated_at timestamptz not null default now(),
  primary key (sku, warehouse)
);
create table if not exists "inventory".reservations (
  id bigserial primary key,
  sku text not null,
  warehouse text not null,
  quantity int4 not null check (quantity > 0),
  order_id bigint not null,
  created_at timestamptz not null default now()
);
create table if not exists "inventory".orders (
  id bigserial primary key,
  sku text not null,
  quantity int4 not null,
  status text not null,
  created_at timestamptz not null default now()
);
-- The erp-adapter books each change's delta, which needs the whole before image of a stock row.
alter table inventory.stock replica identity full;
