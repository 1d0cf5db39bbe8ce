import { dispositionOf } from '@inventory-cdc/shared';
import {
  CircuitOpenError,
  classifyResponse,
  WmsRejectedError,
  WmsUnauthorizedError,
  WmsUnavailableError,
  type WmsVerdict,
} from './wms-response';

const now = Date.parse('2026-11-26T02:00:00Z');

describe('classifyResponse', () => {
  it.each<[number, string, string | null, WmsVerdict]>([
    [201, '{"status":"applied"}', null, { kind: 'applied' }],
    [200, '{"status":"duplicate"}', null, { kind: 'duplicate' }],
    [200, '{"status":"applied"}', null, { kind: 'applied' }],
    [200, 'not json', null, { kind: 'applied' }],
    [202, '', null, { kind: 'applied' }],
    [204, '', null, { kind: 'applied' }],
    [
      500,
      '{"error":"injected error"}',
      null,
      { kind: 'unavailable', detail: 'HTTP 500: {"error":"injected error"}', retryAfterMs: undefined },
    ],
    [503, '', '7', { kind: 'unavailable', detail: 'HTTP 503: ', retryAfterMs: 7_000 }],
    [429, '{"error":"rate limited"}', '1', { kind: 'unavailable', detail: 'HTTP 429: {"error":"rate limited"}', retryAfterMs: 1_000 }],
    [408, '', null, { kind: 'unavailable', detail: 'HTTP 408: ', retryAfterMs: undefined }],
    [400, '{"error":"sku rejected"}', null, { kind: 'rejected', detail: 'HTTP 400: {"error":"sku rejected"}' }],
    [401, '{"error":"bad signature"}', null, { kind: 'unauthorized', detail: 'HTTP 401: {"error":"bad signature"}' }],
    [403, '{"error":"forbidden"}', null, { kind: 'unauthorized', detail: 'HTTP 403: {"error":"forbidden"}' }],
    [404, '', null, { kind: 'rejected', detail: 'HTTP 404: ' }],
    [409, '{}', null, { kind: 'rejected', detail: 'HTTP 409: {}' }],
    [302, '', null, { kind: 'rejected', detail: 'HTTP 302: ' }],
  ])('HTTP %i %s (Retry-After %s) is %j', (status, body, retryAfter, verdict) => {
    expect(classifyResponse(status, body, retryAfter, now)).toEqual(verdict);
  });

  it('keeps a long body out of the detail beyond 500 characters', () => {
    const verdict = classifyResponse(400, 'x'.repeat(2_000), null, now);
    expect(verdict.kind === 'rejected' && verdict.detail.length).toBe('HTTP 400: '.length + 501);
  });
});

describe('error classes', () => {
  it('classify unavailable as retryable, rejected as poison', () => {
    expect(dispositionOf(new WmsUnavailableError('timeout', undefined))).toBe('retryable');
    expect(dispositionOf(new CircuitOpenError(10))).toBe('retryable');
    expect(dispositionOf(new WmsRejectedError('HTTP 400: {}'))).toBe('poison');
    expect(dispositionOf(new WmsUnauthorizedError('HTTP 401: {}', undefined))).toBe('retryable');
    expect(new WmsUnauthorizedError('HTTP 401: {}', undefined).kind).toBe('wms_unauthorized');
  });
});
