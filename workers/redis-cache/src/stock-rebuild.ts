import { cacheKeys, type Logger } from '@inventory-cdc/shared';
import type { Redis } from 'ioredis';
import { stockScript } from './redis-stock-sink';
import { withStockSnapshot, type SnapshotShard, type StockRowFigures } from './stock-snapshot';

export type RebuildShard = SnapshotShard;

const rowsPerChunk = 2_000;

/**
 * Re-seeds the read model from Postgres, the truth (cold start, a flushed Redis, drift repair).
 *
 * Each shard is read in a snapshot with an exact position (`withStockSnapshot`), and the rows are written
 * at that position through the same newer-wins script as the stream, so a rebuild never overwrites a
 * newer value and a later change is never lost. The sentinel is set only when every shard is done.
 */
export async function rebuildStock(redis: Redis, shards: RebuildShard[], stockTable: string, logger: Logger): Promise<number> {
  const applyStock = stockScript(redis);
  let rows = 0;
  for (const shard of shards) {
    await withStockSnapshot(shard, 'redis-cache-rebuild', async (query, position) => {
      await query(`declare stock_rows no scroll cursor for select sku, warehouse, on_hand, reserved from ${stockTable}`);
      let shardRows = 0;
      for (;;) {
        const chunk = await query<StockRowFigures>(`fetch ${rowsPerChunk} from stock_rows`);
        if (chunk.rows.length === 0) break;
        const keys = ['', '', ...chunk.rows.map((stock) => cacheKeys.stock(stock.sku))];
        const args: (string | number)[] = ['0', 0];
        for (const stock of chunk.rows) args.push(stock.warehouse, 'r', stock.on_hand, stock.reserved, position, stock.sku);
        await applyStock(keys.length, ...keys, ...args);
        shardRows += chunk.rows.length;
      }
      rows += shardRows;
      logger.info({ shard: shard.id, position, rows: shardRows }, 'shard re-seeded');
    });
  }
  await redis.set(cacheKeys.sentinel, new Date().toISOString());
  return rows;
}
