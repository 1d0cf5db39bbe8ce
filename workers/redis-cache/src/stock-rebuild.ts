import { cacheKeys, encodePosition, readTableSnapshot, stockRowKeyProblem, type Logger } from '@inventory-cdc/shared';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { stockScript } from './stock-script';
import type { SnapshotShard } from './stock-snapshot';
import { sweepShard } from './stock-sweep';

export type RebuildShard = SnapshotShard;

const rowsPerChunk = 2_000;

/**
 * Re-seeds the read model from Postgres, the truth (cold start, a flushed Redis, drift repair).
 *
 * Each shard is read in a snapshot exported by a temporary replication slot (the shared snapshot procedure
 * the reader's snapshots use), so the snapshot has an exact position: it holds every transaction committed
 * before the slot's consistent point C, and every later
 * one reaches the cache through Kafka with a commit LSN ≥ C. The rows are written at position (C − 1, max
 * seq) through the same newer-wins script as the stream, so a rebuild never overwrites a newer value and
 * a later change is never lost. Then every warehouse of the shard still holding a value from before that
 * position is one Postgres no longer has (deleted while Redis did not hear of it) and is removed. The
 * sentinel is set only when every shard is done. A row whose key the stream's sinks refuse
 * (`stockRowKeyProblem`: its events are dead-lettered) is left out here too.
 */
export async function rebuildStock(
  redis: Redis,
  shards: RebuildShard[],
  stock: { schema: string; table: string },
  logger: Logger,
): Promise<number> {
  const applyStock = stockScript(redis);
  let rows = 0;
  for (const shard of shards) {
    let position = '';
    let shardRows = 0;
    const refused: string[] = [];
    const chunks = readTableSnapshot(
      {
        connection: shard.connection,
        applicationName: 'redis-cache-rebuild',
        chunkRows: rowsPerChunk,
        tables: [{ ...stock, columns: ['sku', 'warehouse', 'on_hand', 'reserved'] }],
        temporarySlot: `cdc_rebuild_${randomBytes(6).toString('hex')}`,
      },
      (consistentPoint) => {
        position = encodePosition({ shard: shard.id, commitLsn: consistentPoint - 1n, seq: 0xffffffff });
      },
    );
    for await (const chunk of chunks) {
      const keys = ['', ''];
      const args: Array<string | number> = ['0', 0];
      for (const [sku, warehouse, onHand, reserved] of chunk.rows) {
        const problem = stockRowKeyProblem({ sku, warehouse });
        if (problem !== undefined) {
          refused.push(problem);
          continue;
        }
        keys.push(cacheKeys.stock(sku!));
        args.push(warehouse!, 'r', onHand!, reserved!, position, sku!);
      }
      if (keys.length > 2) await applyStock(keys.length, ...keys, ...args);
      shardRows += keys.length - 2;
    }
    rows += shardRows;
    const removed = await sweepShard(redis, position, false);
    if (refused.length > 0)
      logger.warn(
        { shard: shard.id, refused: refused.length, first: refused[0] },
        'rows with keys the sinks refuse left out of the read model',
      );
    logger.info({ shard: shard.id, position, rows: shardRows, removed }, 'shard re-seeded');
  }
  await redis.set(cacheKeys.sentinel, new Date().toISOString());
  return rows;
}
