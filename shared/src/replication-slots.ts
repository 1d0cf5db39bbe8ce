import type { Client } from 'pg';
import { parseLsn } from './source-position';
import { sqlIdentifier } from './sql-identifier';

/**
 * Replication slots as the reader and the operators' tools see them in `pg_replication_slots`: creation
 * (with an exported snapshot), state, lag and dropping.
 */

export interface SlotState {
  plugin: string | null;
  database: string | null;
  active: boolean;
  /** `reserved` / `extended` / `unreserved` are usable; `lost` means the WAL it needed is gone. */
  walStatus: string | null;
  confirmedFlushLsn: bigint | null;
  restartLsn: bigint | null;
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

/**
 * The cluster's system identifier (what IDENTIFY_SYSTEM reports), as text: a physical standby promoted by
 * failover keeps it, a different cluster has another one, and LSNs of different clusters cannot be compared.
 */
export async function systemIdentifierOf(client: Client): Promise<string> {
  const result = await client.query<{ id: string }>('select system_identifier::text as id from pg_control_system()');
  const id = result.rows[0]?.id;
  if (!id) throw new Error('pg_control_system() returned no system identifier');
  return id;
}

export async function dropSlot(client: Client, slot: string): Promise<void> {
  await client.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [slot]);
}

/**
 * Creates a logical slot (pgoutput) on a replication connection, exporting its snapshot when asked. The
 * snapshot stays importable (`SET TRANSACTION SNAPSHOT`) only while this connection stays open and idle,
 * so the caller imports it before closing or reusing `replicationClient`. A temporary slot is dropped by
 * Postgres when the connection ends, whatever happens to the process.
 */
export async function createLogicalSlot(
  replicationClient: Client,
  slot: string,
  options: { exportSnapshot: boolean; temporary?: boolean },
): Promise<{ consistentPoint: bigint; snapshotName: string | null }> {
  const result = await replicationClient.query<{ consistent_point: string; snapshot_name: string | null }>(
    `CREATE_REPLICATION_SLOT ${sqlIdentifier(slot)}${options.temporary ? ' TEMPORARY' : ''} LOGICAL pgoutput ${
      options.exportSnapshot ? 'EXPORT_SNAPSHOT' : 'NOEXPORT_SNAPSHOT'
    }`,
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
