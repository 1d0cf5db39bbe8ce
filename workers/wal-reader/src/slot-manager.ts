import { HaltError, parseLsn } from '@inventory-cdc/shared';
import type { Client } from 'pg';
import type { RelationColumn, ReplicaIdentity } from './pgoutput-decode';
import type { TableShape } from './table-schema';

export interface SlotState {
  plugin: string | null;
  database: string | null;
  active: boolean;
  /** `reserved` / `extended` / `unreserved` are usable; `lost` means the WAL it needed is gone. */
  walStatus: string | null;
  confirmedFlushLsn: bigint | null;
  restartLsn: bigint | null;
}

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
    ...schemas.map((schema) => `tables in schema ${quoteIdent(schema)}`),
  ];
  if (exists.rowCount === 0) {
    await client.query(`create publication ${quoteIdent(publication)} for ${parts.join(', ')}`);
    return;
  }
  const published = await client.query<{ name: string }>(
    `select schemaname || '.' || tablename as name from pg_publication_tables where pubname = $1`,
    [publication],
  );
  const have = new Set(published.rows.map((row) => row.name));
  const lacking = tables.filter((table) => !have.has(table));
  if (lacking.length > 0)
    await client.query(`alter publication ${quoteIdent(publication)} add table ${lacking.map(quoteQualified).join(', ')}`);
}

export async function readSlot(client: Client, slot: string): Promise<SlotState | undefined> {
  const result = await client.query<{
    plugin: string | null;
    database: string | null;
    active: boolean;
    wal_status: string | null;
    confirmed_flush_lsn: string | null;
    restart_lsn: string | null;
  }>(
    `select plugin, database, active, wal_status, confirmed_flush_lsn::text, restart_lsn::text
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  return {
    plugin: row.plugin,
    database: row.database,
    active: row.active,
    walStatus: row.wal_status,
    confirmedFlushLsn: row.confirmed_flush_lsn ? parseLsn(row.confirmed_flush_lsn) : null,
    restartLsn: row.restart_lsn ? parseLsn(row.restart_lsn) : null,
  };
}

/** Explains what is wrong with an existing slot, or returns undefined when it can be streamed. */
export function slotProblem(slot: SlotState, slotName: string, database: string): string | undefined {
  if (slot.plugin !== 'pgoutput') return `slot ${slotName} uses plugin ${slot.plugin}, not pgoutput`;
  if (slot.database !== database) return `slot ${slotName} belongs to database ${slot.database}, not ${database}`;
  if (slot.walStatus === 'lost' || slot.restartLsn === null)
    return `slot ${slotName} is invalidated (wal_status ${slot.walStatus}): the WAL it needed was removed`;
  return undefined;
}

export async function dropSlot(client: Client, slot: string): Promise<void> {
  await client.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [slot]);
}

/**
 * Creates the slot (a temporary one, dropped with the connection, when asked) on a replication connection
 * and exports its snapshot. The snapshot stays importable
 * (`SET TRANSACTION SNAPSHOT`) only while this connection stays open and idle, so the caller imports it
 * before closing or reusing `replicationClient`.
 */
export async function createSlotWithSnapshot(
  replicationClient: Client,
  slot: string,
  exportSnapshot: boolean,
  options: { temporary?: boolean } = {},
): Promise<{ consistentPoint: bigint; snapshotName: string | null }> {
  const result = await replicationClient.query<{ consistent_point: string; snapshot_name: string | null }>(
    `CREATE_REPLICATION_SLOT ${quoteIdent(slot)}${options.temporary ? ' TEMPORARY' : ''} LOGICAL pgoutput ${exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT'}`,
  );
  const row = result.rows[0];
  if (!row) throw new Error('CREATE_REPLICATION_SLOT returned no row');
  return { consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name };
}

/** Bytes of WAL the slot holds back, and how far its confirmed position trails the server's WAL end. */
export async function slotLag(
  client: Client,
  slot: string,
): Promise<{ retainedBytes: number; confirmedLagBytes: number; walStatus: string | null; active: boolean } | undefined> {
  const result = await client.query<{ retained: string | null; confirmed: string | null; wal_status: string | null; active: boolean }>(
    `select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text as retained,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text as confirmed, wal_status, active
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  return {
    retainedBytes: Number(row.retained ?? 0),
    confirmedLagBytes: Number(row.confirmed ?? 0),
    walStatus: row.wal_status,
    active: row.active,
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteQualified(name: string): string {
  const [schema, table] = name.split('.');
  return `${quoteIdent(schema ?? '')}.${quoteIdent(table ?? '')}`;
}
