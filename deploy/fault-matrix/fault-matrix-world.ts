import { formatReconciliation, shardOf, sqlIdentifier } from '@inventory-cdc/shared';
import { inventoryDdl, recreateDatabase, seedStock, skuName } from '@inventory-cdc/shared/testing';
import Redis from 'ioredis';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import { DemoFleet } from '../demo/demo-fleet';
import { settleFleet } from '../demo/demo-reconcile';
import { type StackSite, namedStackSite, stackDown, stackUp } from '../local/stack';
import { neighbourStackOffset, portOffset, repoRoot } from '../local/stack-plan';
import { type MatrixWorld, sideTableDdl } from './fault-injector';
import { FleetSupervisor } from './fleet-supervisor';

/** How far the matrix's stack sits from the shared one, unless `CDC_FAULT_MATRIX_PORT_BASE` says where. */
const offsetFromShared = 3_000;

/**
 * The matrix's own stack: it stops, kills and wipes servers, so it must never be the stack the other
 * integration suites share. Ports: `CDC_FAULT_MATRIX_PORT_BASE` when set, else the shared stack's
 * offset + 3000 (− 3000 where that would reach the ephemeral port range: the matrix restarts its servers),
 * which meets no port of stacks at the offsets developers and CI use (multiples of 100 up to 2000 apart).
 */
export function matrixStackSite(env: NodeJS.ProcessEnv = process.env): StackSite {
  const explicit = env['CDC_FAULT_MATRIX_PORT_BASE']?.trim();
  if (explicit) return namedStackSite('fault-matrix', Number(explicit));
  return namedStackSite('fault-matrix', neighbourStackOffset(portOffset(env), offsetFromShared));
}

export interface Catalogue {
  skus: number;
  /** The sale's SKUs, spread over the catalogue (and so over the shards). */
  hotSkus: string[];
  otherSkus: string[];
}

export function catalogue(skus: number, hot: number): Catalogue {
  const names = Array.from({ length: skus }, (_, index) => skuName(index));
  const hotSkus = Array.from({ length: hot }, (_, index) => names[Math.floor(((index + 0.5) * skus) / hot)]!);
  return { skus, hotSkus, otherSkus: names.filter((sku) => !hotSkus.includes(sku)) };
}

const schema = 'inventory';
const seedOnHand = 50;
/** The sale's SKUs start with more, so the sale lasts; replenishment keeps it going. */
const hotOnHand = 400;
const logDirectory = 'fault-matrix/logs';

/**
 * Brings up the matrix's stack from scratch, the inventory schema and catalogue on both shards, and the
 * whole fleet under the supervisor, and waits until the catalogue is in Redis, the WMS and the ERP.
 */
export async function startMatrixWorld(site: StackSite, setup: Catalogue, log: (line: string) => void): Promise<MatrixWorld> {
  // From scratch: a replayed seed meets the same empty servers.
  await stackDown({ site, wipe: true }).catch(() => undefined);
  rmSync(join(repoRoot(), '.local', logDirectory), { recursive: true, force: true });
  const stack = await stackUp({ site, shards: 2, log: (line) => log(`  ${line}`) });
  const pools = stack.shards.map((shard) => {
    const pool = new Pool({ connectionString: shard.url, max: 12, options: '-c TimeZone=UTC' });
    // A shard restarted under the pool kills its connections, idle or checked out; the pool replaces them
    // and the statement in flight fails (the load counts it).
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    return pool;
  });
  const redis = new Redis(`${stack.redisUrl}/0`, { lazyConnect: true, maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  await redis.connect();

  for (const pool of pools) {
    await pool.query(inventoryDdl(schema));
    // The ERP's postings are deltas: they need whole before images of every stock update.
    await pool.query(`alter table ${sqlIdentifier(schema)}.stock replica identity full`);
    await pool.query(sideTableDdl(schema));
  }
  await seedStock(pools, schema, setup.skus, seedOnHand);
  for (const sku of setup.hotSkus)
    await pools[shardOf(sku, pools.length)]!.query(`update ${sqlIdentifier(schema)}.stock set on_hand = $2 where sku = $1`, [
      sku,
      hotOnHand,
    ]);
  const receiversUrl = await recreateDatabase(stack.shards[0]!.url, 'fault_receivers');

  const fleet = new DemoFleet({
    stack,
    prefix: 'fm',
    schema,
    receiversDatabaseUrl: receiversUrl,
    redisUrl: `${stack.redisUrl}/0`,
    portBase: 19_100 + site.portOffset,
    logDirectory,
    record: false,
  });
  await fleet.checkPorts();
  await fleet.startReceiversAndReaders();
  await fleet.startSinks();
  const supervisor = new FleetSupervisor(() => fleet.members, log);
  const world: MatrixWorld = {
    site,
    fleet,
    pools,
    redis,
    supervisor,
    kafkaBrokers: stack.kafkaBrokers,
    registryUrl: stack.registryUrl,
    receiversDatabaseUrl: receiversUrl,
    log,
  };
  const loaded = await settleFleet(pools, redis, fleet, 120_000);
  if (loaded.differences.length > 0) {
    formatReconciliation(loaded).forEach(log);
    throw new Error('the catalogue did not reach Redis, the WMS and the ERP within 2 minutes');
  }
  return world;
}

/** Stops the fleet (supervisor first, so nothing restarts it), closes the clients and removes the stack. */
export async function stopMatrixWorld(world: MatrixWorld | undefined, site: StackSite): Promise<string[]> {
  let failures: string[] = [];
  if (world) {
    await world.supervisor.stop();
    failures = await world.fleet.stop();
    world.redis.disconnect();
    await Promise.all(world.pools.map((pool) => pool.end()));
  }
  await stackDown({ site, wipe: true });
  return failures;
}
