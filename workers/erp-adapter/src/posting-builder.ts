import { isBalance, type StockLine } from './stock-delta';
import type { WindowRange } from './window-assembler';

/** The body of `POST /v1/postings`: net stock changes (or balances to set) per SKU and warehouse over one window. */
export interface Posting {
  postingId: string;
  lines: StockLine[];
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
 * Folds a window's lines, in offset order, per (sku, warehouse): deltas add up; a balance replaces what came
 * before it, and deltas after it add to it (the result is still a balance). Delta lines that net to zero
 * are dropped (the ERP has nothing to book for them); balance lines are kept, zero included, since setting
 * a balance to zero is a booking. The lines are sorted, so the same records always give the same lines.
 */
export function netLines(lines: readonly StockLine[]): StockLine[] {
  const net = new Map<string, StockLine>();
  for (const line of lines) {
    const key = `${line.sku}\u0000${line.warehouse}`;
    const previous = net.get(key);
    if (!previous || isBalance(line)) net.set(key, { ...line });
    else if (isBalance(previous))
      net.set(key, { ...previous, onHand: previous.onHand + line.deltaOnHand, reserved: previous.reserved + line.deltaReserved });
    else
      net.set(key, {
        ...previous,
        deltaOnHand: previous.deltaOnHand + line.deltaOnHand,
        deltaReserved: previous.deltaReserved + line.deltaReserved,
      });
  }
  return [...net.values()]
    .filter((line) => isBalance(line) || line.deltaOnHand !== 0 || line.deltaReserved !== 0)
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
  changes: readonly StockLine[],
  createdAt: Date,
): Posting | undefined {
  const lines = netLines(changes);
  if (lines.length === 0) return undefined;
  return {
    postingId: postingIdOf(topic, partition, range),
    lines,
    window: { from: range.from.toString(), to: range.to.toString() },
    createdAt: createdAt.toISOString(),
  };
}
