import { wmsRequestOf, type WmsCall, type WmsEndpoint } from './wms-call';
import { classifyResponse, WmsRejectedError, WmsUnavailableError } from './wms-response';

/**
 * Sends one call to the WMS, once (no retries here). Resolves with `applied` or `duplicate`; throws
 * `WmsUnavailableError` for anything worth retrying (timeout, connection error, 408/429/5xx) and
 * `WmsRejectedError` for a permanent refusal. Aborting `signal` aborts the call with the signal's reason.
 */
export interface WmsTransport {
  send(call: WmsCall, signal: AbortSignal): Promise<'applied' | 'duplicate'>;
}

/** The `Error.cause` chain as one line: undici hides the useful part (`ECONNREFUSED`, `other side closed`) in it. */
function describeFailure(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error; current && parts.length < 4; current = (current as { cause?: unknown }).cause) {
    const code = (current as { code?: unknown }).code;
    parts.push(`${(current as Error).message ?? String(current)}${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  return parts.join(': ');
}

/**
 * The WMS over HTTP with node's fetch (keep-alive connections, pooled per origin). Every call has its own
 * deadline (`requestTimeoutMs`, covering the response body too); redirects are not followed, since a
 * redirected POST would silently turn into a GET.
 */
export class HttpWmsTransport implements WmsTransport {
  constructor(
    private readonly endpoint: WmsEndpoint,
    private readonly requestTimeoutMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async send(call: WmsCall, signal: AbortSignal): Promise<'applied' | 'duplicate'> {
    signal.throwIfAborted();
    const request = wmsRequestOf(call, this.endpoint);
    // One controller per call, tied to the caller's signal and to the deadline, and untied in `finally`:
    // the caller's signal lives as long as the process and must not collect a listener per call.
    const controller = new AbortController();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`no answer within ${this.requestTimeoutMs} ms`));
    }, this.requestTimeoutMs);
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let status: number;
    let body: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        redirect: 'manual',
        signal: controller.signal,
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      body = await response.text();
    } catch (error) {
      if (signal.aborted) throw signal.reason ?? error;
      if (timedOut) throw new WmsUnavailableError(`no answer within ${this.requestTimeoutMs} ms (timeout)`, undefined, { cause: error });
      throw new WmsUnavailableError(`connection failed: ${describeFailure(error)}`, undefined, { cause: error });
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener('abort', onAbort);
    }
    const verdict = classifyResponse(status, body, retryAfter, this.clock());
    switch (verdict.kind) {
      case 'applied':
      case 'duplicate':
        return verdict.kind;
      case 'unavailable':
        throw new WmsUnavailableError(verdict.detail, verdict.retryAfterMs);
      case 'rejected':
        throw new WmsRejectedError(verdict.detail);
    }
  }
}
