import { Client, escapeLiteral } from 'pg';
import { pgClientConfig, type PostgresConnection } from './postgres-connection';
import { createLogicalSlot } from './replication-slots';
import { sqlIdentifier, sqlQualifiedName } from './sql-identifier';

/** A table to read in a snapshot, with the columns wanted, in that order. */
export interface SnapshotTable {
  schema: string;
  table: string;
  columns: string[];
}

/** A chunk of one table's rows: values exactly as Postgres prints them (the replication stream's text), or null. */
export interface SnapshotChunk<T extends SnapshotTable> {
  table: T;
  rows: Array<Array<string | null>>;
}

/** Values exactly as Postgres prints them: no type parsing. */
const rawText = { getTypeParser: () => (value: string) => value };

export interface TableSnapshotOptions<T extends SnapshotTable> {
  connection: PostgresConnection;
  /** application_name prefix of the connections, as `pg_stat_activity` shows them. */
  applicationName: string;
  tables: T[];
  /** Rows per cursor round trip (and per chunk). */
  chunkRows: number;
  /**
   * A snapshot already exported by the caller's slot (the reader's initial snapshot, at its slot's creation
   * point). Without it, a temporary slot named `temporarySlot` exports one at the current position.
   */
  exported?: { snapshotName: string; consistentPoint: bigint };
  temporarySlot?: string;
}

/**
 * The one procedure for reading Postgres tables at an exact source position: the reader's initial
 * snapshot, an ad-hoc re-snapshot, and a sink's rebuild. `onStart` is told the snapshot's consistent point
 * C before the first chunk; then every table is read in chunks through a cursor, so memory stays bounded
 * by one chunk whatever the table size, and the caller handles each chunk before the next is fetched.
 *
 * Consistency: the read imports a snapshot a slot exported at its creation, so it sees exactly the
 * transactions committed before C; every later one reaches the stream (and the sinks) with a commit LSN
 * ≥ C. Rows stamped with position (C − 1, n) therefore order correctly against every streamed change.
 */
export async function* readTableSnapshot<T extends SnapshotTable>(
  options: TableSnapshotOptions<T>,
  onStart: (consistentPoint: bigint) => void | Promise<void>,
): AsyncGenerator<SnapshotChunk<T>> {
  const reader = new Client(pgClientConfig(options.connection, `${options.applicationName}-snapshot`));
  // A lost connection also fails the query in progress, which is where the caller sees it; without a
  // listener the client's 'error' event would end the process instead (a Postgres restart, say).
  reader.on('error', ignoreConnectionError);
  let replication: Client | undefined;
  try {
    let exported = options.exported;
    if (!exported) {
      replication = new Client({
        ...pgClientConfig(options.connection, `${options.applicationName}-snapshot-slot`),
        replication: 'database',
      } as never);
      replication.on('error', ignoreConnectionError);
      await replication.connect();
      const created = await createLogicalSlot(replication, options.temporarySlot ?? `cdc_snapshot_${process.pid}_${Date.now()}`, {
        exportSnapshot: true,
        temporary: true,
      });
      if (!created.snapshotName) throw new Error('the temporary slot exported no snapshot');
      exported = { snapshotName: created.snapshotName, consistentPoint: created.consistentPoint };
    }
    await reader.connect();
    await onStart(exported.consistentPoint);
    await reader.query('begin isolation level repeatable read read only');
    await reader.query(`set transaction snapshot ${escapeLiteral(exported.snapshotName)}`);
    for (const table of options.tables) {
      const columns = table.columns.map(sqlIdentifier).join(', ');
      await reader.query(
        `declare snapshot_cursor no scroll cursor for select ${columns} from ${sqlQualifiedName(table.schema, table.table)}`,
      );
      for (;;) {
        const result = await reader.query<Array<string | null>>({
          text: `fetch ${Math.floor(options.chunkRows)} from snapshot_cursor`,
          rowMode: 'array',
          types: rawText,
        });
        if (result.rows.length === 0) break;
        yield { table, rows: result.rows };
      }
      await reader.query('close snapshot_cursor');
    }
    await reader.query('commit');
  } finally {
    await reader.end().catch(() => undefined);
    await replication?.end().catch(() => undefined);
  }
}

function ignoreConnectionError(): void {
  // Handled where the failed query is awaited (see readTableSnapshot).
}
