import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WmsCall } from './wms-call';
import { HttpWmsTransport } from './wms-client';
import { WmsRejectedError, WmsUnavailableError } from './wms-response';

const call: WmsCall = {
  idempotencyKey: 'wms-0000:0000000000000001:00000003',
  change: {
    sku: 'SKU-1',
    warehouse: 'WH-A',
    onHand: 4,
    reserved: 1,
    available: 3,
    position: '0000:0000000000000001:00000003',
    op: 'u',
    commitTs: '2026-01-01T00:00:00.000000Z',
  },
  commitTsMicros: 0n,
};

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

/** An in-process HTTP server standing in for the WMS; `handler` decides each answer. */
async function fakeWms(handler: Handler): Promise<{ server: Server; baseUrl: string }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handler(request, Buffer.concat(chunks).toString('utf8'), response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function transportFor(handler: Handler, requestTimeoutMs = 1_000): Promise<HttpWmsTransport> {
  const { server, baseUrl } = await fakeWms(handler);
  servers.push(server);
  return new HttpWmsTransport({ baseUrl, token: 'tok', hmacSecret: 'key' }, requestTimeoutMs);
}

const reply =
  (status: number, body: string, headers: Record<string, string> = {}): Handler =>
  (_request, _body, response) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(body);
  };

const never = new AbortController().signal;

describe('HttpWmsTransport', () => {
  it('posts the signed body with the idempotency key, and 201 means applied', async () => {
    let seen: { method?: string; url?: string; headers: IncomingMessage['headers']; body: string } | undefined;
    const transport = await transportFor((request, body, response) => {
      seen = { method: request.method, url: request.url, headers: request.headers, body };
      reply(201, '{"status":"applied"}')(request, body, response);
    });
    await expect(transport.send(call, never)).resolves.toBe('applied');
    expect(seen).toMatchObject({
      method: 'POST',
      url: '/v1/stock-changes',
      headers: { authorization: 'Bearer tok', 'idempotency-key': call.idempotencyKey },
    });
    expect(seen!.headers['x-signature']).toBe(`sha256=${createHmac('sha256', 'key').update(seen!.body).digest('hex')}`);
    expect(JSON.parse(seen!.body)).toEqual(call.change);
  });

  it('reports a duplicate', async () => {
    const transport = await transportFor(reply(200, '{"status":"duplicate"}'));
    await expect(transport.send(call, never)).resolves.toBe('duplicate');
  });

  it('turns a 429 into a retryable error carrying Retry-After', async () => {
    const transport = await transportFor(reply(429, '{"error":"rate limited"}', { 'retry-after': '2' }));
    await expect(transport.send(call, never)).rejects.toMatchObject({ constructor: WmsUnavailableError, retryAfterMs: 2_000 });
  });

  it('turns a 400 into a rejection with the response body', async () => {
    const transport = await transportFor(reply(400, '{"error":"sku rejected"}'));
    await expect(transport.send(call, never)).rejects.toThrow(WmsRejectedError);
    await expect(transport.send(call, never)).rejects.toMatchObject({ detail: 'HTTP 400: {"error":"sku rejected"}' });
  });

  it('gives up on a request that gets no answer within requestTimeoutMs', async () => {
    const transport = await transportFor(() => undefined, 100);
    await expect(transport.send(call, never)).rejects.toMatchObject({
      constructor: WmsUnavailableError,
      detail: 'no answer within 100 ms (timeout)',
    });
  });

  it('treats a connection dropped without an answer as retryable', async () => {
    const transport = await transportFor((request) => request.socket.destroy());
    await expect(transport.send(call, never)).rejects.toThrow(WmsUnavailableError);
  });

  it('treats a refused connection as retryable', async () => {
    const { server, baseUrl } = await fakeWms(reply(201, '{}'));
    await new Promise((resolve) => server.close(resolve));
    const transport = new HttpWmsTransport({ baseUrl, token: 't', hmacSecret: 's' }, 1_000);
    await expect(transport.send(call, never)).rejects.toMatchObject({
      constructor: WmsUnavailableError,
      detail: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('throws the caller’s abort reason when aborted, not a WMS error', async () => {
    const transport = await transportFor(() => undefined, 5_000);
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('stopping')), 50);
    await expect(transport.send(call, abort.signal)).rejects.toThrow('stopping');
  });
});
