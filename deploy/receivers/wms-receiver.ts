/**
 * The reference WMS: `POST /v1/stock-changes` takes one stock change per request, keyed by the
 * signed `Idempotency-Key` header, and keeps both every change received (`wms.wms_changes`) and the stock
 * it has applied (`wms.wms_stock`, newest position wins, deletes included). A truncation (`{ op: 't', shard,
 * position, commitTs }` on the same path) removes every row of that shard older than its position. Test
 * equipment for `wms-adapter`.
 */
import { z } from 'zod';
import { describeZodError } from './receiver-faults';
import {
  answerOf,
  startReceiver,
  type Parsed,
  type ReceiverDefinition,
  type ReceiverOptions,
  type RunningReceiver,
} from './receiver-server';
import {
  readWmsStock,
  recordStockChange,
  recordStockTruncation,
  type StockChangeRecord,
  type StockTruncationRecord,
} from './receiver-store';

const quantity = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);

/** Not strict: a field the WMS does not know is ignored, as a real one would. */
export const stockChangeSchema = z.object({
  sku: z.string().min(1),
  warehouse: z.string().min(1),
  onHand: quantity,
  reserved: quantity,
  available: quantity,
  /** Fixed-width hex source position: only compared as a string, so its inner format is not checked. */
  position: z.string().min(1),
  op: z.enum(['c', 'u', 'd', 'r']),
  commitTs: z.string().datetime({ offset: true }),
});

export type StockChange = z.infer<typeof stockChangeSchema>;

/** A TRUNCATE of the source's stock table on one shard (the position's first field names it). */
export const stockTruncationSchema = z.object({
  op: z.literal('t'),
  shard: z.number().int().min(0),
  position: z.string().regex(/^[0-9a-f]+:/),
  commitTs: z.string().datetime({ offset: true }),
});

function parseStockChange(body: unknown, idempotencyKey: string): Parsed<StockChangeRecord | StockTruncationRecord> {
  if ((body as { op?: unknown } | null)?.op === 't') {
    const truncation = stockTruncationSchema.safeParse(body);
    if (!truncation.success) return { ok: false, error: describeZodError(truncation.error) };
    return { ok: true, value: { ...truncation.data, idempotencyKey } };
  }
  const parsed = stockChangeSchema.safeParse(body);
  if (!parsed.success) return { ok: false, error: describeZodError(parsed.error) };
  return { ok: true, value: { ...parsed.data, idempotencyKey } };
}

export const wmsReceiver: ReceiverDefinition<StockChangeRecord | StockTruncationRecord> = {
  name: 'wms',
  ingestPath: '/v1/stock-changes',
  parse: parseStockChange,
  skusOf: (change) => (change.op === 't' ? [] : [change.sku]),
  async store(pool, change, replay) {
    const status = change.op === 't' ? await recordStockTruncation(pool, change, replay) : await recordStockChange(pool, change, replay);
    return answerOf(status);
  },
  readStock: readWmsStock,
};

/** Starts a WMS receiver on `options.host` (default 127.0.0.1) and `options.port` (0 = any). */
export function startWmsReceiver(options: ReceiverOptions): Promise<RunningReceiver> {
  return startReceiver(wmsReceiver, options);
}
