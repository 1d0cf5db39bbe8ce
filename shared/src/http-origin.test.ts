import { HttpStub, type StubHandler } from '@inventory-cdc/shared/testing';
import { HttpCallError, HttpOrigin, retryAfterMsOf } from './http-origin';

const stubs: HttpStub[] = [];
const origins: HttpOrigin[] = [];
afterEach(async () => {
  for (const stub of stubs.splice(0)) await stub.close();
  for (const origin of origins.splice(0)) await origin.close();
});

async function originFor(handler: StubHandler, basePath = ''): Promise<{ origin: HttpOrigin; stub: HttpStub }> {
  const stub = await HttpStub.start(handler);
  stubs.push(stub);
  const origin = new HttpOrigin(`${stub.baseUrl}${basePath}`);
  origins.push(origin);
  return { origin, stub };
}

const never = new AbortController().signal;

async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
const post = (origin: HttpOrigin, options: { timeoutMs?: number; signal?: AbortSignal; maxBodyBytes?: number } = {}) =>
  origin.post('/v1/things', { 'content-type': 'application/json', 'x-test': 'yes' }, '{"a":1}', {
    timeoutMs: options.timeoutMs ?? 1_000,
    signal: options.signal ?? never,
    maxBodyBytes: options.maxBodyBytes,
  });

describe('HttpOrigin.post', () => {
  it('posts the body and headers below the base URL’s path and returns status, body and Retry-After', async () => {
    let seen: { method?: string; url?: string; header?: string | string[]; body: string } | undefined;
    const { origin } = await originFor((request, body, response) => {
      seen = { method: request.method, url: request.url, header: request.headers['x-test'], body };
      HttpStub.reply(429, '{"error":"slow down"}', { 'retry-after': '3' })(request, body, response);
    }, '/api/');
    await expect(post(origin)).resolves.toEqual({ status: 429, body: '{"error":"slow down"}', retryAfter: '3' });
    expect(seen).toEqual({ method: 'POST', url: '/api/v1/things', header: 'yes', body: '{"a":1}' });
  });

  it('reuses kept-alive connections for calls one after another', async () => {
    const { origin, stub } = await originFor(HttpStub.reply(201, '{}'));
    let connections = 0;
    stub.server.on('connection', () => connections++);
    for (let call = 0; call < 20; call++) await expect(post(origin)).resolves.toMatchObject({ status: 201, retryAfter: null });
    // The pool may open a second connection while the first is being released; never one per call.
    expect(connections).toBeLessThanOrEqual(2);
  });

  it('never follows a redirect', async () => {
    const { origin } = await originFor(HttpStub.reply(307, '', { location: '/elsewhere' }));
    await expect(post(origin)).resolves.toMatchObject({ status: 307 });
  });

  it('cuts the body at maxBodyBytes', async () => {
    const { origin } = await originFor(HttpStub.reply(500, 'x'.repeat(5_000)));
    expect(await post(origin, { maxBodyBytes: 100 })).toMatchObject({ status: 500, body: 'x'.repeat(100), bodyTruncated: true });
    expect(await post(origin, { maxBodyBytes: 5_000 })).toEqual({ status: 500, body: 'x'.repeat(5_000), retryAfter: null });
  });

  it('stops reading an endless body at the cap and drops the connection, well within the deadline', async () => {
    let closed = false;
    const { origin } = await originFor((_request, _body, response) => {
      response.writeHead(502, { 'content-type': 'text/plain' });
      const chunk = 'y'.repeat(16 * 1024);
      // Writes as fast as the client reads, forever: only the client's cap can end this response.
      const pump = (): void => {
        while (!closed && response.write(chunk));
        if (!closed) response.once('drain', pump);
      };
      response.on('close', () => (closed = true));
      pump();
    });
    const started = Date.now();
    const answer = await post(origin, { timeoutMs: 5_000 });
    expect(answer).toMatchObject({ status: 502, bodyTruncated: true });
    expect(answer.body).toHaveLength(64 * 1024);
    expect(Date.now() - started).toBeLessThan(2_000);
    await waitUntil(() => closed);
  });

  it('gives up after timeoutMs without an answer: a timeout', async () => {
    const { origin } = await originFor(() => undefined);
    const started = Date.now();
    await expect(post(origin, { timeoutMs: 100 })).rejects.toEqual(new HttpCallError('timeout', 'no answer within 100 ms'));
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('reports a connection dropped without an answer as a network failure', async () => {
    const { origin } = await originFor((request) => request.socket.destroy());
    await expect(post(origin)).rejects.toMatchObject({ kind: 'network', message: expect.stringMatching(/^connection failed: /) });
  });

  it('reports a refused connection as a network failure naming ECONNREFUSED', async () => {
    const stub = await HttpStub.start(HttpStub.reply(201, '{}'));
    await stub.close();
    const origin = new HttpOrigin(stub.baseUrl);
    origins.push(origin);
    await expect(post(origin)).rejects.toMatchObject({ kind: 'network', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('throws the caller’s abort reason, not a call error, when the caller aborts', async () => {
    const { origin } = await originFor(() => undefined);
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('stopping')), 50);
    await expect(post(origin, { timeoutMs: 5_000, signal: abort.signal })).rejects.toThrow('stopping');
    const aborted = AbortSignal.abort(new Error('already stopped'));
    await expect(post(origin, { signal: aborted })).rejects.toThrow('already stopped');
  });
});

describe('retryAfterMsOf', () => {
  const now = Date.parse('Thu, 26 Nov 2026 02:00:00 GMT');
  it.each<[string | null, number | undefined]>([
    [null, undefined],
    ['', undefined],
    ['0', 0],
    [' 3 ', 3_000],
    ['Thu, 26 Nov 2026 02:00:05 GMT', 5_000],
    ['Thu, 26 Nov 2026 01:59:00 GMT', 0],
    ['soon', undefined],
    ['-1', undefined],
  ])('%j → %s ms', (header, ms) => expect(retryAfterMsOf(header, now)).toBe(ms));
});
