import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed requests to the WMS and ERP, scheme `v1` (documented for implementers in the adapters' READMEs).
 *
 * The client sends `Idempotency-Key`, `X-Signature-Timestamp` (Unix seconds), `X-Signature-Nonce` (fresh
 * per attempt) and `X-Signature: v1=<hex HMAC-SHA256>` of the canonical string
 *
 *     METHOD "\n" PATH "\n" IDEMPOTENCY-KEY "\n" TIMESTAMP "\n" NONCE "\n" BODY
 *
 * with the shared secret. PATH is the request target exactly as sent (base path included), BODY the exact
 * bytes sent. Signing the key and the target binds the body to one idempotency key at one endpoint, so a
 * captured request cannot be re-sent under a fresh key (which the receiver would store as new) or to
 * another route; signing the timestamp bounds how long a captured request can be re-sent at all, and the
 * nonce lets the receiver refuse a request it has seen within that window. A retry is a new attempt
 * (new timestamp and nonce, same key and body), which the receiver answers as a duplicate.
 */

export const signatureHeaders = {
  signature: 'x-signature',
  timestamp: 'x-signature-timestamp',
  nonce: 'x-signature-nonce',
  idempotencyKey: 'idempotency-key',
} as const;

/** What the signature covers. */
export interface SignedRequest {
  method: string;
  /** The request target as sent, e.g. `/api/v1/stock-changes`. */
  path: string;
  idempotencyKey: string;
  /** Unix time in whole seconds. */
  timestampSeconds: number;
  /** Unique per attempt: 16 to 64 characters of `A-Z a-z 0-9 _ -` (e.g. a UUID). */
  nonce: string;
  body: string | Buffer;
}

/** A field of the canonical string must not hold a line break, or two requests could share one string. */
const lineFree = /^[^\r\n]*$/;
const nonceFormat = /^[A-Za-z0-9_-]{16,64}$/;

function macOf(request: SignedRequest, secret: string): Buffer {
  const { method, path, idempotencyKey, timestampSeconds, nonce } = request;
  return createHmac('sha256', secret)
    .update(`${method.toUpperCase()}\n${path}\n${idempotencyKey}\n${timestampSeconds}\n${nonce}\n`)
    .update(request.body)
    .digest();
}

/** The `X-Signature` value of a request: `v1=` and the hex HMAC-SHA256 of its canonical string. */
export function signatureOf(request: SignedRequest, secret: string): string {
  if (!lineFree.test(request.path) || !lineFree.test(request.idempotencyKey) || request.idempotencyKey === '')
    throw new Error('a signed request needs a non-empty idempotency key and a path without line breaks');
  if (!Number.isSafeInteger(request.timestampSeconds) || request.timestampSeconds < 0)
    throw new Error(`signature timestamp must be whole Unix seconds, got ${request.timestampSeconds}`);
  if (!nonceFormat.test(request.nonce)) throw new Error('signature nonce must be 16 to 64 characters of A-Z a-z 0-9 _ -');
  return `v1=${macOf(request, secret).toString('hex')}`;
}

/** The four headers a signed request carries. */
export function signedRequestHeaders(request: SignedRequest, secret: string): Record<string, string> {
  return {
    [signatureHeaders.idempotencyKey]: request.idempotencyKey,
    [signatureHeaders.timestamp]: String(request.timestampSeconds),
    [signatureHeaders.nonce]: request.nonce,
    [signatureHeaders.signature]: signatureOf(request, secret),
  };
}

export type SignatureVerdict = { ok: true; timestampSeconds: number; nonce: string } | { ok: false; reason: string };

/** The headers a receiver read, as sent (undefined when absent). */
export interface ReceivedSignature {
  signature: string | undefined;
  timestamp: string | undefined;
  nonce: string | undefined;
  idempotencyKey: string | undefined;
}

/**
 * A receiver's check of one request: the signature must match, in constant time, and the timestamp lie
 * within `windowSeconds` of `nowMs` either way (clock skew between the two hosts included). Whether the
 * nonce was seen before within the window is the receiver's to check, where it stores requests.
 */
export function verifySignature(
  received: ReceivedSignature,
  request: Omit<SignedRequest, 'idempotencyKey' | 'timestampSeconds' | 'nonce'>,
  secret: string,
  options: { nowMs: number; windowSeconds: number },
): SignatureVerdict {
  const signature = /^v1=([0-9a-f]{64})$/i.exec(received.signature ?? '')?.[1];
  if (!signature) return { ok: false, reason: 'missing or malformed X-Signature (want v1=<hex>)' };
  if (!received.timestamp || !/^\d{1,12}$/.test(received.timestamp))
    return { ok: false, reason: 'missing or malformed X-Signature-Timestamp' };
  const nonce = received.nonce ?? '';
  if (!nonceFormat.test(nonce)) return { ok: false, reason: 'missing or malformed X-Signature-Nonce' };
  const idempotencyKey = received.idempotencyKey ?? '';
  if (idempotencyKey === '' || !lineFree.test(idempotencyKey) || !lineFree.test(request.path))
    return { ok: false, reason: 'missing or malformed Idempotency-Key' };
  const timestampSeconds = Number(received.timestamp);
  const expected = macOf({ ...request, idempotencyKey, timestampSeconds, nonce }, secret);
  if (!timingSafeEqual(Buffer.from(signature, 'hex'), expected)) return { ok: false, reason: 'bad signature' };
  // Checked after the signature, so an unsigned request learns nothing about the receiver's clock.
  const skewSeconds = Math.abs(options.nowMs / 1000 - timestampSeconds);
  if (skewSeconds > options.windowSeconds)
    return { ok: false, reason: `signature timestamp outside the ${options.windowSeconds} s window` };
  return { ok: true, timestampSeconds, nonce };
}
