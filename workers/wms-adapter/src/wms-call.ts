import { PoisonEventError, signedRequestHeaders, type ConsumedChange } from '@inventory-cdc/shared';

/**
 * The body of `POST /v1/stock-changes`: one stock row's state after a change. `available` is what can be
 * sold (on hand − reserved); a delete reports the row emptied (0 / 0 / 0). `position` is the source
 * position (fixed-width hex, sorts as text), which lets the WMS keep the newest state per row.
 */
export interface WmsStockChange {
  sku: string;
  warehouse: string;
  onHand: number;
  reserved: number;
  available: number;
  position: string;
  op: 'c' | 'u' | 'r' | 'd';
  /** Source commit time, ISO 8601 UTC with microseconds. */
  commitTs: string;
}

/** One WMS call for one change event. */
export interface WmsCall {
  /** `wms-<source position>`: unique per change event, the same on every redelivery of it. */
  idempotencyKey: string;
  change: WmsStockChange;
  /** Source commit time in µs, for the commit → applied latency. */
  commitTsMicros: bigint;
}

/**
 * The body of a TRUNCATE of the stock table, posted to the same path: `{ op: 't', shard, position, commitTs }`.
 * The WMS removes every row of that shard whose position is older than `position` (a row lives in one shard,
 * and the position's first field names it); rows written after the truncate stay.
 */
export interface WmsStockTruncation {
  op: 't';
  shard: number;
  position: string;
  commitTs: string;
}

/** One WMS call for a truncate event. */
export interface WmsTruncateCall {
  /** `wms-<source position>`, as for a change. */
  idempotencyKey: string;
  truncation: WmsStockTruncation;
  commitTsMicros: bigint;
}

/** Any call the adapter sends. */
export type WmsAnyCall = WmsCall | WmsTruncateCall;

/** Where and how a call is sent: everything but the transport. */
export interface WmsEndpoint {
  baseUrl: string;
  token: string;
  hmacSecret: string;
}

/** Where stock changes are posted, below the WMS base URL. */
export const wmsStockChangesPath = '/v1/stock-changes';

export interface WmsRequest {
  headers: Record<string, string>;
  body: string;
}

/** A microsecond timestamp as ISO 8601 with all six fractional digits (Date alone keeps milliseconds). */
export function isoFromMicros(micros: bigint): string {
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const extra = micros - millis * 1000n;
  return new Date(Number(millis)).toISOString().replace(/Z$/, `${extra.toString().padStart(3, '0')}Z`);
}

function shapeError(change: ConsumedChange, what: string): PoisonEventError {
  return new PoisonEventError('stock_shape', `stock event at ${change.positionText ?? `offset ${change.offset}`} ${what}`);
}

/**
 * The WMS call a consumed record asks for, or null for records the WMS does not take: tombstones (a
 * delete's own event already told the WMS), truncates and rows of other tables. A stock event without the
 * columns the call needs is a poison event (dead-lettered as `malformed`).
 */
export function wmsCallOf(change: ConsumedChange): WmsCall | null {
  const envelope = change.envelope;
  if (!envelope || !change.positionText || envelope.op === 't' || envelope.source.table !== 'stock') return null;
  const row = envelope.op === 'd' ? envelope.before : envelope.after;
  const sku = row?.sku;
  const warehouse = row?.warehouse;
  if (typeof sku !== 'string' || typeof warehouse !== 'string') throw shapeError(change, 'has no sku/warehouse');
  let onHand = 0;
  let reserved = 0;
  if (envelope.op !== 'd') {
    if (typeof row?.on_hand !== 'number' || typeof row.reserved !== 'number') {
      throw shapeError(change, 'lacks on_hand/reserved (unchanged TOAST or a schema change?)');
    }
    onHand = row.on_hand;
    reserved = row.reserved;
  }
  return {
    idempotencyKey: `wms-${change.positionText}`,
    change: {
      sku,
      warehouse,
      onHand,
      reserved,
      available: onHand - reserved,
      position: change.positionText,
      op: envelope.op,
      commitTs: isoFromMicros(envelope.source.commitTs),
    },
    commitTsMicros: envelope.source.commitTs,
  };
}

/** Where and when one attempt is sent: what the signature covers besides the key and the body. */
export interface WmsAttempt {
  /** The request target as sent, the base URL's path included (`HttpOrigin.targetOf`). */
  path: string;
  /** Unix seconds of this attempt: each retry is signed afresh, so it stays within the WMS's window. */
  timestampSeconds: number;
  /** Unique to this attempt (the WMS refuses a nonce it has seen: a replayed request). */
  nonce: string;
}

/** The WMS call of a TRUNCATE of the stock table, or null for any other record. */
export function wmsTruncateCallOf(change: ConsumedChange): WmsTruncateCall | null {
  const envelope = change.envelope;
  if (envelope?.op !== 't' || !change.positionText || envelope.source.table !== 'stock') return null;
  return {
    idempotencyKey: `wms-${change.positionText}`,
    truncation: { op: 't', shard: envelope.source.shard, position: change.positionText, commitTs: isoFromMicros(envelope.source.commitTs) },
    commitTsMicros: envelope.source.commitTs,
  };
}

/**
 * The HTTP request for one attempt of a call. The body is serialised once, here, and never re-encoded by
 * the transport: the signature (see `shared/src/request-signature.ts`) covers the exact bytes sent, with
 * the method, the target, the idempotency key and the attempt's timestamp and nonce.
 */
export function wmsRequestOf(call: WmsAnyCall, endpoint: Omit<WmsEndpoint, 'baseUrl'>, attempt: WmsAttempt): WmsRequest {
  const body = 'truncation' in call ? truncationBody(call.truncation) : changeBody(call.change);
  const signed = { method: 'POST', idempotencyKey: call.idempotencyKey, ...attempt, body };
  return {
    headers: {
      authorization: `Bearer ${endpoint.token}`,
      'content-type': 'application/json',
      ...signedRequestHeaders(signed, endpoint.hmacSecret),
    },
    body,
  };
}

function changeBody({ sku, warehouse, onHand, reserved, available, position, op, commitTs }: WmsStockChange): string {
  return JSON.stringify({ sku, warehouse, onHand, reserved, available, position, op, commitTs });
}

function truncationBody({ op, shard, position, commitTs }: WmsStockTruncation): string {
  return JSON.stringify({ op, shard, position, commitTs });
}
