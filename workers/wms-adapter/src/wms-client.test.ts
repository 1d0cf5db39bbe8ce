import type { IncomingMessage } from 'node:http';
import { verifySignature } from '@inventory-cdc/shared';
import { HttpStub, type StubHandler } from '@inventory-cdc/shared/testing';
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

const stubs: HttpStub[] = [];
const transports: HttpWmsTransport[] = [];
afterEach(async () => {
  for (const stub of stubs.splice(0)) await stub.close();
  for (const transport of transports.splice(0)) await transport.close();
});

function transportOf(baseUrl: string, requestTimeoutMs = 1_000): HttpWmsTransport {
  const transport = new HttpWmsTransport({ baseUrl, token: 'tok', hmacSecret: 'key' }, requestTimeoutMs);
  transports.push(transport);
  return transport;
}

async function transportFor(handler: StubHandler, requestTimeoutMs = 1_000): Promise<HttpWmsTransport> {
  const stub = await HttpStub.start(handler);
  stubs.push(stub);
  return transportOf(stub.baseUrl, requestTimeoutMs);
}

const reply = HttpStub.reply;

function header(headers: IncomingMessage['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

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
    const signed = { method: 'POST', path: '/v1/stock-changes', idempotencyKey: call.idempotencyKey, body: seen!.body };
    const verdict = verifySignature(
      {
        signature: header(seen!.headers, 'x-signature'),
        timestamp: header(seen!.headers, 'x-signature-timestamp'),
        nonce: header(seen!.headers, 'x-signature-nonce'),
        idempotencyKey: call.idempotencyKey,
      },
      signed,
      'key',
      { nowMs: Date.now(), windowSeconds: 5 },
    );
    expect(verdict.ok).toBe(true);
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

  it('treats a refused connection as retryable', async () => {
    const stub = await HttpStub.start(reply(201, '{}'));
    await stub.close();
    const transport = transportOf(stub.baseUrl);
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
