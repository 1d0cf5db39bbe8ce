import { PoisonEventError, RetryableError, retryAfterMsOf } from '@inventory-cdc/shared';

/** What the WMS said about one call, as far as delivery is concerned. */
export type WmsVerdict =
  | { kind: 'applied' }
  | { kind: 'duplicate' }
  /** Worth another attempt: the WMS is down, overloaded or slow (408, 429, 5xx). */
  | { kind: 'unavailable'; detail: string; retryAfterMs: number | undefined }
  /** 401/403: the WMS refuses our credentials (a rotated token): an outage of every call alike, never one event's fault. */
  | { kind: 'unauthorized'; detail: string }
  /** This event will never be taken (any other 4xx, or an unexpected status): dead-letter it. */
  | { kind: 'rejected'; detail: string };

/** How much of a response body goes into logs and dead-letter details. */
const maxBodyChars = 500;

export function describeResponse(status: number, body: string): string {
  const text = body.length > maxBodyChars ? `${body.slice(0, maxBodyChars)}…` : body;
  return `HTTP ${status}: ${text}`;
}

function isDuplicateAnswer(body: string): boolean {
  try {
    return (JSON.parse(body) as { status?: unknown } | null)?.status === 'duplicate';
  } catch {
    return false;
  }
}

/**
 * Classifies a WMS answer. 201 is a first application; 200 `{"status":"duplicate"}` means the WMS already
 * had this idempotency key (a redelivery after a crash or a lost response); any other 2xx counts as
 * applied. 408, 429 and 5xx are transient; 401 and 403 refuse our credentials, not the event (an outage
 * until the token or secret is fixed); every other status is a permanent refusal of this event.
 */
export function classifyResponse(status: number, body: string, retryAfter: string | null | undefined, nowMs: number): WmsVerdict {
  if (status === 200 && isDuplicateAnswer(body)) return { kind: 'duplicate' };
  if (status >= 200 && status < 300) return { kind: 'applied' };
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'unavailable', detail: describeResponse(status, body), retryAfterMs: retryAfterMsOf(retryAfter, nowMs) };
  }
  if (status === 401 || status === 403) return { kind: 'unauthorized', detail: describeResponse(status, body) };
  return { kind: 'rejected', detail: describeResponse(status, body) };
}

/** The WMS could not take the call now (timeout, connection error, 408/429/5xx): retry, and count it against the circuit. */
export class WmsUnavailableError extends RetryableError {
  constructor(
    /** What happened, with the last response when there was one: goes into the dead letter if retries run out. */
    readonly detail: string,
    /** The delay the WMS asked for (`Retry-After`), if any. */
    readonly retryAfterMs: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('wms_unavailable', `WMS unavailable: ${detail}`, options);
  }
}

/**
 * The WMS refuses the adapter's credentials (401/403). Retryable and a circuit failure like any outage, so
 * the circuit opens and deliveries wait (the worker not ready); unlike one, it never exhausts an event's
 * retry budget into a dead letter: every event would fail alike until the operator fixes `wms.token` /
 * `wms.hmacSecret`.
 */
export class WmsUnauthorizedError extends WmsUnavailableError {
  override readonly kind = 'wms_unauthorized';
}

/** The WMS refused this event for good (4xx other than 408/429): dead-letter it as `rejected`, do not retry. */
export class WmsRejectedError extends PoisonEventError {
  constructor(readonly detail: string) {
    super('wms_rejected', `WMS rejected the event: ${detail}`);
  }
}

/** Calls are refused while the circuit is open; the delivery waits for it instead of retrying. */
export class CircuitOpenError extends RetryableError {
  constructor(readonly waitMs: number) {
    super('wms_circuit_open', `WMS circuit open: next call in ${waitMs} ms`);
  }
}
