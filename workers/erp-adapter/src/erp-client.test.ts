import { createHmac } from 'node:crypto';
import { HaltError } from '@inventory-cdc/shared';
import { ErpClient, ErpRejectedError, ErpUnavailableError, answerOf, retryAfterMsOf } from './erp-client';
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

describe('retryAfterMsOf', () => {
  it.each<[string | null, number | undefined]>([
    [null, undefined],
    ['3', 3_000],
    [' 0 ', 0],
    ['Thu, 01 Jan 1970 00:00:05 GMT', 4_000],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['soon', undefined],
  ])('%p → %p', (header, expected) => {
    expect(retryAfterMsOf(header, 1_000)).toBe(expected);
  });
});

describe('ErpClient.post', () => {
  const options = { baseUrl: 'http://erp.test/', token: 'tok', hmacSecret: 'secret', requestTimeoutMs: 200 };

  it('posts the posting signed and authenticated', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response('{"status":"booked"}', { status: 201 });
    }) as unknown as typeof fetch;
    await expect(new ErpClient(options, fetchImpl).post(posting, new AbortController().signal)).resolves.toBe('booked');
    const { url, init } = calls[0]!;
    const headers = init.headers as Record<string, string>;
    expect(url).toBe('http://erp.test/v1/postings');
    expect(JSON.parse(init.body as string)).toEqual(posting);
    expect(headers.authorization).toBe('Bearer tok');
    expect(headers['x-signature']).toBe(
      `sha256=${createHmac('sha256', 'secret')
        .update(init.body as string)
        .digest('hex')}`,
    );
  });

  it('turns a network failure (a TypeError from fetch) into a retryable error', async () => {
    const fetchImpl = (async () => {
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    await expect(new ErpClient(options, fetchImpl).post(posting, new AbortController().signal)).rejects.toBeInstanceOf(ErpUnavailableError);
  });

  it('gives up on an attempt after requestTimeoutMs, retryably', async () => {
    const fetchImpl = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) =>
        init.signal!.addEventListener('abort', () => reject(init.signal!.reason)),
      )) as unknown as typeof fetch;
    await expect(new ErpClient(options, fetchImpl).post(posting, new AbortController().signal)).rejects.toMatchObject({
      kind: 'erp_timeout',
    });
  });

  it('ends with the abort reason when the caller aborts', async () => {
    const fetchImpl = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) =>
        init.signal!.addEventListener('abort', () => reject(init.signal!.reason)),
      )) as unknown as typeof fetch;
    const controller = new AbortController();
    const attempt = new ErpClient({ ...options, requestTimeoutMs: 10_000 }, fetchImpl).post(posting, controller.signal);
    controller.abort(new Error('stopping'));
    await expect(attempt).rejects.toThrow('stopping');
  });
});
