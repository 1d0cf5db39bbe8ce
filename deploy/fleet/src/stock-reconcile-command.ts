import {
  erpView,
  pgClientConfig,
  postgresView,
  reconcile,
  redisView,
  wmsView,
  type Difference,
  type Reconciliation,
  type StockView,
} from '@inventory-cdc/shared';
import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { UsageError } from './cli-args';
import type { FleetConfig } from './fleet-config';

/** The sinks `fleet reconcile` can check, the system name the report gives each, and what it needs. */
export const reconcilableSinks = {
  'redis-cache': { system: 'Redis', needs: 'reconcile.redisUrl' },
  'wms-adapter': { system: 'WMS', needs: 'reconcile.wmsStateUrl' },
  'erp-adapter': { system: 'ERP', needs: 'reconcile.erpStateUrl' },
} as const;
export type ReconcilableSink = keyof typeof reconcilableSinks;

type Loader = () => Promise<StockView>;

function loadersOf(config: FleetConfig, sink: string | undefined): { loaders: Record<string, Loader>; close: () => void } {
  const { redisUrl, wmsStateUrl, erpStateUrl } = config.reconcile;
  const configured: Partial<Record<ReconcilableSink, string | undefined>> = {
    'redis-cache': redisUrl,
    'wms-adapter': wmsStateUrl,
    'erp-adapter': erpStateUrl,
  };
  if (sink !== undefined && !(sink in reconcilableSinks))
    throw new UsageError(`reconcile: --sink must be one of ${Object.keys(reconcilableSinks).join(', ')}, got ${sink}`);
  const chosen = (sink === undefined ? Object.keys(reconcilableSinks) : [sink]) as ReconcilableSink[];
  if (sink !== undefined && !configured[sink as ReconcilableSink])
    throw new UsageError(`reconcile --sink ${sink}: set ${reconcilableSinks[sink as ReconcilableSink].needs} in the fleet config`);
  let redis: Redis | undefined;
  const loaders: Record<string, Loader> = {};
  for (const name of chosen) {
    const target = configured[name];
    if (!target) continue;
    const system = reconcilableSinks[name].system;
    if (name === 'redis-cache') {
      redis = new Redis(target, { lazyConnect: true, maxRetriesPerRequest: 2 });
      const client = redis;
      loaders[system] = async () => redisView(client);
    } else loaders[system] = () => (name === 'wms-adapter' ? wmsView(target) : erpView(target));
  }
  if (Object.keys(loaders).length === 0)
    throw new UsageError('reconcile: no sink to compare; set reconcile.redisUrl, wmsStateUrl or erpStateUrl');
  return { loaders, close: () => redis?.disconnect() };
}

async function compareOnce(shards: Client[], schema: string, loaders: Record<string, Loader>): Promise<Reconciliation> {
  const [truth, ...views] = await Promise.all([postgresView(shards, schema), ...Object.values(loaders).map((load) => load())]);
  return reconcile(truth, Object.fromEntries(Object.keys(loaders).map((system, index) => [system, views[index]!])));
}

const keyOf = (difference: Difference): string => `${difference.system}\u0000${difference.key}`;

/**
 * One full pass of every configured sink (or `sink`) against Postgres, on a running fleet: a key that
 * differs is compared again after `reconcile.graceMs`, and only what differs both times is reported —
 * a change still on its way through Kafka is lag, not drift. The figures reported are the second look's.
 */
export async function reconcileFleet(config: FleetConfig, sink: string | undefined): Promise<Reconciliation> {
  const { loaders, close } = loadersOf(config, sink);
  const shards = config.shards.map((shard) => new Client(pgClientConfig(shard.connection, 'fleet-reconcile')));
  try {
    await Promise.all(shards.map((client) => client.connect()));
    const first = await compareOnce(shards, config.topics.stockSchema, loaders);
    if (first.differences.length === 0) return first;
    await sleep(config.reconcile.graceMs);
    const second = await compareOnce(shards, config.topics.stockSchema, loaders);
    const before = new Set(first.differences.map(keyOf));
    return { ...second, differences: second.differences.filter((difference) => before.has(keyOf(difference))) };
  } finally {
    close();
    await Promise.all(shards.map((client) => client.end().catch(() => undefined)));
  }
}
