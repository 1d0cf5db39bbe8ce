import { inspect } from 'node:util';
import { Pool } from 'undici';

/** What one HTTP call got back: the status, the body as text (cut at `maxBodyBytes`) and `Retry-After`. */
export interface HttpAnswer {
  status: number;
  body: string;
  retryAfter: string | null;
  /** True when the body went on past `maxBodyBytes`: reading stopped there and the connection was dropped. */
  bodyTruncated?: true;
}

/** Default of `post`'s `maxBodyBytes`: the sinks only read a status word or an error message from a body. */
export const defaultMaxResponseBodyBytes = 64 * 1024;

/** A call that got no HTTP answer: no answer within the deadline (`timeout`), or no connection (`network`). */
export class HttpCallError extends Error {
  constructor(
    readonly kind: 'timeout' | 'network',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpCallError';
  }
}

/**
 * `Retry-After` in ms from `nowMs`: delay-seconds or an HTTP date (a past date is 0). Undefined when
 * absent or unreadable, so plain backoff applies.
 */
export function retryAfterMsOf(header: string | null | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date names a weekday and month; Date.parse alone would also take '-1' (the year -1).
  const at = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The `Error.cause` chain as one line: the useful part (`ECONNREFUSED`, `other side closed`) is often in a cause. */
function describeFailure(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error; current && parts.length < 4; current = (current as { cause?: unknown }).cause) {
    const code = (current as { code?: unknown }).code;
    parts.push(`${current instanceof Error ? current.message : inspect(current)}${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  return parts.join(': ');
}

/**
 * Reads at most `maxBytes` of a body. Leaving the loop early destroys the stream, which makes undici drop
 * the connection instead of draining the rest of the body into the pool's socket.
 */
async function readCapped(body: AsyncIterable<Buffer>, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size + chunk.length > maxBytes) {
      chunks.push(chunk.subarray(0, maxBytes - size));
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

/**
 * One HTTP(S) service the sinks post to: keep-alive connections pooled for its origin (undici's `Pool`; node's
 * `fetch` costs several times the CPU per call — web streams, a signal per request — which capped a sink
 * making one call per event). Redirects are never followed: a redirected POST would silently become a GET.
 */
export class HttpOrigin {
  private readonly pool: Pool;
  /** The base URL's path without its trailing slash; call paths are appended to it. */
  private readonly basePath: string;

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.pool = new Pool(url.origin, { keepAliveTimeout: 10_000 });
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  /** The request target `post(path, …)` sends to: the base URL's path, then `path` (what a signature covers). */
  targetOf(path: string): string {
    return `${this.basePath}${path}`;
  }

  /**
   * POSTs `body` once. Resolves with any HTTP answer (the caller judges the status); throws `HttpCallError`
   * when there is none within `timeoutMs` (the body included) or no connection, and the caller's abort
   * reason when `signal` aborts. At most `maxBodyBytes` (default `defaultMaxResponseBodyBytes`) of the
   * response body are read: past that, reading stops and the connection is dropped, so a huge or endless
   * body costs neither memory nor the deadline.
   */
  async post(
    path: string,
    headers: Record<string, string>,
    body: string,
    options: { timeoutMs: number; signal: AbortSignal; maxBodyBytes?: number },
  ): Promise<HttpAnswer> {
    const { signal, timeoutMs } = options;
    signal.throwIfAborted();
    // One controller per call, tied to the caller's signal and to the deadline, and untied in `finally`:
    // the caller's signal lives as long as the process and must not collect a listener per call.
    const controller = new AbortController();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await this.pool.request({
        path: this.targetOf(path),
        method: 'POST',
        headers,
        body,
        signal: controller.signal,
      });
      const { text, truncated } = await readCapped(response.body, options.maxBodyBytes ?? defaultMaxResponseBodyBytes);
      const retryAfter = response.headers['retry-after'];
      return {
        status: response.statusCode,
        body: text,
        retryAfter: (Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) ?? null,
        ...(truncated ? { bodyTruncated: true as const } : {}),
      };
    } catch (error) {
      if (signal.aborted) throw signal.reason ?? error;
      if (timedOut) throw new HttpCallError('timeout', `no answer within ${timeoutMs} ms`, { cause: error });
      throw new HttpCallError('network', `connection failed: ${describeFailure(error)}`, { cause: error });
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Closes the pooled connections once the calls in flight are done. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}
