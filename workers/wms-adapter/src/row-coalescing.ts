/**
 * Coalescing: of several changes of one stock row that a worker has in hand, only the newest needs to go
 * to the WMS. Every WMS call carries the row's whole state (on hand, reserved, available) and its source
 * position, and the WMS keeps the newest position per (SKU, warehouse) — so an older change sent after a
 * newer one would be ignored, and one sent before it is overwritten at once. Sending only the newest ends
 * in the same state with one call instead of many: a flash sale's hot row changes hundreds of times a
 * second, and one call per change made its changes queue behind each other.
 *
 * "Newest" is the last in offset order: a row lives in one shard, so the wal-reader writes its changes in
 * source (commit) order into one partition, and a partition's offsets keep that order.
 */

/** One row's changes of a batch: the newest is sent, the others are carried by it. */
export interface RowChanges<T> {
  /** The row's last change in the batch (the one whose state is sent). */
  newest: T;
  /** The row's earlier changes of the batch, in offset order; each one's state is overwritten by `newest`. */
  superseded: T[];
}

/**
 * Groups `items` (one partition's changes, in offset order) by `rowOf`, answering one entry per row, in
 * the offset order of each row's newest change. Pure.
 */
export function coalesceByRow<T>(items: readonly T[], rowOf: (item: T) => string): RowChanges<T>[] {
  const rows = new Map<string, { changes: T[]; lastIndex: number }>();
  items.forEach((item, index) => {
    const row = rowOf(item);
    const entry = rows.get(row);
    if (entry) {
      entry.changes.push(item);
      entry.lastIndex = index;
    } else rows.set(row, { changes: [item], lastIndex: index });
  });
  return [...rows.values()]
    .sort((a, b) => a.lastIndex - b.lastIndex)
    .map(({ changes }) => ({ newest: changes[changes.length - 1] as T, superseded: changes.slice(0, -1) }));
}
