#!/bin/sh
# Runs once, after 01-schema.sql, on the first start of an empty data directory: the wal-reader's
# least-privilege role, as deploy/security/reader-role.ts (ensureReaderRole) makes it — LOGIN REPLICATION,
# SELECT on the captured tables only — and the publication, owned by the admin, listing exactly those
# tables (the readers' capture.publicationName in deploy/config/wal-reader.yaml). The redis-cache's
# rebuild logs in as the same role. psql reads the password from the secret itself (`\set … \`cat …\``),
# so it is on no command line; Postgres stores only its SCRAM verifier.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\set password `cat /run/secrets/cdc_reader_password`
create role cdc_reader login replication nosuperuser nocreatedb nocreaterole nobypassrls noinherit password :'password';
\unset password
grant connect on database inventory to cdc_reader;
grant usage on schema inventory to cdc_reader;
grant select on inventory.stock, inventory.reservations, inventory.orders to cdc_reader;
create publication cdc_inventory for table inventory.stock, inventory.reservations, inventory.orders;
-- Ad-hoc snapshot requests (shared/src/reader-contract.ts, snapshotRequestTableDdl): written by the admin
-- only, read by the readers to check that a snapshot signal was asked for.
create schema if not exists cdc_control;
create table if not exists cdc_control.snapshot_requests (
  id text primary key check (length(id) between 1 and 100),
  table_name text not null check (length(table_name) between 3 and 200),
  requested_at timestamptz not null default now()
);
revoke all on cdc_control.snapshot_requests from public;
grant usage on schema cdc_control to cdc_reader;
grant select on cdc_control.snapshot_requests to cdc_reader;
SQL
