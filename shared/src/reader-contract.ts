import type { Message } from 'kafkajs';
import type { Client } from 'pg';
import { formatLsn } from './source-position';

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
   * The Postgres cluster the progress was made on (`pg_control_system().system_identifier`, what
   * IDENTIFY_SYSTEM reports). Its presence also says that the writer never let the slot confirm past
   * `commitLsn` (see `slotIdentityProblem`); records of older readers and `fleet slots reset` lack it.
   */
  systemIdentifier?: string;
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
    ...(typeof raw.systemIdentifier === 'string' ? { systemIdentifier: raw.systemIdentifier } : {}),
    ...(Array.isArray(raw.pendingSnapshots) && raw.pendingSnapshots.length > 0
      ? { pendingSnapshots: raw.pendingSnapshots as NonNullable<ReaderProgress['pendingSnapshots']> }
      : {}),
    updatedAtMs: Number(raw.updatedAtMs),
  };
}

/**
 * Why the slot found on the shard cannot be the one the progress record was made on, or undefined when it
 * can. Streaming such a slot would resume after a gap: the changes between the progress and the slot's
 * position are in neither Kafka nor the slot.
 *
 * LSN semantics: the reader acknowledges `L` only after a progress record with `commitLsn >= L` is committed
 * in Kafka (heartbeats included), and acknowledging `L` sets the slot's `confirmed_flush_lsn` to `L + 1`.
 * So the reader's own slot never confirms beyond `commitLsn + 1`. A slot created later (dropped and
 * re-created under the same name, or made by failover tooling) starts at the WAL's end at its creation,
 * beyond every LSN the old slot confirmed; `pg_replication_slot_advance` also moves it beyond. Lower is
 * normal: a crash between the Kafka commit and the acknowledgement. A slot never confirms below its
 * creation point either.
 */
export function slotIdentityProblem(
  slotName: string,
  slot: { confirmedFlushLsn: bigint | null },
  progress: Pick<ReaderProgress, 'commitLsn' | 'slotCreatedAtLsn' | 'systemIdentifier'>,
  systemIdentifier: string,
): string | undefined {
  if (progress.systemIdentifier === undefined) return undefined;
  if (progress.systemIdentifier !== systemIdentifier)
    return `the shard's Postgres is another cluster (system identifier ${systemIdentifier}) than the one the progress in Kafka was made on (${progress.systemIdentifier}): slot ${slotName} is not the reader's slot and its LSNs mean something else`;
  const confirmed = slot.confirmedFlushLsn;
  if (confirmed === null) return undefined;
  if (confirmed > progress.commitLsn + 1n)
    return `replication slot ${slotName} confirms ${formatLsn(confirmed)}, beyond the progress in Kafka (${formatLsn(progress.commitLsn)}): it is not the slot the progress was made on (dropped and re-created, or advanced by hand), and the changes in between are lost`;
  if (progress.slotCreatedAtLsn !== null && confirmed < progress.slotCreatedAtLsn)
    return `replication slot ${slotName} confirms ${formatLsn(confirmed)}, before the point the reader's slot was created at (${formatLsn(progress.slotCreatedAtLsn)}): it is not the slot the progress was made on`;
  return undefined;
}
