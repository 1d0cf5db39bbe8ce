import { shardOf } from './inventory-workload';

describe('shardOf', () => {
  it('is stable and spreads consecutive SKUs over every shard', () => {
    const skus = Array.from({ length: 10_000 }, (_, i) => `SKU-${String(i).padStart(6, '0')}`);
    const counts = [0, 0, 0, 0];
    for (const sku of skus) counts[shardOf(sku, 4)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(2_200);
    expect(skus.slice(0, 8).map((sku) => shardOf(sku, 4))).toEqual(skus.slice(0, 8).map((sku) => shardOf(sku, 4)));
    expect(new Set(skus.slice(0, 8).map((sku) => shardOf(sku, 4))).size).toBeGreaterThan(1);
  });
});
