import type { StockDelta } from './stock-delta';
import type { WindowRange } from './window-assembler';

/** The body of `POST /v1/postings`: net stock changes per SKU and warehouse over one window. */
export interface Posting {
  postingId: string;
  lines: StockDelta[];
  window: { from: string; to: string };
  createdAt: string;
}

/**
 * The posting id of a window: where its records are in Kafka. A replay of the same window yields the same
 * id (see window-marker.ts), which is what lets the ERP recognise it.
 */
export function postingIdOf(topic: string, partition: number, range: WindowRange): string {
  return `${topic}:${partition}:${range.from}-${range.to}`;
}

/**
 * Sums the deltas per (sku, warehouse), drops lines that net to zero (the ERP has nothing to book for
 * them), and sorts the lines, so the same records always give the same lines.
 */
export function netLines(deltas: readonly StockDelta[]): StockDelta[] {
  const net = new Map<string, StockDelta>();
  for (const delta of deltas) {
    const key = `${delta.sku}\u0000${delta.warehouse}`;
    const line = net.get(key);
    if (line) {
      line.deltaOnHand += delta.deltaOnHand;
      line.deltaReserved += delta.deltaReserved;
    } else {
      net.set(key, { ...delta });
    }
  }
  return [...net.values()]
    .filter((line) => line.deltaOnHand !== 0 || line.deltaReserved !== 0)
    .sort((a, b) => (a.sku === b.sku ? compare(a.warehouse, b.warehouse) : compare(a.sku, b.sku)));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The posting for a window, or undefined when its changes net to nothing (no request is needed). */
export function postingOf(
  topic: string,
  partition: number,
  range: WindowRange,
  deltas: readonly StockDelta[],
  createdAt: Date,
): Posting | undefined {
  const lines = netLines(deltas);
  if (lines.length === 0) return undefined;
  return {
    postingId: postingIdOf(topic, partition, range),
    lines,
    window: { from: range.from.toString(), to: range.to.toString() },
    createdAt: createdAt.toISOString(),
  };
}
