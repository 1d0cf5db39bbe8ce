import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HaltError } from '@inventory-cdc/shared';
import { HttpStub, type StubHandler } from '@inventory-cdc/shared/testing';
import { ErpClient, ErpRejectedError, ErpUnavailableError, answerOf } from './erp-client';
import type { Posting } from './posting-builder';

const posting: Posting = {
  postingId: 't:0:1-2',
  lines: [{ sku: 'A', warehouse: 'W', deltaOnHand: 1, deltaReserved: 0 }],
  window: { from: '1', to: '2' },
  createdAt: '2026-01-01T00:00:00.000Z',
};

describe('answerOf', () => {
  it.each<[number, string, string]>([
    [201, '{"status":"booked"}', 'booked'],
    [200, '{"status":"duplicate"}', 'duplicate'],
    [200, '{"status":"booked"}', 'booked'],
  ])('%d %s is %s', (status, body, expected) => {
    expect(answerOf(status, body, undefined)).toBe(expected);
  });

  it.each<[number, new (...args: never[]) => Error]>([
    [500, ErpUnavailableError],
    [503, ErpUnavailableError],
    [429, ErpUnavailableError],
    [408, ErpUnavailableError],
    [302, ErpUnavailableError],
    [400, ErpRejectedError],
    [404, ErpRejectedError],
    [422, ErpRejectedError],
    [401, HaltError],
    [403, HaltError],
  ])('%d throws %p', (status, type) => {
    expect(() => answerOf(status, '{}', undefined)).toThrow(type);
  });

  it('carries Retry-After with a 429', () => {
    expect(() => answerOf(429, '', 2_000)).toThrow(expect.objectContaining({ status: 429, retryAfterMs: 2_000 }));
  });
});

describe('ErpClient.post', () => {
  const stubs: HttpStub[] = [];
  const clients: ErpClient[] = [];
  afterEach(async () => {
    for (const stub of stubs.splice(0)) await stub.close();
    for (const client of clients.splice(0)) await client.close();
  });

  async function clientFor(handler: StubHandler, requestTimeoutMs = 200): Promise<ErpClient> {
    const stub = await HttpStub.start(handler);
    stubs.push(stub);
    const client = new ErpClient(
      { baseUrl: `${stub.baseUrl}/`, token: 'tok', hmacSecret: 'secret', requestTimeoutMs },
      () => 1_790_000_000_999,
    );
    clients.push(client);
    return client;
  }

  it('posts the posting authenticated and signed over method, target, posting id, time and body', async () => {
    let seen: { url?: string; headers: IncomingHttpHeaders; body: string } | undefined;
    const client = await clientFor((request, body, response) => {
      seen = { url: request.url, headers: request.headers, body };
      HttpStub.reply(201, '{"status":"booked"}')(request, body, response);
    });
    await expect(client.post(posting, new AbortController().signal)).resolves.toBe('booked');
    expect(seen!.url).toBe('/v1/postings');
    expect(JSON.parse(seen!.body)).toEqual(posting);
    expect(seen!.headers.authorization).toBe('Bearer tok');
    expect(seen!.headers['idempotency-key']).toBe(posting.postingId);
    expect(seen!.headers['x-signature-timestamp']).toBe('1790000000');
    const nonce = seen!.headers['x-signature-nonce'] as string;
    expect(nonce).toMatch(/^[0-9a-f-]{36}$/);
    const canonical = `POST\n/v1/postings\n${posting.postingId}\n1790000000\n${nonce}\n${seen!.body}`;
    expect(seen!.headers['x-signature']).toBe(`v1=${createHmac('sha256', 'secret').update(canonical).digest('hex')}`);
  });

  it('carries the ERP’s Retry-After into the retryable error', async () => {
    const client = await clientFor(HttpStub.reply(429, '{"error":"rate limited"}', { 'retry-after': '2' }));
    await expect(client.post(posting, new AbortController().signal)).rejects.toMatchObject({
      kind: 'erp_rate_limited',
      retryAfterMs: 2_000,
    });
  });

  it('turns a refused connection into a retryable network error', async () => {
    const client = await clientFor(HttpStub.reply(201, '{}'));
    await stubs[0]!.close();
    await expect(client.post(posting, new AbortController().signal)).rejects.toMatchObject({
      constructor: ErpUnavailableError,
      kind: 'erp_network',
    });
  });

  it('gives up on an attempt after requestTimeoutMs, retryably', async () => {
    const client = await clientFor(() => undefined);
    await expect(client.post(posting, new AbortController().signal)).rejects.toMatchObject({ kind: 'erp_timeout' });
  });

  it('ends with the abort reason when the caller aborts', async () => {
    const client = await clientFor(() => undefined, 10_000);
    const controller = new AbortController();
    const attempt = client.post(posting, controller.signal);
    setTimeout(() => controller.abort(new Error('stopping')), 20);
    await expect(attempt).rejects.toThrow('stopping');
  });
});
