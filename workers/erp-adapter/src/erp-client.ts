import { createHmac } from 'node:crypto';
import { HaltError, PoisonEventError, RetryableError } from '@inventory-cdc/shared';
import type { Posting } from './posting-builder';

/** What the ERP made of a posting it accepted. */
export type ErpAnswer = 'booked' | 'duplicate';

/** The ERP did not answer usefully, for now: a timeout, a network error, a 5xx, a 429. Worth retrying. */
export class ErpUnavailableError extends RetryableError {
  constructor(
    kind: string,
    message: string,
    /** The HTTP status, when there was an answer. */
    readonly status?: number,
    /** The delay the ERP asked for (`Retry-After`), in ms. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(kind, message, options);
  }
}

/** The ERP refused this posting (a 4xx other than 408/429): sending it again cannot succeed. */
export class ErpRejectedError extends PoisonEventError {
  constructor(
    readonly status: number,
    readonly responseBody: string,
  ) {
    super('erp_rejected', `ERP refused the posting: ${status} ${responseBody}`);
  }
}

export interface ErpClientOptions {
  baseUrl: string;
  token: string;
  hmacSecret: string;
  requestTimeoutMs: number;
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMsOf(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * The meaning of one HTTP answer: 201 booked, 200 duplicate (the posting id was booked before), 408/429/5xx
 * retryable, 401/403 a halt (every posting would fail the same way: fix the token or the HMAC secret instead
 * of dead-lettering the stream), any other status a rejection of this posting.
 */
export function answerOf(status: number, body: string, retryAfterMs: number | undefined): ErpAnswer {
  if (status === 201) return 'booked';
  if (status === 200) return /"status"\s*:\s*"duplicate"/.test(body) ? 'duplicate' : 'booked';
  if (status === 408 || status === 429 || status >= 500) {
    throw new ErpUnavailableError(
      status === 429 ? 'erp_rate_limited' : 'erp_unavailable',
      `ERP answered ${status}: ${body}`,
      status,
      retryAfterMs,
    );
  }
  if (status === 401 || status === 403) {
    throw new HaltError(
      'erp_auth',
      `ERP refused the credentials: ${status} ${body}`,
      'check erp.token and erp.hmacSecret against the ERP’s settings',
    );
  }
  if (status >= 400) throw new ErpRejectedError(status, body);
  throw new ErpUnavailableError('erp_unexpected', `ERP answered an unexpected ${status}: ${body}`, status);
}

/** `X-Signature` of a body: HMAC-SHA256 with the shared secret, hex. */
export function signatureOf(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Sends postings to the ERP (`POST <baseUrl>/v1/postings`), one attempt per call, signed and authenticated. */
export class ErpClient {
  private readonly url: string;

  constructor(
    private readonly options: ErpClientOptions,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/v1/postings`;
  }

  /** One attempt; `signal` aborts it (shutdown), `requestTimeoutMs` abandons it as retryable. */
  async post(posting: Posting, signal: AbortSignal): Promise<ErpAnswer> {
    const body = JSON.stringify(posting);
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${this.options.token}`,
          'x-signature': signatureOf(body, this.options.hmacSecret),
        },
        body,
        redirect: 'error',
        signal: combined,
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      text = (await response.text()).slice(0, 2_000);
    } catch (error) {
      if (signal.aborted) throw signal.reason ?? error;
      if (timeout.aborted)
        throw new ErpUnavailableError('erp_timeout', `no answer within ${this.options.requestTimeoutMs} ms`, undefined, undefined, {
          cause: error,
        });
      // fetch reports network failures as TypeError, which would otherwise count as a bug.
      throw new ErpUnavailableError('erp_network', `ERP unreachable: ${describe(error)}`, undefined, undefined, { cause: error });
    }
    return answerOf(status, text, retryAfterMsOf(retryAfter, Date.now()));
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return [(error as Error).message ?? String(error), cause?.code ?? cause?.message].filter(Boolean).join(': ');
}
