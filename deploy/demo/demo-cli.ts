import { createKafka, createLogger, formatReconciliation, shardOf, sqlIdentifier } from '@inventory-cdc/shared';
import {
  hostCpuBetween,
  inventoryDdl,
  recreateDatabase,
  sampleHostCpu,
  seedStock,
  skuName,
  warehouses,
} from '@inventory-cdc/shared/testing';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { relative } from 'node:path';
import { Client, Pool } from 'pg';
import { stackUp } from '../local/stack';
import { ensureReaderRole } from '../security/reader-role';
import { DemoFleet, erpPostingWindowMs, fleetConfigFile, fleetFile, stopKeptFleet } from './demo-fleet';
import { settleFleet } from './demo-reconcile';
import { UsageError, demoUsage, parseDemoArgs, type DemoOptions } from './demo-options';
import { FlashSale } from './flash-sale';
import { LiveView, sinkTargets } from './live-view';
import { renderReaderLatency, renderSaleLatency } from './live-view-render';

/**
 * `npm run demo`: the whole fleet on the local stack through a flash sale.
 *
 * Brings the stack up; creates the inventory schema on every shard and seeds the catalogue (SKU → shard by
 * `shardOf`); starts one wal-reader per shard, the redis-cache, wms-adapter and erp-adapter sinks and the
 * reference WMS and ERP receivers as separate processes; waits until the catalogue has reached every
 * system; runs the flash sale under a live view; and ends with a reconciliation of Postgres, Redis, the
 * WMS and the ERP, exiting 1 when anything differs. See `demoUsage` for the options.
 */

const schema = 'inventory';
const seedOnHand = 100;
/** Redis database of the demo's read model; the tests use 1–15. */
const redisDatabase = 0;
const receiversDatabase = 'demo_receivers';
const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The readers log in as this least-privilege role (deploy/security/reader-role.ts), not as a superuser. */
const readerRole = 'cdc_demo_reader';
const capturedTables = ['stock', 'reservations', 'orders'].map((table) => `${schema}.${table}`);

async function prepareShards(
  shards: Client[],
  options: DemoOptions,
  hotSkus: string[],
  prefix: string,
  readerPassword: string,
): Promise<void> {
  await Promise.all(
    shards.map(async (client, index) => {
      // An earlier demo's slots would hold WAL back forever: drop the idle ones with their publications.
      await client.query(
        `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'cdc\\_demo\\_%' and not active`,
      );
      for (const { pubname } of (
        await client.query<{ pubname: string }>(`select pubname from pg_publication where pubname like 'cdc\\_demo\\_%'`)
      ).rows)
        await client.query(`drop publication ${sqlIdentifier(pubname)}`);
      await client.query(`drop schema if exists ${sqlIdentifier(schema)} cascade`);
      await client.query(inventoryDdl(schema));
      // The ERP's postings are deltas: they need whole before images of every stock update.
      await client.query(`alter table ${sqlIdentifier(schema)}.stock replica identity full`);
      await ensureReaderRole(client, {
        role: readerRole,
        password: readerPassword,
        tables: capturedTables,
        publication: `cdc_${prefix}_shard${index}`,
      });
    }),
  );
  await seedStock(shards, schema, options.skus, seedOnHand);
  // The sale's SKUs start with more stock, so the sale lasts; replenishment keeps it going.
  const hotStock = Math.max(seedOnHand, options.buyers * 2);
  for (const sku of hotSkus)
    await shards[shardOf(sku, shards.length)]!.query(`update ${sqlIdentifier(schema)}.stock set on_hand = $2 where sku = $1`, [
      sku,
      hotStock,
    ]);
}

/** Deletes the topics of earlier demo runs, so Kafka's disk use stays bounded over many runs. */
async function deleteEarlierDemoTopics(brokers: string[], prefix: string): Promise<number> {
  const admin = createKafka(
    { brokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
    'demo-admin',
    createLogger({ service: 'demo', level: 'warn' }),
  ).admin();
  await admin.connect();
  try {
    const stale = (await admin.listTopics()).filter((topic) => topic.startsWith('demo_') && !topic.startsWith(`${prefix}.`));
    if (stale.length > 0) await admin.deleteTopics({ topics: stale, timeout: 30_000 });
    return stale.length;
  } finally {
    await admin.disconnect();
  }
}

async function main(argv: string[]): Promise<number> {
  let options: DemoOptions;
  try {
    options = parseDemoArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${demoUsage}\n`);
    return 2;
  }
  if (options.stop) {
    const stopped = await stopKeptFleet(say);
    if (stopped === 0) say('no demo fleet is running');
    return 0;
  }
  await stopKeptFleet(say);

  say(`stack: starting (${options.shards} shards)…`);
  const stack = await stackUp({ shards: options.shards, log: (line) => say(`  ${line}`) });
  const shards = stack.shards.slice(0, options.shards);
  const prefix = `demo_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  const skus = Array.from({ length: options.skus }, (_, index) => skuName(index));
  // Hot SKUs spread over the catalogue (and so over the shards), not the first few.
  const hotSkus = Array.from({ length: options.hotSkus }, (_, index) => skus[Math.floor(((index + 0.5) * skus.length) / options.hotSkus)]!);
  const hotSet = new Set(hotSkus);

  const pools = shards.map(
    (shard) =>
      new Pool({ connectionString: shard.url, max: Math.min(40, Math.ceil(options.buyers / shards.length)), options: '-c TimeZone=UTC' }),
  );
  const redis = new Redis(`${stack.redisUrl}/${redisDatabase}`, { lazyConnect: true });
  await redis.connect();
  const admins = await Promise.all(
    shards.map(async (shard) => {
      const client = new Client({ connectionString: shard.url });
      await client.connect();
      return client;
    }),
  );
  let fleet: DemoFleet | undefined;
  let keep = false;
  try {
    const readerPassword = randomBytes(18).toString('base64url');
    await prepareShards(admins, options, hotSkus, prefix, readerPassword);
    say(
      `seeded ${options.skus.toLocaleString('en')} SKUs × ${warehouses.length} warehouses over ${shards.length} shards (SKU → shard: FNV-1a mod ${shards.length}); hot SKUs: ${hotSkus.join(', ')}`,
    );
    const receiversUrl = await recreateDatabase(shards[0]!.url, receiversDatabase);
    await redis.flushdb();
    const deleted = await deleteEarlierDemoTopics(stack.kafkaBrokers, prefix);
    if (deleted > 0) say(`deleted ${deleted} topics of earlier demo runs`);

    fleet = new DemoFleet({
      stack: { ...stack, shards },
      prefix,
      schema,
      receiversDatabaseUrl: receiversUrl,
      redisUrl: `${stack.redisUrl}/${redisDatabase}`,
    });
    await fleet.checkPorts();
    say('fleet: starting the reference WMS and ERP and one wal-reader per shard (the catalogue goes out as snapshot events)…');
    await fleet.startReceiversAndReaders();
    say('fleet: starting the redis-cache, wms-adapter and erp-adapter sinks…');
    await fleet.startSinks();
    for (const { member, process } of fleet.members)
      say(`  ${member.name.padEnd(14)} pid ${String(process.pid).padEnd(7)} ${member.url}  log ${process.logFile}`);
    if (options.observe) {
      const url = await fleet.observe();
      say(`  prometheus     ${url}  (scraping the fleet every second, the alert rules of deploy/prometheus/rules loaded)`);
    }

    const loadStarted = Date.now();
    let lastReport = 0;
    const loaded = await settleFleet(pools, redis, fleet, 300_000, (result) => {
      if (Date.now() - lastReport < 5_000) return;
      lastReport = Date.now();
      const pending = result.systems
        .map((system) => `${system} ${result.differences.filter((d) => d.system === system).length.toLocaleString('en')}`)
        .join(', ');
      say(`  catalogue on its way: rows still differing — ${pending}`);
    });
    if (loaded.differences.length > 0) {
      formatReconciliation(loaded).forEach(say);
      throw new Error('the catalogue did not reach every system within 5 minutes');
    }
    say(`catalogue in Redis, the WMS and the ERP after ${((Date.now() - loadStarted) / 1000).toFixed(1)} s\n`);

    const sale = new FlashSale({
      pools,
      schema,
      durationMs: options.durationSeconds * 1000,
      buyers: options.buyers,
      hotSkus,
      otherSkus: skus.filter((sku) => !hotSet.has(sku)),
    });
    say(`flash sale: ${options.buyers} buyers for ${options.durationSeconds} s, four in five orders for ${hotSkus.join(', ')}`);
    const view = new LiveView(
      fleet,
      sale,
      pools,
      redis,
      schema,
      hotSkus,
      (sku) => shardOf(sku, shards.length),
      options.durationSeconds,
      sinkTargets(erpPostingWindowMs),
    );
    view.start();
    const cpuBefore = sampleHostCpu();
    await sale.run();
    const saleCpu = hostCpuBetween(cpuBefore, sampleHostCpu());
    view.phase = 'draining';
    const drainStarted = Date.now();
    const result = await settleFleet(pools, redis, fleet, 120_000);
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    const latency = await view.stop();

    const { counters } = sale;
    say('');
    say(
      `sale over: ${counters.purchases.toLocaleString('en')} purchases, ${counters.soldOut.toLocaleString('en')} refused as sold out, ${counters.restocks.toLocaleString('en')} restocks, ${counters.shipments.toLocaleString('en')} shipments, ${counters.errors} errors${counters.lastError ? ` (last: ${counters.lastError})` : ''}`,
    );
    say(`every system caught up ${drainSeconds.toFixed(1)} s after the last sale transaction`);
    if (saleCpu)
      say(
        `host CPU during the sale: ${(saleCpu.busy * 100).toFixed(0)}% busy (${saleCpu.cores.toFixed(1)} of ${cpus().length} cores, the stack, the fleet and the buyers together)`,
      );
    renderSaleLatency(latency.sinks).forEach(say);
    renderReaderLatency(latency.readers).forEach(say);
    formatReconciliation(result).forEach(say);
    const clean = result.differences.length === 0;

    if (options.keep) {
      keep = true;
      fleet.detach();
      say(
        `\n--keep: the fleet keeps running (pids and URLs in ${fleetFile}); npm run demo -- --stop ends it, npm run stack:down the stack`,
      );
      say(`operate it: npm run fleet -- status --config ${relative(process.cwd(), fleetConfigFile)}`);
      return clean ? 0 : 1;
    }
    return clean ? 0 : 1;
  } finally {
    if (fleet && !keep) {
      const failures = await fleet.stop();
      say(
        failures.length === 0
          ? 'fleet stopped; the stack stays up (npm run stack:down stops it)'
          : `fleet stopped with problems: ${failures.join(', ')}`,
      );
    }
    redis.disconnect();
    await Promise.all([...pools.map((pool) => pool.end()), ...admins.map((client) => client.end())]);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
