import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheKeys } from '@inventory-cdc/shared';
import type { Redis } from 'ioredis';

const sweepStockLua = readFileSync(join(__dirname, '..', 'lua', 'sweep-stock.lua'), 'utf8');

type SweepStock = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<number>;

/** Stock hashes per SCAN round trip and per pipeline of sweeps. */
const keysPerRound = 1_000;

/**
 * Removes, from every SKU's hash, the warehouses of `position`'s shard whose values are older than
 * `position` (see lua/sweep-stock.lua): what a TRUNCATE at `position` emptied, or what a rebuild from a
 * snapshot at `position` no longer found in Postgres. One script call per SKU, so each touches keys of one
 * hash tag only (one Redis Cluster slot). Returns the number of warehouses removed.
 *
 * Every stock hash is scanned (SKUs are not indexed by shard); both callers are rare events.
 */
export async function sweepShard(redis: Redis, position: string, publish: boolean): Promise<number> {
  if (!('sweepStock' in redis)) redis.defineCommand('sweepStock', { lua: sweepStockLua });
  const sweep = (redis as unknown as { sweepStock: SweepStock }).sweepStock.bind(redis);
  const shardPrefix = position.slice(0, position.indexOf(':') + 1);
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', cacheKeys.stockPattern, 'COUNT', keysPerRound);
    cursor = next;
    const counts = await Promise.all(keys.map((key) => sweep(1, key, shardPrefix, position, publish ? 1 : 0, cacheKeys.skuOfStock(key))));
    removed += counts.reduce((sum, count) => sum + Number(count), 0);
  } while (cursor !== '0');
  return removed;
}
