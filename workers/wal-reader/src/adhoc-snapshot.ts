import { pgClientConfig, type Logger, type PostgresConnection } from '@inventory-cdc/shared';
import { Client } from 'pg';
import { recordsOf, type ChangeRecord, type TransactionContext } from './change-builder';
import { createSlotWithSnapshot } from './slot-manager';
import { readSnapshot } from './snapshot-reader';
import type { CompiledTable } from './table-schema';

/** Prefix of the transactional logical message (`fleet snapshot <table>`) that asks for an ad-hoc snapshot. */
export const snapshotSignalPrefix = 'cdc-snapshot';

/** One ad-hoc snapshot asked for: which captured table, under which id (for logs and the progress record). */
export interface SnapshotRequest {
  id: string;
  /** `schema.table` */
  table: string;
}

/** Reads a signal's content; undefined (with the reason) when it is not a usable request. */
export function parseSnapshotSignal(content: Buffer): { request?: SnapshotRequest; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch {
    return { problem: 'the content is not JSON' };
  }
  const { id, table } = (raw ?? {}) as { id?: unknown; table?: unknown };
  if (typeof table !== 'string' || !/^[^.\s]+\.[^.\s]+$/.test(table)) return { problem: 'table must be "schema.table"' };
  return { request: { id: typeof id === 'string' && id !== '' ? id : `${table}@unnamed`, table } };
}

export interface AdhocSnapshotPorts {
  connection: PostgresConnection;
  serviceName: string;
  shard: number;
  database: string;
  chunkRows: number;
  /** Describes and compiles the table freshly (its schema may have changed since the session started). */
  compile(schema: string, table: string): Promise<CompiledTable>;
  logger: Logger;
}

/**
 * An ad-hoc re-snapshot of one captured table while the slot keeps its place: a temporary slot exports a
 * snapshot at its consistent point C, the table is read as of C in chunks, and each row becomes an `r`
 * event at position (C − 1, n) — exactly as the initial snapshot does.
 *
 * Why this is consistent without pausing writers: for any key, a change committed before C is older than
 * the snapshot row (which already includes it), a change committed at or after C is newer. Sinks apply by
 * source position, newest wins, so whichever order Kafka holds them in, the key ends at the newest state.
 * The events carry `source.txId` = the signalling transaction's id (the initial snapshot's is 0), so a
 * consumer that books deltas rather than states can tell a re-read from an opening balance.
 */
export async function* adhocSnapshotChunks(
  ports: AdhocSnapshotPorts,
  request: SnapshotRequest,
  signalTxId: bigint,
): AsyncGenerator<{ records: ChangeRecord[]; rows: number }> {
  const [schema, tableName] = request.table.split('.') as [string, string];
  const table = await ports.compile(schema, tableName);
  const replication = new Client({
    ...pgClientConfig(ports.connection, `${ports.serviceName}-adhoc-slot`),
    replication: 'database',
  } as never);
  const reader = new Client(pgClientConfig(ports.connection, `${ports.serviceName}-adhoc-snapshot`));
  await replication.connect();
  try {
    await reader.connect();
    // A temporary slot: Postgres drops it when this connection ends, whatever happens to the process.
    const slot = `cdc_adhoc_${ports.shard}_${process.pid}_${Date.now()}`;
    const created = await createSlotWithSnapshot(replication, slot, true, { temporary: true });
    if (!created.snapshotName) throw new Error('the temporary slot exported no snapshot');
    ports.logger.info(
      { id: request.id, table: request.table, consistentPoint: created.consistentPoint.toString() },
      'ad-hoc snapshot started',
    );
    const context: TransactionContext = {
      shard: ports.shard,
      database: ports.database,
      commitLsn: created.consistentPoint - 1n,
      txId: signalTxId,
      commitTsMicros: BigInt(Date.now()) * 1000n,
      snapshot: true,
    };
    let seq = 0n;
    for await (const chunk of readSnapshot(reader, created.snapshotName, [table.shape], ports.chunkRows)) {
      const nowMs = BigInt(Date.now());
      const records = chunk.rows.flatMap((after) => recordsOf({ kind: 'read', after }, table, context, () => seq++, nowMs));
      yield { records, rows: chunk.rows.length };
    }
  } finally {
    await reader.end().catch(() => undefined);
    await replication.end().catch(() => undefined);
  }
}
