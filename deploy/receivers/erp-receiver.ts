/**
 * The reference ERP: `POST /v1/postings` books a posting (net stock deltas per SKU and warehouse over a
 * window, or balances to set) once per `postingId`, the posting and its lines in one transaction. Test equipment for
 * `erp-adapter`: `/admin/stock` sums every booked line, so a test can compare the ERP's net view with the
 * source's.
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
import { readErpNetStock, recordPosting, type PostingRecord } from './receiver-store';

const delta = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);

const lineKey = { sku: z.string().min(1), warehouse: z.string().min(1) };

/** A movement to add, or (a snapshot's line) the balance to set: the ERP books the difference to what it holds. */
export const postingLineSchema = z.union([
  z.object({ ...lineKey, deltaOnHand: delta, deltaReserved: delta }).strict(),
  z.object({ ...lineKey, onHand: delta, reserved: delta }).strict(),
]);

/** Not strict: fields the ERP does not know are ignored. The window is opaque to the ERP, stored as sent. */
export const postingSchema = z.object({
  postingId: z.string().min(1),
  lines: z.array(postingLineSchema).min(1).max(100_000),
  window: z.object({ from: z.string(), to: z.string() }).passthrough(),
  createdAt: z.string().datetime({ offset: true }),
});

export type Posting = z.infer<typeof postingSchema>;

/**
 * The posting id is what the ERP deduplicates on, so the signed `Idempotency-Key` must be it: a posting
 * cannot then be booked again under a key of its own.
 */
function parsePosting(body: unknown, idempotencyKey: string): Parsed<PostingRecord> {
  const parsed = postingSchema.safeParse(body);
  if (!parsed.success) return { ok: false, error: describeZodError(parsed.error) };
  if (parsed.data.postingId !== idempotencyKey) return { ok: false, error: 'Idempotency-Key must be the postingId' };
  return { ok: true, value: parsed.data };
}

export const erpReceiver: ReceiverDefinition<PostingRecord> = {
  name: 'erp',
  ingestPath: '/v1/postings',
  parse: parsePosting,
  skusOf: (posting) => posting.lines.map((line) => line.sku),
  async store(pool, posting, replay) {
    const status = await recordPosting(pool, posting, replay);
    return answerOf(status);
  },
  readStock: readErpNetStock,
};

/** Starts an ERP receiver on `options.host` (default 127.0.0.1) and `options.port` (0 = any). */
export function startErpReceiver(options: ReceiverOptions): Promise<RunningReceiver> {
  return startReceiver(erpReceiver, options);
}
