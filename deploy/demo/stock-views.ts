import { cacheKeys, parseStockHash } from '@inventory-cdc/shared';
import { stockTruth, type Queryable } from '@inventory-cdc/shared/testing';
import type Redis from 'ioredis';
import type { StockView } from './reconcile';

/** Postgres, the truth: every stock row of every shard. */
export async function postgresView(shards: Queryable[], schema: string): Promise<StockView> {
  const truth = await stockTruth(shards, schema);
  return new Map([...truth].map(([key, row]) => [key, { onHand: row.onHand, reserved: row.reserved }]));
}

/** Redis, the storefront's read model: every SKU hash the cache holds, per warehouse. */
export async function redisView(redis: Redis): Promise<StockView> {
  const view: StockView = new Map();
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', cacheKeys.stock('*'), 'COUNT', 1_000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  for (let start = 0; start < keys.length; start += 500) {
    const slice = keys.slice(start, start + 500);
    const pipeline = redis.pipeline();
    for (const key of slice) pipeline.hgetall(key);
    const results = (await pipeline.exec()) ?? [];
    slice.forEach((key, index) => {
      const [error, hash] = results[index] ?? [];
      if (error) throw error;
      const sku = /^cdc:stock:\{(.*)\}$/.exec(key)?.[1];
      if (!sku) return;
      for (const [warehouse, figures] of Object.entries(parseStockHash(hash as Record<string, string>).warehouses))
        view.set(`${sku}|${warehouse}`, { onHand: figures.onHand, reserved: figures.reserved });
    });
  }
  return view;
}

async function adminStock<T>(receiverUrl: string): Promise<T[]> {
  const response = await fetch(`${receiverUrl}/admin/stock`);
  if (!response.ok) throw new Error(`GET ${receiverUrl}/admin/stock answered ${response.status}`);
  return (await response.json()) as T[];
}

/** The WMS's applied stock, as the reference receiver stored it. */
export async function wmsView(receiverUrl: string): Promise<StockView> {
  const rows = await adminStock<{ sku: string; warehouse: string; onHand: number; reserved: number }>(receiverUrl);
  return new Map(rows.map((row) => [`${row.sku}|${row.warehouse}`, { onHand: row.onHand, reserved: row.reserved }]));
}

/** The ERP's net stock: every booked posting line summed per SKU and warehouse. */
export async function erpView(receiverUrl: string): Promise<StockView> {
  const rows = await adminStock<{ sku: string; warehouse: string; deltaOnHand: number; deltaReserved: number }>(receiverUrl);
  return new Map(rows.map((row) => [`${row.sku}|${row.warehouse}`, { onHand: row.deltaOnHand, reserved: row.deltaReserved }]));
}
