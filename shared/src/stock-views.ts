/**
 * Each system's stock as a `StockView` for the reconciliation (`stock-reconcile.ts`): Postgres (the
 * truth), the redis-cache's read model, and the WMS and ERP where their receivers expose what they hold
 * (`GET <receiver>/admin/stock`, as the reference receivers do).
 */
import type { Redis } from 'ioredis';
import type { ClientBase } from 'pg';
import { cacheKeys, parseStockHash } from './stock-cache-keys';
import type { StockView } from './stock-reconcile';

/** Postgres, the truth: every stock row of every shard. */
export async function postgresView(shards: Pick<ClientBase, 'query'>[], schema: string): Promise<StockView> {
  const view: StockView = new Map();
  for (const shard of shards) {
    const result = await shard.query<{ sku: string; warehouse: string; on_hand: number; reserved: number }>(
      `select sku, warehouse, on_hand, reserved from ${schema}.stock`,
    );
    for (const row of result.rows) view.set(`${row.sku}|${row.warehouse}`, { onHand: Number(row.on_hand), reserved: Number(row.reserved) });
  }
  return view;
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
      const fields = hash as Record<string, string>;
      for (const [warehouse, figures] of Object.entries(parseStockHash(fields).warehouses))
        // A deleted row keeps only its position (so an older change cannot resurrect it): absent.
        if (fields[`oh:${warehouse}`] !== undefined)
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

/** The WMS's applied stock, as its receiver exposes it. */
export async function wmsView(receiverUrl: string): Promise<StockView> {
  const rows = await adminStock<{ sku: string; warehouse: string; onHand: number; reserved: number }>(receiverUrl);
  return new Map(rows.map((row) => [`${row.sku}|${row.warehouse}`, { onHand: row.onHand, reserved: row.reserved }]));
}

/** The ERP's net stock: every booked posting line summed per SKU and warehouse. */
export async function erpView(receiverUrl: string): Promise<StockView> {
  const rows = await adminStock<{ sku: string; warehouse: string; deltaOnHand: number; deltaReserved: number }>(receiverUrl);
  return new Map(rows.map((row) => [`${row.sku}|${row.warehouse}`, { onHand: row.deltaOnHand, reserved: row.deltaReserved }]));
}
