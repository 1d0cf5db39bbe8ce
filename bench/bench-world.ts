import { createKafka, createLogger, sqlIdentifier } from '@inventory-cdc/shared';
import { inventoryDdl, seedStock, skuName, type LocalStackEndpoints } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { Client, Pool } from 'pg';
import Redis from 'ioredis';
import { DemoFleet } from '../deploy/demo/demo-fleet';
import { stackUp } from '../deploy/local/stack';
import { portOffset } from '../deploy/local/stack-plan';

/** Redis database of the benchmarks (the demo uses 0; do not run the benchmarks alongside the tests, which use 1–15). */
const benchRedisDatabase = 15;

let worlds = 0;

/**
 * One benchmark run's private world on the local stack: an inventory schema on N shards, seeded; a fleet
 * (readers and chosen sinks, on their own ports and topic prefix); pools for the load; and `close()`
 * that stops the fleet and drops the slots, publications, schema and topics.
 */
export class BenchWorld {
  readonly pools: Pool[];
  readonly redis: Redis;
  readonly fleet: DemoFleet;
  readonly skus: string[];
  /** The reference receivers' database, when the world has them. */
  readonly receivers: Pool | undefined;

  private constructor(
    readonly stack: LocalStackEndpoints,
    readonly schema: string,
    skus: number,
    receiversDatabaseUrl: string | undefined,
  ) {
    this.skus = Array.from({ length: skus }, (_, index) => skuName(index));
    this.pools = stack.shards.map((shard) => new Pool({ connectionString: shard.url, max: 32 }));
    this.redis = new Redis(`${stack.redisUrl}/${benchRedisDatabase}`);
    this.receivers = receiversDatabaseUrl ? new Pool({ connectionString: receiversDatabaseUrl, max: 2 }) : undefined;
    this.fleet = new DemoFleet({
      stack,
      prefix: schema,
      schema,
      redisUrl: `${stack.redisUrl}/${benchRedisDatabase}`,
      receiversDatabaseUrl,
      portBase: 19_200 + portOffset(),
      logDirectory: 'bench-logs',
      record: false,
    });
  }

  /** Brings the stack up with `shards` servers and prepares a seeded schema on each (readers not yet started). */
  static async create(name: string, shards: number, skus: number, options: { receivers?: boolean } = {}): Promise<BenchWorld> {
    const full = await stackUp({ shards });
    const stack = { ...full, shards: full.shards.slice(0, shards) };
    const schema = `bench_${name}_${process.pid}_${++worlds}`;
    let receiversUrl: string | undefined;
    if (options.receivers) {
      const admin = new Client({ connectionString: stack.shards[0]!.url });
      await admin.connect();
      await admin.query(`drop database if exists ${sqlIdentifier(`${schema}_receivers`)} with (force)`);
      await admin.query(`create database ${sqlIdentifier(`${schema}_receivers`)}`);
      await admin.end();
      const url = new URL(stack.shards[0]!.url);
      url.pathname = `/${schema}_receivers`;
      receiversUrl = url.toString();
    }
    const world = new BenchWorld(stack, schema, skus, receiversUrl);
    await Promise.all(
      world.pools.map(async (pool) => {
        await pool.query(inventoryDdl(schema));
        await pool.query(`alter table ${sqlIdentifier(schema)}.stock replica identity full`);
      }),
    );
    await seedStock(world.pools, schema, skus, 1_000_000);
    await world.redis.flushdb();
    return world;
  }

  /** Sets the read model's sentinel, so the redis-cache applies the events instead of first rebuilding from Postgres. */
  async markReadModelPresent(): Promise<void> {
    await this.redis.set('cdc:sentinel', 'bench');
  }

  async close(): Promise<void> {
    await this.fleet.stop();
    await this.receivers?.end();
    await Promise.all(
      this.stack.shards.map(async (shard, index) => {
        const pool = this.pools[index]!;
        const slot = `cdc_${this.schema}_shard${shard.id}`;
        await pool.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [
          slot,
        ]);
        await pool.query(`drop publication if exists ${sqlIdentifier(slot)}`);
        await pool.query(`drop schema if exists ${sqlIdentifier(this.schema)} cascade`);
        await pool.end();
      }),
    );
    const admin = new Client({ connectionString: this.stack.shards[0]!.url });
    await admin.connect();
    await admin.query(`drop database if exists ${sqlIdentifier(`${this.schema}_receivers`)} with (force)`);
    await admin.end();
    await this.redis.flushdb();
    this.redis.disconnect();
    const kafkaAdmin = createKafka(
      { brokers: this.stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'bench-admin',
      createLogger({ service: 'bench', level: 'warn' }),
    ).admin();
    await kafkaAdmin.connect();
    const topics = (await kafkaAdmin.listTopics()).filter((topic) => topic.startsWith(`${this.schema}.`));
    if (topics.length > 0) await kafkaAdmin.deleteTopics({ topics, timeout: 30_000 });
    await kafkaAdmin.disconnect();
  }
}

/** Peak resident memory of a process so far (VmHWM), bytes. */
export function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Quantile of raw values (nearest rank). */
export function quantile(values: number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
