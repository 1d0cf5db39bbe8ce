import { cacheKeys } from '@inventory-cdc/shared';
import type { Redis } from 'ioredis';
import { stockScript } from './stock-script';

/** Stock hashes per SCAN round trip and per round of sweeps. */
const keysPerRound = 1_000;

/**
 * Removes, from every SKU's hash, the warehouses of `position`'s shard whose values are older than
 * `position` (op `s` of lua/apply-stock.lua): what a TRUNCATE at `position` emptied, or what a rebuild
 * from a snapshot at `position` no longer found in Postgres. One script call per SKU, so each touches keys
 * of one hash tag only (one Redis Cluster slot). Returns the number of warehouses removed.
 *
 * Every stock hash is scanned (SKUs are not indexed by shard); both callers are rare events.
 */
export async function sweepShard(redis: Redis, position: string, publish: boolean): Promise<number> {
  const applyStock = stockScript(redis);
  const shardPrefix = position.slice(0, position.indexOf(':') + 1);
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', cacheKeys.stockPattern, 'COUNT', keysPerRound);
    cursor = next;
    const results = await Promise.all(
      keys.map((key) => applyStock(3, '', '', key, '0', publish ? 1 : 0, shardPrefix, 's', 0, 0, position, cacheKeys.skuOfStock(key))),
    );
    removed += results.reduce<number>((sum, result) => sum + (Array.isArray(result) ? result[0] : 0), 0);
  } while (cursor !== '0');
  return removed;
}
