import { cacheKeys, encodePosition, parseLsn, pgClientConfig, type Logger, type PostgresConnection } from '@inventory-cdc/shared';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import { stockScript } from './stock-script';
import { sweepShard } from './stock-sweep';

export interface RebuildShard {
  id: number;
  connection: PostgresConnection;
}

const rowsPerChunk = 2_000;

/**
 * Re-seeds the read model from Postgres, the truth (cold start, a flushed Redis, drift repair).
 *
 * Each shard is read in a snapshot exported by a temporary replication slot, so the snapshot has an exact
 * position: it holds every transaction committed before the slot's consistent point C, and every later
 * one reaches the cache through Kafka with a commit LSN ≥ C. The rows are written at position (C − 1, max
 * seq) through the same newer-wins script as the stream, so a rebuild never overwrites a newer value and
 * a later change is never lost. Then every warehouse of the shard still holding a value from before that
 * position is one Postgres no longer has (deleted while Redis did not hear of it) and is removed. The
 * sentinel is set only when every shard is done.
 */
export async function rebuildStock(redis: Redis, shards: RebuildShard[], stockTable: string, logger: Logger): Promise<number> {
  const applyStock = stockScript(redis);
  let rows = 0;
  for (const shard of shards) {
    const replication = new Client({ ...pgClientConfig(shard.connection, 'redis-cache-rebuild-slot'), replication: 'database' } as never);
    const reader = new Client(pgClientConfig(shard.connection, 'redis-cache-rebuild'));
    await replication.connect();
    await reader.connect();
    try {
      const slot = `cdc_rebuild_${randomBytes(6).toString('hex')}`;
      const created = await replication.query<{ consistent_point: string; snapshot_name: string }>(
        `CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT`,
      );
      const row = created.rows[0]!;
      let shardRows = 0;
      const position = encodePosition({ shard: shard.id, commitLsn: parseLsn(row.consistent_point) - 1n, seq: 0xffffffff });
      await reader.query('begin isolation level repeatable read read only');
      await reader.query(`set transaction snapshot '${row.snapshot_name}'`);
      await reader.query(`declare stock_rows no scroll cursor for select sku, warehouse, on_hand, reserved from ${stockTable}`);
      for (;;) {
        const chunk = await reader.query<{ sku: string; warehouse: string; on_hand: number; reserved: number }>(
          `fetch ${rowsPerChunk} from stock_rows`,
        );
        if (chunk.rows.length === 0) break;
        const keys = ['', '', ...chunk.rows.map((stock) => cacheKeys.stock(stock.sku))];
        const args: (string | number)[] = ['0', 0];
        for (const stock of chunk.rows) args.push(stock.warehouse, 'r', stock.on_hand, stock.reserved, position, stock.sku);
        await applyStock(keys.length, ...keys, ...args);
        shardRows += chunk.rows.length;
      }
      await reader.query('commit');
      rows += shardRows;
      const removed = await sweepShard(redis, position, false);
      logger.info({ shard: shard.id, position, rows: shardRows, removed }, 'shard re-seeded');
    } finally {
      await reader.end().catch(() => undefined);
      await replication.end().catch(() => undefined);
    }
  }
  await redis.set(cacheKeys.sentinel, new Date().toISOString());
  return rows;
}
