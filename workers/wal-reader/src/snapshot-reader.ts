import type { Client } from 'pg';
import type { ColumnValue } from './pgoutput-decode';
import { quoteIdent } from './slot-manager';
import type { TableShape } from './table-schema';

/** Values exactly as Postgres prints them, the same text the replication stream carries. */
const rawText = { getTypeParser: () => (value: string) => value };

export interface SnapshotChunk {
  table: TableShape;
  rows: ColumnValue[][];
}

/**
 * Reads every captured table as of the slot's exported snapshot, `chunkRows` rows at a time through a
 * cursor, so memory stays bounded by one chunk whatever the table size. The caller publishes each chunk
 * before asking for the next one.
 *
 * Consistency: the transaction imports the snapshot the slot exported at its creation, so it sees exactly
 * the transactions committed before the slot's consistent point; everything after that point arrives on
 * the replication stream. Nothing is seen twice or missed at the boundary.
 */
export async function* readSnapshot(
  client: Client,
  snapshotName: string,
  tables: TableShape[],
  chunkRows: number,
): AsyncGenerator<SnapshotChunk> {
  await client.query('begin isolation level repeatable read read only');
  try {
    await client.query(`set transaction snapshot '${snapshotName.replace(/'/g, "''")}'`);
    for (const table of tables) {
      const columns = table.columns.map((column) => quoteIdent(column.name)).join(', ');
      await client.query(
        `declare snapshot_cursor no scroll cursor for select ${columns} from ${quoteIdent(table.schema)}.${quoteIdent(table.table)}`,
      );
      for (;;) {
        const result = await client.query<unknown[]>({ text: `fetch ${chunkRows} from snapshot_cursor`, rowMode: 'array', types: rawText });
        if (result.rows.length === 0) break;
        yield { table, rows: result.rows.map(toColumnValues) };
      }
      await client.query('close snapshot_cursor');
    }
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
}

/** Estimated rows per table (planner statistics), for the snapshot progress gauge. */
export async function estimateRows(client: Client, tables: TableShape[]): Promise<number> {
  const result = await client.query<{ rows: string }>(
    `select coalesce(sum(greatest(reltuples, 0)), 0)::bigint::text as rows from pg_class where oid = any($1::oid[])`,
    [tables.map((table) => table.relationOid)],
  );
  return Number(result.rows[0]?.rows ?? 0);
}

function toColumnValues(row: unknown[]): ColumnValue[] {
  return row.map((value) => (value === null ? { kind: 'null' } : { kind: 'value', text: value as string }));
}
