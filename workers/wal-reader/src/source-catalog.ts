import { HaltError, createLogicalSlot, sqlIdentifier, sqlQualifiedName } from '@inventory-cdc/shared';
import type { Client } from 'pg';
import type { RelationColumn, ReplicaIdentity } from './pgoutput-decode';
import type { TableShape } from './table-schema';

/**
 * The reader's checks of its source and its queries of the Postgres catalogue: wal_level, the captured
 * tables' shapes and keys, whether they can be captured, the publication, size estimates.
 */

const identityCodes: Record<string, ReplicaIdentity> = { d: 'default', n: 'nothing', f: 'full', i: 'index' };

/** `wal_level` must be `logical` for a slot to decode anything. */
export async function checkWalLevel(client: Client): Promise<void> {
  const result = await client.query<{ wal_level: string }>('show wal_level');
  const level = result.rows[0]?.wal_level;
  if (level !== 'logical') {
    throw new HaltError(
      'wal_level',
      `wal_level is ${level}, logical decoding needs logical`,
      'set wal_level = logical in postgresql.conf and restart Postgres',
    );
  }
}

/** Every captured table with its columns (in pgoutput's order), replica identity and primary key. */
export async function describeTables(client: Client, tables: string[], schemas: string[]): Promise<TableShape[]> {
  const result = await client.query<{
    oid: number;
    schema: string;
    table: string;
    replident: string;
    columns: RelationColumn[];
    primary_key: string[] | null;
  }>(
    `select c.oid::int as oid, n.nspname as schema, c.relname as table, c.relreplident as replident,
            (select json_agg(json_build_object('name', a.attname, 'isKey', false, 'typeOid', a.atttypid::int, 'typeMod', a.atttypmod) order by a.attnum)
               from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = '') as columns,
            (select array_agg(a.attname::text order by k.ord)
               from pg_index i cross join unnest(i.indkey) with ordinality as k(attnum, ord)
               join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
              where i.indrelid = c.oid and i.indisprimary) as primary_key
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p')
        and (n.nspname || '.' || c.relname = any($1::text[]) or n.nspname = any($2::text[]))
      order by 2, 3`,
    [tables, schemas],
  );
  const found = new Set(result.rows.map((row) => `${row.schema}.${row.table}`));
  const missing = tables.filter((table) => !found.has(table));
  if (missing.length > 0) {
    throw new HaltError(
      'capture',
      `captured tables do not exist: ${missing.join(', ')}`,
      'create them, or remove them from capture.tables',
    );
  }
  return result.rows.map((row) => ({
    relationOid: row.oid,
    schema: row.schema,
    table: row.table,
    replicaIdentity: identityCodes[row.replident] ?? 'default',
    columns: row.columns,
    primaryKey: row.primary_key ?? [],
  }));
}

/**
 * A table can be captured when its changes carry enough to key and order them: a primary key (the Kafka
 * key), and a replica identity that includes it (deletes must name the row).
 */
export function checkCapturable(table: TableShape): void {
  const name = `${table.schema}.${table.table}`;
  if (table.primaryKey.length === 0) {
    throw new HaltError(
      'replica_identity',
      `${name} has no primary key, which the fleet uses as the Kafka key`,
      `add a primary key to ${name}`,
    );
  }
  // Kafka topic names allow [a-zA-Z0-9._-] only, up to 249 characters; a table named otherwise would fail
  // its topic's creation on every restart.
  if (!/^[a-zA-Z0-9._-]+$/.test(`${table.schema}.${table.table}`) || name.length > 200) {
    throw new HaltError(
      'topic_name',
      `${JSON.stringify(name)} cannot name a Kafka topic (letters, digits, '.', '_' and '-' only, at most 200 characters)`,
      `rename the table, or leave it out of the captured tables (capture.tables) or its schema`,
    );
  }
  if (table.replicaIdentity === 'nothing') {
    throw new HaltError(
      'replica_identity',
      `${name} has REPLICA IDENTITY NOTHING: its updates and deletes do not say which row changed`,
      `ALTER TABLE ${name} REPLICA IDENTITY DEFAULT (or FULL to also get before images and unchanged TOAST values)`,
    );
  }
}

/** Creates the publication when missing, and adds captured tables it lacks. */
export async function ensurePublication(client: Client, publication: string, tables: string[], schemas: string[]): Promise<void> {
  const exists = await client.query('select 1 from pg_publication where pubname = $1', [publication]);
  const parts = [
    ...(tables.length ? [`table ${tables.map(quoteQualified).join(', ')}`] : []),
    ...schemas.map((schema) => `tables in schema ${sqlIdentifier(schema)}`),
  ];
  if (exists.rowCount === 0) {
    await client.query(`create publication ${sqlIdentifier(publication)} for ${parts.join(', ')}`);
    return;
  }
  const published = await client.query<{ name: string }>(
    `select schemaname || '.' || tablename as name from pg_publication_tables where pubname = $1`,
    [publication],
  );
  const have = new Set(published.rows.map((row) => row.name));
  const lacking = tables.filter((table) => !have.has(table));
  if (lacking.length > 0)
    await client.query(`alter publication ${sqlIdentifier(publication)} add table ${lacking.map(quoteQualified).join(', ')}`);
}

/** Creates the reader's slot on a replication connection, exporting its snapshot when asked. */
export async function createSlotWithSnapshot(
  replicationClient: Client,
  slot: string,
  exportSnapshot: boolean,
): Promise<{ consistentPoint: bigint; snapshotName: string | null }> {
  return createLogicalSlot(replicationClient, slot, { exportSnapshot });
}

/** Estimated rows per table (planner statistics), for the snapshot progress gauge. */
export async function estimateRows(client: Client, tables: TableShape[]): Promise<number> {
  const result = await client.query<{ rows: string }>(
    `select coalesce(sum(greatest(reltuples, 0)), 0)::bigint::text as rows from pg_class where oid = any($1::oid[])`,
    [tables.map((table) => table.relationOid)],
  );
  return Number(result.rows[0]?.rows ?? 0);
}

function quoteQualified(name: string): string {
  const [schema, table] = name.split('.');
  return sqlQualifiedName(schema ?? '', table ?? '');
}
