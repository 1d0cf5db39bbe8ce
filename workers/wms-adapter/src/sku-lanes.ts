/**
 * Lanes: a batch's work split by SKU, so one SKU's changes go out strictly one after another in offset
 * order while different SKUs proceed side by side — one slow or failing SKU never holds up the others.
 */

/** Groups `items` into lanes by `skuOf`, each lane in the items' original order; lanes in order of first appearance. */
export function lanesBySku<T>(items: readonly T[], skuOf: (item: T) => string): T[][] {
  const lanes = new Map<string, T[]>();
  for (const item of items) {
    const sku = skuOf(item);
    const lane = lanes.get(sku);
    if (lane) lane.push(item);
    else lanes.set(sku, [item]);
  }
  return [...lanes.values()];
}

/**
 * Runs `work` on every item with at most `limit` running at once. When one fails, no further item is
 * started, the running ones are awaited (so nothing is left in flight behind the caller's back), and the
 * first error is thrown.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runner = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, runner));
  if (failure) throw failure.error;
}
