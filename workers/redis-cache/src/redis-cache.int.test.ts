import {
  FleetFixture,
  purchase,
  restock,
  seedStock,
  shardOf,
  skuName,
  stockTruth,
  warehouses,
  waitFor,
  type StockRow,
} from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { cacheKeys } from '@inventory-cdc/shared';

const skus = 120;
const kills = 20;

/** Every (sku, warehouse) where Redis differs from Postgres, and every SKU whose totals are off. */
async function differences(redis: Redis, truth: Map<string, StockRow>): Promise<string[]> {
  const bySku = new Map<string, StockRow[]>();
  for (const row of truth.values()) bySku.set(row.sku, [...(bySku.get(row.sku) ?? []), row]);
  const pipeline = redis.pipeline();
  for (const sku of bySku.keys()) pipeline.hgetall(cacheKeys.stock(sku));
  const hashes = ((await pipeline.exec()) ?? []).map(([, hash]) => hash as Record<string, string>);
  const problems: string[] = [];
  [...bySku].forEach(([sku, rows], index) => {
    const hash = hashes[index] ?? {};
    for (const row of rows) {
      const cached = `${hash[`oh:${row.warehouse}`]}/${hash[`rs:${row.warehouse}`]}`;
      if (cached !== `${row.onHand}/${row.reserved}`)
        problems.push(`${sku}@${row.warehouse}: redis ${cached}, postgres ${row.onHand}/${row.reserved}`);
    }
    const onHand = rows.reduce((sum, row) => sum + row.onHand, 0);
    const reserved = rows.reduce((sum, row) => sum + row.reserved, 0);
    if (hash.oh !== String(onHand) || hash.av !== String(onHand - reserved))
      problems.push(`${sku} totals: redis ${hash.oh}/${hash.av}, postgres ${onHand}/${onHand - reserved}`);
  });
  return problems;
}

describe('redis-cache (real wal-readers upstream, 2 shards)', () => {
  let fleet: FleetFixture;
  let redis: Redis;
  let redisUrl: string;
  let cacheEnv: Record<string, string>;

  beforeAll(async () => {
    fleet = await FleetFixture.create('cache');
    await seedStock(fleet.clients, fleet.schema, skus, 1_000);
    await fleet.startReaders();
    redisUrl = `${fleet.stack.redisUrl}/${1 + (process.pid % 15)}`;
    redis = new Redis(redisUrl);
    await redis.flushdb();
    cacheEnv = {
      CDC__REDIS__URL: redisUrl,
      CDC__TOPICS__PREFIX: fleet.prefix,
      CDC__TOPICS__STOCK_SCHEMA: fleet.schema,
      CDC__REBUILD__SHARDS: fleet.rebuildShardsEnv(),
      CDC__REBUILD__CHECK_INTERVAL_MS: '300',
      // The broker's minimum: a restarted member joins once the killed one's session expired, ~6 s, not 30.
      CDC__CONSUMER__SESSION_TIMEOUT_MS: '6000',
      CDC__CONSUMER__HEARTBEAT_INTERVAL_MS: '1000',
    };
  });

  afterAll(async () => {
    await redis.flushdb();
    redis.disconnect();
    await fleet.cleanup();
  });

  async function startWorkload(signal: AbortSignal): Promise<Promise<number>[]> {
    const writers = await Promise.all(
      [0, 1, 2, 3].map(async (index) => {
        const client = new Client({ connectionString: fleet.shards[index % fleet.shards.length]!.url });
        await client.connect();
        return client;
      }),
    );
    return writers.map(async (client, index) => {
      let transactions = 0;
      while (!signal.aborted) {
        await sleep(2); // an application's pace, not a load test: the point here is crashes, not throughput
        const sku = skuName(Math.floor(Math.random() * skus));
        if (shardOf(sku, fleet.shards.length) !== index % fleet.shards.length) continue;
        const warehouse = warehouses[Math.floor(Math.random() * warehouses.length)]!;
        if (Math.random() < 0.8) await purchase(client, fleet.schema, sku, warehouse, 1 + Math.floor(Math.random() * 3));
        else await restock(client, fleet.schema, sku, warehouse, 5);
        transactions++;
      }
      await client.end();
      return transactions;
    });
  }

  it(`Redis equals Postgres for every SKU after a random stock stream with the sink killed -9 ${kills} times`, async () => {
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    for (let kill = 0; kill < kills; kill++) {
      const cache = fleet.worker('redis-cache', cacheEnv);
      cache.process.start();
      await cache.process.waitReady(cache.port);
      await sleep(Math.random() * 1_500);
      await cache.process.kill();
    }
    stop.abort();
    const transactions = (await Promise.all(workload)).reduce((sum, count) => sum + count, 0);

    const cache = fleet.worker('redis-cache', cacheEnv);
    cache.process.start();
    await cache.process.waitReady(cache.port);
    const truth = await stockTruth(fleet.clients, fleet.schema);
    const remaining = await waitFor(
      'Redis to equal Postgres',
      async () => {
        const problems = await differences(redis, truth);
        return problems.length === 0 ? problems : undefined;
      },
      60_000,
      250,
    ).catch(async () => differences(redis, truth));

    expect(transactions).toBeGreaterThan(200);
    expect(remaining).toEqual([]);
    expect(await cache.process.terminate()).toBe(0);
  }, 600_000);

  it('a flushed Redis is detected while running and rebuilt to the same state, later changes included', async () => {
    const cache = fleet.worker('redis-cache', cacheEnv);
    cache.process.start();
    await cache.process.waitReady(cache.port);
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    await sleep(1_000);
    await redis.flushdb();
    await sleep(1_500);
    stop.abort();
    await Promise.all(workload);

    const truth = await stockTruth(fleet.clients, fleet.schema);
    const remaining = await waitFor(
      'Redis to equal Postgres after the flush',
      async () => {
        const problems = await differences(redis, truth);
        return problems.length === 0 ? problems : undefined;
      },
      60_000,
      250,
    ).catch(async () => differences(redis, truth));

    expect(remaining).toEqual([]);
    expect(await redis.exists(cacheKeys.sentinel)).toBe(1);
    expect(await cache.process.terminate()).toBe(0);
  }, 180_000);
});
