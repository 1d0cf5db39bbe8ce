import { encodePosition, withTableSnapshot, type PostgresConnection } from '@inventory-cdc/shared';
import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';

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
 * Runs `read` in a read-only transaction on a snapshot of `shard` that has an exact source position (the
 * shared snapshot procedure, `withTableSnapshot`): rows read in it stand at position (C − 1, max seq), C
 * the temporary slot's consistent point — newer than every change they include and older than every change
 * they lack, the position under which the newer-wins script may write them without ever overwriting a
 * newer change.
 */
export async function withStockSnapshot<T>(
  shard: SnapshotShard,
  purpose: string,
  read: (query: Client['query'], position: string) => Promise<T>,
): Promise<T> {
  return withTableSnapshot(
    {
      connection: shard.connection,
      applicationName: purpose,
      temporarySlot: `cdc_${purpose.replace(/\W/g, '_')}_${randomBytes(6).toString('hex')}`,
    },
    (query, consistentPoint) => read(query, encodePosition({ shard: shard.id, commitLsn: consistentPoint - 1n, seq: 0xffffffff })),
  );
}
