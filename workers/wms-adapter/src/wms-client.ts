import { HttpCallError, HttpOrigin, type HttpAnswer } from '@inventory-cdc/shared';
import { randomUUID } from 'node:crypto';
import { wmsRequestOf, wmsStockChangesPath, type WmsAnyCall, type WmsEndpoint } from './wms-call';
import { classifyResponse, WmsRejectedError, WmsUnauthorizedError, WmsUnavailableError } from './wms-response';

/**
 * Sends one call to the WMS, once (no retries here). Resolves with `applied` or `duplicate`; throws
 * `WmsUnavailableError` for anything worth retrying (timeout, connection error, 408/429/5xx) and
 * `WmsRejectedError` for a permanent refusal. Aborting `signal` aborts the call with the signal's reason.
 */
export interface WmsTransport {
  send(call: WmsAnyCall, signal: AbortSignal): Promise<'applied' | 'duplicate'>;
}

/** The WMS over HTTP: keep-alive connections pooled for its origin; every call has its own deadline. */
export class HttpWmsTransport implements WmsTransport {
  private readonly origin: HttpOrigin;

  constructor(
    private readonly endpoint: WmsEndpoint,
    private readonly requestTimeoutMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.origin = new HttpOrigin(endpoint.baseUrl);
  }

  async send(call: WmsAnyCall, signal: AbortSignal): Promise<'applied' | 'duplicate'> {
    const path = this.origin.targetOf(wmsStockChangesPath);
    const request = wmsRequestOf(call, this.endpoint, { path, timestampSeconds: Math.floor(this.clock() / 1000), nonce: randomUUID() });
    let answer: HttpAnswer;
    try {
      answer = await this.origin.post(wmsStockChangesPath, request.headers, request.body, { timeoutMs: this.requestTimeoutMs, signal });
    } catch (error) {
      if (!(error instanceof HttpCallError)) throw error;
      const detail = error.kind === 'timeout' ? `${error.message} (timeout)` : error.message;
      throw new WmsUnavailableError(detail, undefined, { cause: error });
    }
    const verdict = classifyResponse(answer.status, answer.body, answer.retryAfter, this.clock());
    switch (verdict.kind) {
      case 'applied':
      case 'duplicate':
        return verdict.kind;
      case 'unavailable':
        throw new WmsUnavailableError(verdict.detail, verdict.retryAfterMs);
      case 'unauthorized':
        throw new WmsUnauthorizedError(verdict.detail, undefined);
      case 'rejected':
        throw new WmsRejectedError(verdict.detail);
    }
  }

  close(): Promise<void> {
    return this.origin.close();
  }
}
