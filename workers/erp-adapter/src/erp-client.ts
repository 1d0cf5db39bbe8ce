import {
  HaltError,
  HttpCallError,
  HttpOrigin,
  PoisonEventError,
  RetryableError,
  retryAfterMsOf,
  signedRequestHeaders,
  type HttpAnswer,
} from '@inventory-cdc/shared';
import { randomUUID } from 'node:crypto';
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

/** Where postings go, below the ERP base URL. */
export const erpPostingsPath = '/v1/postings';

/** Sends postings to the ERP (`POST <baseUrl>/v1/postings`), one attempt per call, signed and authenticated. */
export class ErpClient {
  private readonly origin: HttpOrigin;

  constructor(
    private readonly options: ErpClientOptions,
    private readonly clock: () => number = Date.now,
  ) {
    this.origin = new HttpOrigin(options.baseUrl);
  }

  /**
   * One attempt; `signal` aborts it (shutdown), `requestTimeoutMs` abandons it as retryable. The posting id
   * is the idempotency key; each attempt is signed with its own timestamp and nonce (see `request-signature.ts`).
   */
  async post(posting: Posting, signal: AbortSignal): Promise<ErpAnswer> {
    const body = JSON.stringify(posting);
    const signed = {
      method: 'POST',
      path: this.origin.targetOf(erpPostingsPath),
      idempotencyKey: posting.postingId,
      timestampSeconds: Math.floor(this.clock() / 1000),
      nonce: randomUUID(),
      body,
    };
    const headers = {
      'content-type': 'application/json',
      authorization: `Bearer ${this.options.token}`,
      ...signedRequestHeaders(signed, this.options.hmacSecret),
    };
    let answer: HttpAnswer;
    try {
      answer = await this.origin.post(erpPostingsPath, headers, body, {
        timeoutMs: this.options.requestTimeoutMs,
        signal,
        maxBodyBytes: 2_000,
      });
    } catch (error) {
      if (!(error instanceof HttpCallError)) throw error;
      if (error.kind === 'timeout') throw new ErpUnavailableError('erp_timeout', error.message, undefined, undefined, { cause: error });
      throw new ErpUnavailableError('erp_network', `ERP unreachable: ${error.message}`, undefined, undefined, { cause: error });
    }
    return answerOf(answer.status, answer.body, retryAfterMsOf(answer.retryAfter, Date.now()));
  }

  close(): Promise<void> {
    return this.origin.close();
  }
}
