import { crashPoint, readTableSnapshot, type Logger, type PostgresConnection } from '@inventory-cdc/shared';
import { recordsOf, type TransactionContext } from './change-builder';
import type { ChangeCommitter } from './change-committer';
import type { ChangeEncoder } from './change-encoder';
import type { ColumnValue } from './pgoutput-decode';
import type { ReaderMetrics } from './reader-metrics';
import type { CompiledTable } from './table-schema';

export interface SnapshotRunnerPorts {
  connection: PostgresConnection;
  serviceName: string;
  shard: number;
  database: string;
  chunkRows: number;
  encoder: Pick<ChangeEncoder, 'encode'>;
  committer: Pick<ChangeCommitter, 'commitRecords'>;
  metrics: ReaderMetrics;
  logger: Logger;
}

export interface SnapshotJob {
  /** For logs: `initial`, or the ad-hoc request's id. */
  label: string;
  tables: CompiledTable[];
  /** `source.txId` of the rows: 0 for the initial snapshot, the signalling transaction's id for an ad-hoc one. */
  txId: bigint;
  /** The slot's exported snapshot (initial snapshot); without it a temporary slot exports one now. */
  exported?: { snapshotName: string; consistentPoint: bigint };
  /** Crash point hit after each chunk's commit (tests kill the reader there). */
  crashPoint: string;
  /** Estimated rows, for the progress gauge; 0 when unknown. */
  estimatedRows?: number;
  /** Polled between chunks: stop with an error when it returns true. */
  stopping: () => boolean;
}

/**
 * Emits every row of the job's tables as an `r` event at position (C − 1, n), C the snapshot's consistent
 * point, each chunk its own Kafka transaction with the progress record: the initial snapshot and an
 * ad-hoc one are the same procedure (the read itself is shared with the sinks' rebuilds).
 *
 * Why C − 1: every change streamed after the snapshot commits at or after C, so it sorts after every
 * snapshot row; every change before C is already in the row. Sinks apply newest-wins by position, so a
 * snapshot interleaved with the stream (ad-hoc) still ends at the newest state, and a re-run (after a crash
 * mid-snapshot) repeats the same states.
 */
export async function runSnapshot(ports: SnapshotRunnerPorts, job: SnapshotJob): Promise<{ rows: number; consistentPoint: bigint }> {
  const { metrics, logger } = ports;
  const byName = new Map(job.tables.map((table) => [`${table.shape.schema}.${table.shape.table}`, table]));
  let context: TransactionContext | undefined;
  let consistentPoint = 0n;
  let seq = 0n;
  let rows = 0;
  const chunks = readTableSnapshot(
    {
      connection: ports.connection,
      applicationName: ports.serviceName,
      chunkRows: ports.chunkRows,
      tables: job.tables.map((table) => ({
        schema: table.shape.schema,
        table: table.shape.table,
        columns: table.shape.columns.map((column) => column.name),
      })),
      ...(job.exported ? { exported: job.exported } : { temporarySlot: `cdc_snapshot_${ports.shard}_${process.pid}_${Date.now()}` }),
    },
    (point) => {
      consistentPoint = point;
      context = {
        shard: ports.shard,
        database: ports.database,
        commitLsn: point - 1n,
        txId: job.txId,
        commitTsMicros: BigInt(Date.now()) * 1000n,
        snapshot: true,
      };
      logger.info({ snapshot: job.label, tables: byName.size, consistentPoint: point.toString() }, 'snapshot started');
    },
  );
  for await (const chunk of chunks) {
    if (job.stopping()) throw new Error(`stopped during snapshot ${job.label}`);
    const table = byName.get(`${chunk.table.schema}.${chunk.table.table}`)!;
    const nowMs = BigInt(Date.now());
    const records = chunk.rows.flatMap((row) =>
      recordsOf({ kind: 'read', after: row.map(columnValueOf) }, table, context!, () => seq++, nowMs),
    );
    await ports.committer.commitRecords(ports.encoder.encode(records));
    crashPoint(job.crashPoint);
    rows += chunk.rows.length;
    metrics.snapshotRows.inc({ shard: metrics.shard, table: `${chunk.table.schema}.${chunk.table.table}` }, chunk.rows.length);
    if (job.estimatedRows) metrics.snapshotProgress.set({ shard: metrics.shard }, Math.min(0.99, rows / job.estimatedRows));
  }
  logger.info({ snapshot: job.label, rows }, 'snapshot finished');
  return { rows, consistentPoint };
}

function columnValueOf(text: string | null): ColumnValue {
  return text === null ? { kind: 'null' } : { kind: 'value', text };
}
