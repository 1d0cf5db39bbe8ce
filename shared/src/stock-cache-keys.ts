/**
 * Every Redis key and channel of the stock read model (written by redis-cache, read by storefronts), in one place. Keys of one SKU share the hash tag
 * `{<sku>}`, so they live in one Redis Cluster slot and a script may touch them together.
 *
 * `cdc:stock:{SKU}` is a hash per SKU:
 *   `oh:<warehouse>` on hand, `rs:<warehouse>` reserved, `av:<warehouse>` available (on hand − reserved),
 *   `p:<warehouse>` the source position the warehouse's values came from (fixed-width hex, sorts as text),
 *   `oh`, `rs`, `av` the totals over the SKU's warehouses, `p` the newest position of any warehouse.
 */
export const cacheKeys = {
  stock: (sku: string): string => `cdc:stock:{${sku}}`,
  /** SCAN pattern matching every stock hash. */
  stockPattern: 'cdc:stock:{*}',
  /** The SKU of a stock hash key (inverse of `stock`). */
  skuOfStock: (key: string): string => key.slice('cdc:stock:{'.length, -1),
  /** Where one consumer group stored a partition's progress, written by the same script as the effect. */
  progress: (group: string, topic: string, partition: number): string => `cdc:progress:{${group}}:${topic}:${partition}`,
  /** Present while Redis holds a complete read model; a flush removes it, which tells the worker to rebuild. */
  sentinel: 'cdc:sentinel',
  /** Pub/sub channel with a JSON notification per changed SKU. Subscribe with PSUBSCRIBE cdc:stock-changed:*. */
  changeChannel: (sku: string): string => `cdc:stock-changed:${sku}`,
} as const;

/** Parses a stock hash into per-warehouse and total figures; deleted warehouses (a position alone) are left out. */
export function parseStockHash(hash: Record<string, string>): {
  total: { onHand: number; reserved: number; available: number };
  warehouses: Record<string, { onHand: number; reserved: number; available: number; position: string }>;
  position: string | undefined;
} {
  const warehouses: Record<string, { onHand: number; reserved: number; available: number; position: string }> = {};
  for (const [field, value] of Object.entries(hash)) {
    const match = /^(oh|rs|av|p):(.+)$/.exec(field);
    if (!match) continue;
    const [, kind, warehouse] = match as unknown as [string, 'oh' | 'rs' | 'av' | 'p', string];
    const entry = (warehouses[warehouse] ??= { onHand: 0, reserved: 0, available: 0, position: '' });
    if (kind === 'oh') entry.onHand = Number(value);
    else if (kind === 'rs') entry.reserved = Number(value);
    else if (kind === 'av') entry.available = Number(value);
    else entry.position = value;
  }
  // A deleted (or truncated) warehouse keeps only its position, so an older change cannot resurrect it.
  for (const warehouse of Object.keys(warehouses)) if (hash[`oh:${warehouse}`] === undefined) delete warehouses[warehouse];
  return {
    total: { onHand: Number(hash.oh ?? 0), reserved: Number(hash.rs ?? 0), available: Number(hash.av ?? 0) },
    warehouses,
    position: hash.p,
  };
}
