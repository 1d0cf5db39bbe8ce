import { PoisonEventError, type ConsumedChange } from '@inventory-cdc/shared';

/** A stock row's change as the cache applies it. */
export interface StockChange {
  sku: string;
  warehouse: string;
  op: 'c' | 'u' | 'r' | 'd';
  onHand: number;
  reserved: number;
  position: string;
  commitTsMicros: bigint;
}

/**
 * The stock change carried by a consumed record, or null for records the cache ignores (tombstones, other
 * tables, truncates — a truncate is applied by the sink itself, see redis-stock-sink.ts). A stock event
 * without the columns the cache needs is a poison event.
 */
export function stockChangeOf(change: ConsumedChange): StockChange | null {
  const envelope = change.envelope;
  if (!envelope || !change.positionText || envelope.op === 't') return null;
  const row = envelope.op === 'd' ? envelope.before : envelope.after;
  const sku = row?.sku;
  const warehouse = row?.warehouse;
  if (typeof sku !== 'string' || typeof warehouse !== 'string') {
    throw new PoisonEventError('stock_shape', `stock event at ${change.positionText} has no sku/warehouse`);
  }
  if (envelope.op === 'd')
    return { sku, warehouse, op: 'd', onHand: 0, reserved: 0, position: change.positionText, commitTsMicros: envelope.source.commitTs };
  const onHand = row?.on_hand;
  const reserved = row?.reserved;
  if (typeof onHand !== 'number' || typeof reserved !== 'number') {
    throw new PoisonEventError(
      'stock_shape',
      `stock event at ${change.positionText} lacks on_hand/reserved (unchanged TOAST or a schema change?)`,
    );
  }
  return { sku, warehouse, op: envelope.op, onHand, reserved, position: change.positionText, commitTsMicros: envelope.source.commitTs };
}
