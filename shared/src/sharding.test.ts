import { shardOf } from './sharding';

describe('shardOf', () => {
  const skus = Array.from({ length: 10_000 }, (_, index) => `SKU-${String(index).padStart(6, '0')}`);

  it('spreads a catalogue evenly and scatters consecutive SKUs', () => {
    const counts = [0, 0, 0, 0];
    for (const sku of skus) counts[shardOf(sku, 4)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(2_300);
    expect(new Set(skus.slice(0, 8).map((sku) => shardOf(sku, 4))).size).toBeGreaterThan(1);
  });

  it('is the FNV-1a hash modulo the shard count (values other processes and languages can reproduce)', () => {
    // FNV-1a 32 of "a" is 0xe40c292c; of "foobar" 0xbf9cf968 (the published test vectors).
    expect(shardOf('a', 2 ** 31)).toBe(0xe40c292c % 2 ** 31);
    expect(shardOf('foobar', 1_000_003)).toBe(0xbf9cf968 % 1_000_003);
    expect(shardOf('SKU-000042', 1)).toBe(0);
  });

  it('refuses a shard count that is not a positive integer', () => {
    expect(() => shardOf('SKU-1', 0)).toThrow('shard count must be a positive integer, got 0');
  });
});
