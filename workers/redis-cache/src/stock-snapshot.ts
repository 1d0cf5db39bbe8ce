import { encodePosition, parseLsn, pgClientConfig, type PostgresConnection } from '@inventory-cdc/shared';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface SnapshotShard {
  id: number;
  connection: PostgresConnection;
}

/** A stock row as Postgres holds it. */
export interface StockRowFigures {
  sku: string;
  warehouse: string;
  on_hand: number;
  reserved: number;
}

/**
 * Runs `read` in a read-only transaction on a snapshot of `shard` that has an exact source position.
 *
 * The snapshot is exported by a temporary replication slot, so it holds every transaction committed
 * before the slot's consistent point C and none after: every later change reaches the sinks through Kafka
 * with a commit LSN ≥ C. Rows read in it therefore stand at position (C − 1, max seq), newer than every
 * change they include and older than every change they lack — the position under which the newer-wins
 * script may write them without ever overwriting a newer change. The slot disappears with its connection.
 */
export async function withStockSnapshot<T>(
  shard: SnapshotShard,
  purpose: string,
  read: (query: Client['query'], position: string) => Promise<T>,
): Promise<T> {
  const replication = new Client({ ...pgClientConfig(shard.connection, `${purpose}-slot`), replication: 'database' } as never);
  const reader = new Client(pgClientConfig(shard.connection, purpose));
  await replication.connect();
  try {
    await reader.connect();
    const slot = `cdc_${purpose.replace(/\W/g, '_')}_${randomBytes(6).toString('hex')}`;
    const created = await replication.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT`,
    );
    const row = created.rows[0]!;
    const position = encodePosition({ shard: shard.id, commitLsn: parseLsn(row.consistent_point) - 1n, seq: 0xffffffff });
    await reader.query('begin isolation level repeatable read read only');
    await reader.query(`set transaction snapshot '${row.snapshot_name}'`);
    const result = await read(reader.query.bind(reader) as Client['query'], position);
    await reader.query('commit');
    return result;
  } finally {
    await reader.end().catch(() => undefined);
    await replication.end().catch(() => undefined);
  }
}
