import {
  AvroCodec,
  createKafka,
  createLogger,
  createRegistryClient,
  dlqTopicOf,
  postgresView,
  reconcile,
  redisView,
  schemaFingerprint,
  schemaFingerprintOf,
  schemaHeaders,
} from '@inventory-cdc/shared';
import { FleetFixture, restock, seedStock, skuName, waitFor, warehouses } from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { localStackEndpoints, namedStackSite, startStackService, stopStackService } from './local/stack';
import { neighbourStackOffset, portOffset } from './local/stack-plan';

const skus = 30;

/**
 * A registry of this test's own (no other suite may see it lose its schemas), on ports away from the shared
 * stack's and the fault matrix's (which sits 3000 away).
 */
function privateRegistrySite() {
  return namedStackSite('registry-loss', neighbourStackOffset(portOffset(), 3_050));
}

/** The first change event (not a tombstone) of `topic`, read_committed. */
async function firstChangeEvent(kafka: Kafka, topic: string): Promise<KafkaMessage> {
  const consumer = kafka.consumer({ groupId: `${topic}.first.${Date.now()}` });
  await consumer.connect();
  let first: KafkaMessage | undefined;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        if (message.value && !first) first = message;
        return Promise.resolve();
      },
    });
    return await waitFor(`a change event on ${topic}`, () => first, 60_000);
  } finally {
    await consumer.disconnect();
  }
}

/** The Postgres WAL position now: once the slot confirms it, every change before it is committed in Kafka. */
async function walPosition(fleet: FleetFixture): Promise<string> {
  const result = await fleet.clients[0]!.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  return result.rows[0]!.lsn;
}

async function slotConfirmed(fleet: FleetFixture, lsn: string): Promise<boolean> {
  const result = await fleet.clients[0]!.query<{ reached: boolean }>(
    'select confirmed_flush_lsn >= $1::pg_lsn as reached from pg_replication_slots where slot_name = $2',
    [lsn, `cdc_${fleet.prefix}_shard0`],
  );
  return result.rows[0]?.reached === true;
}

describe('a schema registry restarted empty', () => {
  const site = privateRegistrySite();
  const registryUrl = localStackEndpoints(1, site).registryUrl;
  let fleet: FleetFixture;
  let redis: Redis;
  let kafka: Kafka;

  beforeAll(async () => {
    await startStackService('registry', { site });
    fleet = await FleetFixture.create('registry_loss', 1, { registryUrl });
    kafka = createKafka(
      { brokers: fleet.stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'registry-loss-test',
      createLogger({ service: 'test', level: 'silent' }),
    );
    redis = new Redis(`${fleet.stack.redisUrl}/${1 + (process.pid % 15)}`);
    await redis.flushdb();
  });

  afterAll(async () => {
    await redis?.flushdb();
    redis?.disconnect();
    await fleet?.cleanup();
    await stopStackService('registry', { site, wipeData: true });
  });

  function startCache(): ReturnType<FleetFixture['worker']> {
    const cache = fleet.worker('redis-cache', {
      CDC__REDIS__URL: `${fleet.stack.redisUrl}/${1 + (process.pid % 15)}`,
      CDC__TOPICS__PREFIX: fleet.prefix,
      CDC__TOPICS__STOCK_SCHEMA: fleet.schema,
      CDC__REBUILD__SHARDS: fleet.rebuildShardsEnv(),
      CDC__CONSUMER__SESSION_TIMEOUT_MS: '6000',
      CDC__CONSUMER__HEARTBEAT_INTERVAL_MS: '1000',
    });
    cache.process.start();
    return cache;
  }

  async function redisMatchesPostgres(): Promise<string[]> {
    const result = reconcile(await postgresView(fleet.clients, fleet.schema), { redis: await redisView(redis) });
    return result.differences.map((difference) => JSON.stringify(difference));
  }

  it('sinks decode the changes from before and after the loss with the schemas they were written with, and dead-letter none', async () => {
    const db = fleet.clients[0]!;
    await seedStock(fleet.clients, fleet.schema, skus, 100);
    await fleet.startReaders();
    const first = startCache();
    await first.process.waitReady(first.port);
    await waitFor('Redis to hold the catalogue', async () => (await redisMatchesPostgres()).length === 0, 60_000, 250);
    await first.process.terminate();

    // Changes the cache has not consumed yet, written with the ids of the registry before the loss.
    for (let sku = 0; sku < skus; sku++) await restock(db, fleet.schema, skuName(sku), warehouses[0], 5);
    const beforeLoss = await walPosition(fleet);
    await waitFor('the reader to commit the changes before the loss', () => slotConfirmed(fleet, beforeLoss), 60_000, 200);

    await stopStackService('registry', { site, wipeData: true });
    await startStackService('registry', { site });
    // Whatever registers first in an emptied registry takes the ids from 1: here something unrelated, so the
    // ids in the records above now name other schemas (checked below).
    const stranger = new AvroCodec(createRegistryClient({ url: registryUrl, compatibility: 'BACKWARD' }));
    for (const name of ['A', 'B', 'C'])
      await stranger.register(`${fleet.prefix}.unrelated-${name}-value`, { type: 'record', name, fields: [{ name: 'x', type: 'int' }] });

    // A compatible schema change and changes after it: the reader registers again in the new registry.
    await db.query(`alter table ${fleet.schema}.stock add column note text`);
    for (let sku = 0; sku < skus; sku++)
      await db.query(`update ${fleet.schema}.stock set on_hand = on_hand + 1, note = 'after' where sku = $1 and warehouse = $2`, [
        skuName(sku),
        warehouses[1],
      ]);

    // The premise: a record from before the loss carries an id the new registry does not map to its schema.
    const stockTopic = `${fleet.prefix}.${fleet.schema}.stock`;
    const old = await firstChangeEvent(kafka, stockTopic);
    const oldId = old.value!.readUInt32BE(1);
    const servedNow = await stranger.client.getBySubjectAndId('', oldId).then(
      (info) => schemaFingerprint(JSON.parse(info.schema) as object),
      () => undefined,
    );
    expect(servedNow?.toString('hex')).not.toBe(schemaFingerprintOf(old.headers, schemaHeaders.value)!.toString('hex'));
    await stranger.close();

    const second = startCache();
    await second.process.waitReady(second.port);
    const left = await waitFor(
      'Redis to match Postgres after the loss',
      async () => {
        const differences = await redisMatchesPostgres();
        return differences.length === 0 ? differences : undefined;
      },
      90_000,
      500,
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; still different: ${(await redisMatchesPostgres()).slice(0, 5).join(' ')}`);
    });
    expect(left).toEqual([]);

    const admin = kafka.admin();
    await admin.connect();
    try {
      const dlqTopic = dlqTopicOf({ prefix: fleet.prefix }, 'redis-cache');
      const letters = (await admin.listTopics()).includes(dlqTopic)
        ? (await admin.fetchTopicOffsets(dlqTopic)).reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0)
        : 0;
      expect(letters).toBe(0);
    } finally {
      await admin.disconnect();
    }
  }, 300_000);
});
