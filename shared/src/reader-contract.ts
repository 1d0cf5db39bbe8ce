import type { Message } from 'kafkajs';
import type { Client } from 'pg';

/**
 * What other packages read of the wal-reader: the names it gives its slot, publication and topics, the
 * prefixes of the logical messages it reacts to, and its progress record. Operators' tools (`fleet`) and
 * tests use these instead of the reader's internals, so the reader and its readers cannot drift apart.
 */

/** Non-transactional logical message the reader writes into the WAL so an idle shard's slot keeps moving. */
export const heartbeatPrefix = 'cdc-heartbeat';

/** Transactional logical message (`fleet snapshot <table>`) that asks the reader for an ad-hoc snapshot. */
export const snapshotSignalPrefix = 'cdc-snapshot';

/**
 * Where an ad-hoc snapshot request must be recorded for the reader to act on its signal. Anyone may call
 * `pg_logical_emit_message`; only the table's owner (the admin) and whom it grants INSERT to may write
 * here, so a signal whose id has no row in this table is refused. The reader role may only read it.
 */
export const snapshotRequestTable = 'cdc_control.snapshot_requests';

/** Creates the request table (idempotent): bounded ids and names, nobody but its owner may write it. */
export const snapshotRequestTableDdl = `create schema if not exists cdc_control;
create table if not exists ${snapshotRequestTable} (
  id text primary key check (length(id) between 1 and 100),
  table_name text not null check (length(table_name) between 3 and 200),
  requested_at timestamptz not null default now()
);
revoke all on ${snapshotRequestTable} from public`;

/**
 * Asks the shard's reader for an ad-hoc snapshot of `table`: records the request and emits the signal in one
 * transaction, so the reader meets the signal at the transaction's commit and finds the request recorded.
 * Returns the signal's WAL position.
 */
export async function requestSnapshot(client: Client, request: { id: string; table: string }): Promise<string> {
  await client.query('begin');
  try {
    await client.query(`insert into ${snapshotRequestTable} (id, table_name) values ($1, $2)`, [request.id, request.table]);
    const emitted = await client.query<{ lsn: string }>('select pg_logical_emit_message(true, $1, $2)::text as lsn', [
      snapshotSignalPrefix,
      JSON.stringify({ ...request, requestedAt: new Date().toISOString() }),
    ]);
    await client.query('commit');
    return emitted.rows[0]!.lsn;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
}

/** The change topic of one table, shared by all shards. */
export function changeTopicOf(prefix: string, schema: string, table: string): string {
  return `${prefix}.${schema}.${table}`;
}

/**
 * Internal topics of a shard's reader: the transaction boundaries (shared by all shards) and the shard's own
 * progress topic. Only this shard's transactional producer writes its progress topic, so once that
 * producer has fenced its predecessor no open transaction can hold the topic's end back while it is read.
 */
export function readerTopicsOf(prefix: string, shard: number): { transactions: string; progress: string } {
  return { transactions: `${prefix}.transactions`, progress: `${prefix}.internal.reader-progress.shard-${shard}` };
}

/** Slot and publication names of a shard's reader: configured, or `cdc_<prefix>_shard<id>` (sanitised). */
export function slotNamesOf(options: { prefix: string; shard: number; slotName?: string; publicationName?: string }): {
  slot: string;
  publication: string;
} {
  const slot = options.slotName ?? `cdc_${options.prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_shard${options.shard}`;
  return { slot, publication: options.publicationName ?? slot };
}

/**
 * The shard's progress record. It is written in the same Kafka transaction as the events it covers, so
 * for read_committed readers "the record says X" and "every event up to X is in Kafka" are one fact.
 */
export interface ReaderProgress {
  shard: number;
  /** Commit LSN of the last Postgres transaction whose events are committed in Kafka. */
  commitLsn: bigint;
  /** The initial snapshot finished (streaming may begin after `snapshotLsn`). */
  snapshotComplete: boolean;
  /** The slot's consistent point the snapshot was taken at, when there was one. */
  snapshotLsn: bigint | null;
  /** Identity of the slot instance the progress belongs to (its consistent point at creation). */
  slotCreatedAtLsn: bigint | null;
  /**
   * Ad-hoc snapshots asked for by a transaction at or below `commitLsn` and not finished: a restarted reader
   * runs them again (from the start; their rows are idempotent for the sinks) before streaming on.
   */
  pendingSnapshots?: Array<{ id: string; table: string; txId: string }>;
  updatedAtMs: number;
}

export function progressKey(shard: number): string {
  return `shard-${shard}`;
}

export function progressMessage(progress: ReaderProgress): Message {
  return {
    key: progressKey(progress.shard),
    value: JSON.stringify({
      ...progress,
      commitLsn: progress.commitLsn.toString(),
      snapshotLsn: progress.snapshotLsn?.toString() ?? null,
      slotCreatedAtLsn: progress.slotCreatedAtLsn?.toString() ?? null,
    }),
  };
}

export function parseProgress(value: Buffer): ReaderProgress {
  const raw = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  const optionalLsn = (field: unknown): bigint | null => (field === null || field === undefined ? null : BigInt(field as string));
  return {
    shard: Number(raw.shard),
    commitLsn: BigInt(raw.commitLsn as string),
    snapshotComplete: raw.snapshotComplete === true,
    snapshotLsn: optionalLsn(raw.snapshotLsn),
    slotCreatedAtLsn: optionalLsn(raw.slotCreatedAtLsn),
    ...(Array.isArray(raw.pendingSnapshots) && raw.pendingSnapshots.length > 0
      ? { pendingSnapshots: raw.pendingSnapshots as NonNullable<ReaderProgress['pendingSnapshots']> }
      : {}),
    updatedAtMs: Number(raw.updatedAtMs),
  };
}
