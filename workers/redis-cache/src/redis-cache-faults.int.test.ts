import { AvroCodec, cacheKeys, createKafka, createLogger, createRegistryClient, parseStockHash } from '@inventory-cdc/shared';
import { FleetFixture, readTopics, seedStock, stockTruth, waitFor, type WorkerProcess } from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { readFileSync } from 'node:fs';

const skus = 20;

/** One shard, so every SKU of the fixture lives there and position prefix `0000:` names it. */
describe('redis-cache under bad rows, TRUNCATE and a stale Redis', () => {
  let fleet: FleetFixture;
  let redis: Redis;
  let kafka: Kafka;
  let codec: AvroCodec;
  let cache: { process: WorkerProcess; port: number };
  let cacheEnv: Record<string, string>;

  /** The source (topic:partition@offset) of every dead letter so far, in order. */
  const deadLetterSources = async (): Promise<string[]> => {
    const consumer = kafka.consumer({ groupId: `${fleet.prefix}.dlq-probe.${Date.now()}` });
    const sources: string[] = [];
    const high = await waitFor('the dead-letter topic', async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        return Number((await admin.fetchTopicOffsets(`${fleet.prefix}.dlq.redis-cache`))[0]!.high);
      } finally {
        await admin.disconnect();
      }
    });
    if (high === 0) return sources;
    await consumer.connect();
    await consumer.subscribe({ topic: `${fleet.prefix}.dlq.redis-cache`, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: ({ message }) => {
          const header = (name: string): string => String(message.headers?.[name] ?? '');
          sources.push(`${header('dlq.source.topic')}:${header('dlq.source.partition')}@${header('dlq.source.offset')}`);
          if (Number(message.offset) + 1 >= high) resolve();
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    return sources;
  };

  /** Every SKU whose Redis warehouses or totals differ from Postgres. */
  async function differences(): Promise<string[]> {
    const truth = [...(await stockTruth(fleet.clients, fleet.schema)).values()];
    const problems: string[] = [];
    for (const sku of new Set(truth.map((row) => row.sku))) {
      const parsed = parseStockHash(await redis.hgetall(cacheKeys.stock(sku)));
      const rows = truth.filter((row) => row.sku === sku);
      // Sorted: Postgres returns an updated row in another order.
      const expected = Object.fromEntries(rows.map((row) => [row.warehouse, `${row.onHand}/${row.reserved}`] as const).sort());
      const got = Object.fromEntries(
        Object.entries(parsed.warehouses)
          .map(([warehouse, w]) => [warehouse, `${w.onHand}/${w.reserved}`] as const)
          .sort(),
      );
      const expectedTotal = rows.reduce((sum, row) => sum + row.onHand, 0);
      if (JSON.stringify(got) !== JSON.stringify(expected) || parsed.total.onHand !== expectedTotal)
        problems.push(`${sku}: redis ${JSON.stringify(got)} total ${parsed.total.onHand}, postgres ${JSON.stringify(expected)}`);
    }
    return problems;
  }

  const converged = (what: string): Promise<string[]> =>
    waitFor(what, async () => ((await differences()).length === 0 ? [] : undefined), 60_000, 250).catch(() => differences());

  beforeAll(async () => {
    fleet = await FleetFixture.create('cache_faults', 1);
    await seedStock(fleet.clients, fleet.schema, skus, 100);
    await fleet.startReaders();
    redis = new Redis(`${fleet.stack.redisUrl}/${1 + ((process.pid + 7) % 15)}`);
    await redis.flushdb();
    kafka = createKafka(
      { brokers: fleet.stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'cache-faults-test',
      createLogger({ service: 'cache-faults-test', level: 'silent' }),
    );
    codec = new AvroCodec(createRegistryClient({ url: fleet.stack.registryUrl, compatibility: 'BACKWARD' }));
    cacheEnv = {
      CDC__REDIS__URL: `${fleet.stack.redisUrl}/${1 + ((process.pid + 7) % 15)}`,
      CDC__TOPICS__PREFIX: fleet.prefix,
      CDC__TOPICS__STOCK_SCHEMA: fleet.schema,
      CDC__REBUILD__SHARDS: fleet.rebuildShardsEnv(),
      CDC__REBUILD__CHECK_INTERVAL_MS: '100',
      CDC__CONSUMER__SESSION_TIMEOUT_MS: '6000',
      CDC__CONSUMER__HEARTBEAT_INTERVAL_MS: '1000',
    };
    cache = fleet.worker('redis-cache', cacheEnv);
    cache.process.start();
    await cache.process.waitReady(cache.port);
  });

  afterAll(async () => {
    await redis.flushdb();
    redis.disconnect();
    await codec.close();
    await fleet.cleanup();
  });

  it('dead-letters a row with an empty warehouse instead of storing oh:/rs: fields readers ignore', async () => {
    const [shard] = fleet.clients;
    await shard!.query(`insert into ${fleet.schema}.stock (sku, warehouse, on_hand) values ('SKU-000001', '', 5)`);
    // The dead-letter topic may be new to the broker's metadata: ask again until it answers.
    const letters = await waitFor(
      'the dead letter',
      async () => {
        const read = await readTopics(kafka, codec, [`${fleet.prefix}.dlq.redis-cache`], (records) => records.length >= 1, 5_000);
        return read.length >= 1 ? read : undefined;
      },
      60_000,
      500,
    ).finally(() => shard!.query(`delete from ${fleet.schema}.stock where warehouse = ''`));

    expect(letters).toHaveLength(1);
    const hash = await redis.hgetall(cacheKeys.stock('SKU-000001'));
    expect(Object.keys(hash).filter((field) => /^(oh|rs|av|p):$/.test(field))).toEqual([]);
    expect(await converged('Redis to equal Postgres')).toEqual([]);
  });

  it('a rebuild removes rows Postgres no longer has, and is logged once with the shard’s true row count', async () => {
    // Given a Redis holding a row Postgres deleted long ago (e.g. restored from an old backup).
    const stale = cacheKeys.stock('SKU-000002');
    await redis.hset(stale, 'oh:GONE', 7, 'rs:GONE', 0, 'av:GONE', 7, 'p:GONE', '0000:0000000000000001:00000000');
    const logBefore = readFileSync(cache.process.logFile, 'utf8').length;

    // When the read model is found missing and rebuilt.
    await redis.del(cacheKeys.sentinel);
    await waitFor('the rebuilt read model', async () => (await redis.exists(cacheKeys.sentinel)) === 1, 60_000);
    await waitFor('the rebuild’s end in the log', () =>
      readFileSync(cache.process.logFile, 'utf8').slice(logBefore).includes('read model rebuilt'),
    );

    // Then the row is gone, the totals add up, and the log tells it once, with the shard's row count.
    expect(parseStockHash(await redis.hgetall(stale)).warehouses['GONE']).toBeUndefined();
    expect(await converged('Redis to equal Postgres after the rebuild')).toEqual([]);
    const log = readFileSync(cache.process.logFile, 'utf8').slice(logBefore).split('\n').filter(Boolean);
    expect(log.filter((line) => line.includes('read model missing'))).toHaveLength(1);
    const reseeded = log
      .filter((line) => line.includes('shard re-seeded'))
      .map((line) => JSON.parse(line) as { rows: number; removed: number });
    const rowsInPostgres = (await stockTruth(fleet.clients, fleet.schema)).size;
    expect(reseeded).toEqual([expect.objectContaining({ rows: rowsInPostgres, removed: 1 })]);
  });

  it('sends a batch’s dead letters before its progress: a kill -9 right after the effect loses none', async () => {
    await cache.process.terminate();
    const crashing = fleet.worker('redis-cache', { ...cacheEnv, CDC__FAULT_INJECTION__CRASH_POINTS: '{sink-after-apply: 1}' });
    crashing.process.start();
    await crashing.process.waitReady(crashing.port);
    const before = (await deadLetterSources()).length;

    // One transaction: a poison row and a good one, so the batch's effect stores progress past the poison.
    const [shard] = fleet.clients;
    await shard!.query('begin');
    await shard!.query(`insert into ${fleet.schema}.stock (sku, warehouse, on_hand) values ('SKU-000005', '', 1)`);
    await shard!.query(`update ${fleet.schema}.stock set on_hand = on_hand + 1 where sku = 'SKU-000005' and warehouse = 'WH-A'`);
    await shard!.query('commit');
    await waitFor('the crash right after the effect', () => !crashing.process.isRunning(), 30_000);

    cache = fleet.worker('redis-cache', cacheEnv);
    cache.process.start();
    await cache.process.waitReady(cache.port);
    await shard!.query(`delete from ${fleet.schema}.stock where warehouse = ''`);
    // Both poison events, the insert and the delete that removes it: a letter still to come when the next
    // test stops this worker would be the first batch of that test's crashing worker, which then dies early.
    const poisonSources = async () => new Set((await deadLetterSources()).slice(before)).size;
    expect(
      await waitFor('both poison events’ dead letters', async () => ((await poisonSources()) >= 2 ? true : undefined), 30_000, 500),
    ).toBe(true);
    expect(await converged('Redis to equal Postgres after the crash')).toEqual([]);
  });

  it('a kill -9 after a batch’s dead letters are sent, before its effect: every poison event is dead-lettered, no effect lost or doubled', async () => {
    await cache.process.terminate();
    const crashing = fleet.worker('redis-cache', { ...cacheEnv, CDC__FAULT_INJECTION__CRASH_POINTS: '{sink-after-dead-letters: 1}' });
    crashing.process.start();
    await crashing.process.waitReady(crashing.port);
    const before = (await deadLetterSources()).length;

    // One transaction: two poison rows around a good change, so all three share a batch.
    const [shard] = fleet.clients;
    await shard!.query('begin');
    await shard!.query(`insert into ${fleet.schema}.stock (sku, warehouse, on_hand) values ('SKU-000006', '', 1)`);
    await shard!.query(`update ${fleet.schema}.stock set on_hand = on_hand + 7 where sku = 'SKU-000006' and warehouse = 'WH-A'`);
    await shard!.query(`insert into ${fleet.schema}.stock (sku, warehouse, on_hand) values ('SKU-000007', '', 1)`);
    await shard!.query('commit');
    await waitFor('the crash right after the dead letters', () => !crashing.process.isRunning(), 30_000);

    cache = fleet.worker('redis-cache', cacheEnv);
    cache.process.start();
    await cache.process.waitReady(cache.port);
    await shard!.query(`delete from ${fleet.schema}.stock where warehouse = ''`);
    expect(await converged('Redis to equal Postgres after the crash')).toEqual([]);
    // Poison: the two inserts with an empty warehouse and the two deletes that remove them. Their keys
    // differ, so they may sit in different partitions, read at different times.
    const letters = await waitFor(
      'both poison events dead-lettered',
      async () => {
        const found = (await deadLetterSources()).slice(before);
        return new Set(found).size >= 4 ? found : undefined;
      },
      30_000,
      1_000,
    ).catch(async () => (await deadLetterSources()).slice(before));
    const poison = new Set(letters);
    // Every poison event at least once: the restart sends the crashed batch's letters again.
    expect(poison.size).toBe(4);
    expect(letters.length).toBeGreaterThan(4);
  });

  it('TRUNCATE of the stock table empties the shard’s SKUs in Redis; rows inserted after it appear', async () => {
    const [shard] = fleet.clients;
    await shard!.query(`truncate ${fleet.schema}.stock`);
    await shard!.query(`insert into ${fleet.schema}.stock (sku, warehouse, on_hand) values ('SKU-000003', 'WH-NEW', 4)`);

    expect(await converged('Redis to equal the truncated Postgres')).toEqual([]);
    expect(parseStockHash(await redis.hgetall(cacheKeys.stock('SKU-000004'))).total.onHand).toBe(0);
    expect(Object.keys(parseStockHash(await redis.hgetall(cacheKeys.stock('SKU-000003'))).warehouses)).toEqual(['WH-NEW']);
  });
});
