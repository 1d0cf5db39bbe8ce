/**
 * The fleet's shard function: which Postgres shard owns a SKU. FNV-1a (32-bit) of the SKU's UTF-16 code
 * units, modulo the shard count.
 *
 * - Stable: a pure function of the SKU text and the shard count, the same in every process and release.
 * - Not monotonic: consecutive SKUs (SKU-000001, SKU-000002, …) scatter over the shards, so a hot range
 *   of a catalogue never lands on one server.
 * - Changing the shard count moves most SKUs (it is a plain modulo, not a consistent hash): adding a shard
 *   is a data migration, planned like one.
 */
export function shardOf(sku: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shard count must be a positive integer, got ${shards}`);
  let hash = 0x811c9dc5;
  for (let index = 0; index < sku.length; index++) {
    hash ^= sku.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}
