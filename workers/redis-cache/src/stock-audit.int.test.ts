import { cacheKeys, createLogger, FleetMetrics, parseStockHash, postgresConnectionSchema, ReconcileMetrics } from '@inventory-cdc/shared';
import { FleetFixture, restock, scrapeMetric, seedStock, shardOf, skuName, stockTruth, waitFor } from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import { StockAudit } from './stock-audit';
import type { SnapshotShard } from './stock-snapshot';

const skus = 60;

describe('the shadow audit of the read model (real wal-readers and redis-cache, 2 shards)', () => {
  let fleet: FleetFixture;
  let redis: Redis;
  let cache: ReturnType<FleetFixture['worker']>;
  let cacheEnv: Record<string, string>;

  /** What Redis holds for one row: `onHand/reserved`. */
  async function cached(sku: string, warehouse: string): Promise<string> {
    const row = parseStockHash(await redis.hgetall(cacheKeys.stock(sku))).warehouses[warehouse];
    return `${row?.onHand}/${row?.reserved}`;
  }

  /** What Postgres holds for one row: `onHand/reserved`. */
  async function truth(sku: string, warehouse: string): Promise<string> {
    const row = (await stockTruth(fleet.clients, fleet.schema)).get(`${sku}|${warehouse}`);
    return `${row?.onHand}/${row?.reserved}`;
  }

  /** Changes a row in Redis behind the fleet's back (its position stays), as a stray writer would. */
  async function flip(sku: string, warehouse: string, onHand: number): Promise<void> {
    await redis.hset(cacheKeys.stock(sku), `oh:${warehouse}`, onHand, `av:${warehouse}`, onHand);
  }

  beforeAll(async () => {
    fleet = await FleetFixture.create('audit');
    await seedStock(fleet.clients, fleet.schema, skus, 1_000);
    await fleet.startReaders();
    const redisUrl = `${fleet.stack.redisUrl}/${1 + ((process.pid + 7) % 15)}`;
    redis = new Redis(redisUrl);
    await redis.flushdb();
    cacheEnv = {
      CDC__REDIS__URL: redisUrl,
      CDC__TOPICS__PREFIX: fleet.prefix,
      CDC__TOPICS__STOCK_SCHEMA: fleet.schema,
      CDC__REBUILD__SHARDS: fleet.rebuildShardsEnv(),
      CDC__CONSUMER__SESSION_TIMEOUT_MS: '6000',
      CDC__CONSUMER__HEARTBEAT_INTERVAL_MS: '1000',
    };
    cache = fleet.worker('redis-cache', {
      ...cacheEnv,
      CDC__AUDIT__ENABLED: 'true',
      CDC__AUDIT__SLICE_SKUS: '10',
      CDC__AUDIT__PAUSE_MS: '100',
      CDC__AUDIT__GRACE_MS: '500',
    });
    cache.process.start();
    await cache.process.waitReady(cache.port);
    await waitFor('Redis to hold the catalogue', async () => (await cached(skuName(skus - 1), 'WH-C')) === '1000/0', 60_000, 200);
  });

  afterAll(async () => {
    await redis?.flushdb();
    redis?.disconnect();
    await fleet?.cleanup();
  });

  it('finds a value flipped behind the fleet’s back, reports it and repairs it, while running', async () => {
    const sku = skuName(3);
    const expected = await truth(sku, 'WH-B');
    await flip(sku, 'WH-B', 4242);
    expect(await cached(sku, 'WH-B')).toBe('4242/0');

    await waitFor('the audit to repair the row', async () => (await cached(sku, 'WH-B')) === expected, 60_000, 200);
    expect(await scrapeMetric(cache.port, 'cdc_reconcile_repaired_rows_total', { sink: 'redis-cache' })).toBeGreaterThanOrEqual(1);
    const drift = await waitFor(
      'a full pass to report the drift it found',
      async () => {
        const rows = await scrapeMetric(cache.port, 'cdc_reconcile_drift_rows', { sink: 'redis-cache' });
        return rows !== undefined && rows > 0 ? rows : undefined;
      },
      60_000,
      200,
    );
    expect(drift).toBeGreaterThanOrEqual(1);
    expect(await scrapeMetric(cache.port, 'cdc_reconcile_compared_rows_total', { sink: 'redis-cache' })).toBeGreaterThanOrEqual(skus * 3);
    expect(await scrapeMetric(cache.port, 'cdc_reconcile_audit_lsn', { sink: 'redis-cache', shard: '0' })).toBeGreaterThan(0);
  }, 120_000);

  it('repairs a drifted row but never overwrites a change that is newer than its snapshot', async () => {
    // Two rows of one shard drift; while the audit waits out its grace period, a real change of the
    // second commits in Postgres (after the audit's snapshot) and reaches Redis through the fleet.
    const [drifted, changed] = [skuName(5), skuName(6), skuName(7), skuName(8)]
      .filter((sku, _index, all) => shardOf(sku, 2) === shardOf(all[0]!, 2))
      .slice(0, 2) as [string, string];
    expect(changed).toBeDefined();
    const shardId = shardOf(drifted, 2);
    const shard = fleet.shards[shardId]!;
    const snapshotShard: SnapshotShard = {
      id: shard.id,
      connection: postgresConnectionSchema.parse({ host: shard.host, port: shard.port, database: shard.database, user: shard.user }),
    };
    const metrics = new ReconcileMetrics(new FleetMetrics('audit-test'), 'redis-cache');
    const audit = new StockAudit(
      redis,
      [snapshotShard],
      `${fleet.schema}.stock`,
      metrics,
      createLogger({ service: 'test', level: 'silent' }),
      {
        sliceSkus: skus,
        pauseMs: 0,
        graceMs: 3_000,
        repair: true,
      },
    );
    // This test's audit runs here, in steps; the worker's own continuous audit would repair the rows first.
    expect(await cache.process.terminate()).toBe(0);
    const plain = fleet.worker('redis-cache', cacheEnv);
    plain.process.start();
    await plain.process.waitReady(plain.port);
    const driftedTruth = await truth(drifted, 'WH-A');
    const changedBefore = await truth(changed, 'WH-A');
    await flip(drifted, 'WH-A', 777);
    await flip(changed, 'WH-A', 888);

    const running = audit.auditSlice(snapshotShard, '');
    await waitFor(
      'the audit to take its snapshot',
      async () => ((await metrics.auditLsn.get()).values.length > 0 ? true : undefined),
      10_000,
      20,
    );
    await restock(fleet.clients[shardId]!, fleet.schema, changed, 'WH-A', 5);
    const newer = await truth(changed, 'WH-A');
    await waitFor('the newer change to reach Redis', async () => (await cached(changed, 'WH-A')) === newer, 10_000, 20);
    const { audit: slice } = await running;

    expect(slice.drift.map((row) => `${row.sku}|${row.warehouse}`)).toContain(`${drifted}|WH-A`);
    expect(slice.drift.map((row) => `${row.sku}|${row.warehouse}`)).not.toContain(`${changed}|WH-A`);
    expect(slice.repaired).toBeGreaterThanOrEqual(1);
    expect(await cached(drifted, 'WH-A')).toBe(driftedTruth);
    expect(await cached(changed, 'WH-A')).toBe(newer);
    expect(newer).not.toBe(changedBefore);
  }, 120_000);
});
