import { createHmac } from 'node:crypto';
import { signatureOf, signedRequestHeaders, verifySignature, type SignedRequest } from './request-signature';

const secret = 'shared-secret';
const request: SignedRequest = {
  method: 'POST',
  path: '/api/v1/stock-changes',
  idempotencyKey: 'wms-0000:0000000000000001:00000003',
  timestampSeconds: 1_790_000_000,
  nonce: 'n0nce-0123456789abcdef',
  body: '{"sku":"SKU-1"}',
};
const nowMs = request.timestampSeconds * 1000;
const window = { nowMs, windowSeconds: 300 };

function received(headers: Record<string, string>): Parameters<typeof verifySignature>[0] {
  return {
    signature: headers['x-signature'],
    timestamp: headers['x-signature-timestamp'],
    nonce: headers['x-signature-nonce'],
    idempotencyKey: headers['idempotency-key'],
  };
}

describe('signatureOf', () => {
  it('is v1= and the hex HMAC-SHA256 of method, path, key, timestamp, nonce and body, one per line', () => {
    const canonical = `POST\n/api/v1/stock-changes\n${request.idempotencyKey}\n1790000000\nn0nce-0123456789abcdef\n{"sku":"SKU-1"}`;
    expect(signatureOf(request, secret)).toBe(`v1=${createHmac('sha256', secret).update(canonical).digest('hex')}`);
  });

  it.each([
    ['method', { method: 'PUT' }],
    ['path', { path: '/api/v1/postings' }],
    ['idempotency key', { idempotencyKey: 'wms-fresh' }],
    ['timestamp', { timestampSeconds: request.timestampSeconds + 1 }],
    ['nonce', { nonce: 'another-nonce-0123456' }],
    ['body', { body: '{"sku":"SKU-2"}' }],
  ])('changes with the %s', (_field, change) => {
    expect(signatureOf({ ...request, ...change }, secret)).not.toBe(signatureOf(request, secret));
  });

  it('refuses a key or path with a line break, which would make the canonical string ambiguous', () => {
    expect(() => signatureOf({ ...request, idempotencyKey: 'a\n1' }, secret)).toThrow(/idempotency key/);
    expect(() => signatureOf({ ...request, idempotencyKey: '' }, secret)).toThrow(/idempotency key/);
    expect(() => signatureOf({ ...request, timestampSeconds: 1.5 }, secret)).toThrow(/whole Unix seconds/);
    expect(() => signatureOf({ ...request, nonce: 'short' }, secret)).toThrow(/nonce/);
  });
});

describe('verifySignature', () => {
  const headers = signedRequestHeaders(request, secret);
  const { method, path, body, nonce } = request;

  it('accepts the signed request within the window, either side of the receiver clock', () => {
    expect(verifySignature(received(headers), { method, path, body }, secret, window)).toEqual({
      ok: true,
      timestampSeconds: 1_790_000_000,
      nonce,
    });
    for (const skewMs of [-300_000, 300_000])
      expect(
        verifySignature(received(headers), { method, path, body: Buffer.from(body) }, secret, { ...window, nowMs: nowMs + skewMs }).ok,
      ).toBe(true);
  });

  it('refuses a request outside the window', () => {
    expect(verifySignature(received(headers), { method, path, body }, secret, { ...window, nowMs: nowMs + 301_000 })).toEqual({
      ok: false,
      reason: 'signature timestamp outside the 300 s window',
    });
  });

  it.each([
    ['a fresh idempotency key', { ...headers, 'idempotency-key': 'wms-fresh' }, request],
    ['a newer timestamp', { ...headers, 'x-signature-timestamp': String(request.timestampSeconds + 60) }, request],
    ['a fresh nonce', { ...headers, 'x-signature-nonce': 'fresh-nonce-0123456789' }, request],
    ['another path', headers, { ...request, path: '/api/v1/postings' }],
    ['another body', headers, { ...request, body: '{"sku":"SKU-2"}' }],
    ['the wrong secret', signedRequestHeaders(request, 'guessed'), request],
  ])('refuses a captured signature replayed with %s', (_case, sent, target) => {
    expect(verifySignature(received(sent), target, secret, window)).toEqual({ ok: false, reason: 'bad signature' });
  });

  it.each([
    ['no signature', { ...headers, 'x-signature': '' }, /X-Signature/],
    ['the body-only scheme', { ...headers, 'x-signature': `sha256=${'0'.repeat(64)}` }, /X-Signature/],
    ['no timestamp', { ...headers, 'x-signature-timestamp': '' }, /Timestamp/],
    ['a fractional timestamp', { ...headers, 'x-signature-timestamp': '1790000000.5' }, /Timestamp/],
    ['no idempotency key', { ...headers, 'idempotency-key': '' }, /Idempotency-Key/],
    ['no nonce', { ...headers, 'x-signature-nonce': '' }, /Nonce/],
  ])('refuses %s', (_case, sent, reason) => {
    const verdict = verifySignature(received(sent), { method, path, body }, secret, window);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.reason).toMatch(reason);
  });
});
