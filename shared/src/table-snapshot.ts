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

/** Where a snapshot comes from: a slot the caller made (exported), or a temporary slot made now. */
export interface SnapshotSource {
  connection: PostgresConnection;
  /** application_name prefix of the connections, as `pg_stat_activity` shows them. */
  applicationName: string;
  /**
   * A snapshot already exported by the caller's slot (the reader's initial snapshot, at its slot's creation
   * point). Without it, a temporary slot named `temporarySlot` exports one at the current position.
   */
  exported?: { snapshotName: string; consistentPoint: bigint };
  temporarySlot?: string;
}

export interface TableSnapshotOptions<T extends SnapshotTable> extends SnapshotSource {
  tables: T[];
  /** Rows per cursor round trip (and per chunk). */
  chunkRows: number;
}

interface OpenSnapshot {
  reader: Client;
  consistentPoint: bigint;
  close(): Promise<void>;
}

/**
 * The one procedure for reading Postgres at an exact source position (the reader's initial and ad-hoc
 * snapshots, a sink's rebuild and its audit): a `REPEATABLE READ` transaction imports a snapshot a slot
 * exported at its creation, so it sees exactly the transactions committed before the slot's consistent
 * point C; every later one reaches the stream (and the sinks) with a commit LSN ≥ C. Rows read there
 * therefore stand at position (C − 1, n), ordered correctly against every streamed change.
 */
async function openSnapshot(source: SnapshotSource): Promise<OpenSnapshot> {
  const reader = new Client(pgClientConfig(source.connection, `${source.applicationName}-snapshot`));
  // A lost connection also fails the query in progress, which is where the caller sees it; without a
  // listener the client's 'error' event would end the process instead (a Postgres restart, say).
  reader.on('error', ignoreConnectionError);
  let replication: Client | undefined;
  const close = async (): Promise<void> => {
    await reader.end().catch(() => undefined);
    await replication?.end().catch(() => undefined);
  };
  try {
    let exported = source.exported;
    if (!exported) {
      replication = new Client({
        ...pgClientConfig(source.connection, `${source.applicationName}-snapshot-slot`),
        replication: 'database',
      } as never);
      replication.on('error', ignoreConnectionError);
      await replication.connect();
      const created = await createLogicalSlot(replication, source.temporarySlot ?? `cdc_snapshot_${process.pid}_${Date.now()}`, {
        exportSnapshot: true,
        temporary: true,
      });
      if (!created.snapshotName) throw new Error('the temporary slot exported no snapshot');
      exported = { snapshotName: created.snapshotName, consistentPoint: created.consistentPoint };
    }
    await reader.connect();
    await reader.query('begin isolation level repeatable read read only');
    await reader.query(`set transaction snapshot ${escapeLiteral(exported.snapshotName)}`);
    return { reader, consistentPoint: exported.consistentPoint, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs `read` in a snapshot of `source` (see `openSnapshot`), with the snapshot's consistent point. */
export async function withTableSnapshot<T>(
  source: SnapshotSource,
  read: (query: Client['query'], consistentPoint: bigint) => Promise<T>,
): Promise<T> {
  const snapshot = await openSnapshot(source);
  try {
    const result = await read(snapshot.reader.query.bind<Client['query']>(snapshot.reader), snapshot.consistentPoint);
    await snapshot.reader.query('commit');
    return result;
  } finally {
    await snapshot.close();
  }
}

/**
 * Reads whole tables in a snapshot (see `openSnapshot`). `onStart` is told the consistent point C before
 * the first chunk; then every table is read through a cursor, `chunkRows` at a time, so memory stays
 * bounded by one chunk whatever the table size, and the caller handles each chunk before the next is
 * fetched.
 */
export async function* readTableSnapshot<T extends SnapshotTable>(
  options: TableSnapshotOptions<T>,
  onStart: (consistentPoint: bigint) => void | Promise<void>,
): AsyncGenerator<SnapshotChunk<T>> {
  const snapshot = await openSnapshot(options);
  const { reader } = snapshot;
  try {
    await onStart(snapshot.consistentPoint);
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
    await snapshot.close();
  }
}

function ignoreConnectionError(): void {
  // Handled where the failed query is awaited (see openSnapshot).
}
