import { createHmac } from 'node:crypto';
import { PoisonEventError, type ChangeEnvelope, type ConsumedChange } from '@inventory-cdc/shared';
import { isoFromMicros, wmsCallOf, wmsRequestOf, wmsTruncateCallOf, type WmsCall } from './wms-call';

const position = '0001:0000000001a2b3c4:00000002';
const commitTs = 1_764_121_965_123_456n; // 2025-11-26T01:52:45.123456Z

function consumed(envelope: Partial<ChangeEnvelope> | null, overrides: Partial<ConsumedChange> = {}): ConsumedChange {
  return {
    topic: 'p.inventory.stock',
    partition: 0,
    offset: '7',
    key: null,
    envelope: envelope
      ? {
          before: null,
          after: null,
          op: 'u',
          unchangedToast: [],
          tsMs: 0n,
          ...envelope,
          source: {
            shard: 1,
            database: 'inventory',
            schema: 'inventory',
            table: 'stock',
            lsn: 0x1a2b3c4n,
            txId: 9n,
            commitTs,
            snapshot: false,
            seq: 2n,
          },
        }
      : null,
    position: envelope ? { shard: 1, commitLsn: 0x1a2b3c4n, seq: 2 } : null,
    positionText: envelope ? position : null,
    rawKey: null,
    rawValue: null,
    ...overrides,
  };
}

const row = (onHand: number, reserved: number): Record<string, unknown> => ({ sku: 'SKU-1', warehouse: 'WH-A', on_hand: onHand, reserved });

describe('isoFromMicros', () => {
  it.each([
    [commitTs, '2025-11-26T01:52:45.123456Z'],
    [0n, '1970-01-01T00:00:00.000000Z'],
    [1_000_007n, '1970-01-01T00:00:01.000007Z'],
    [-1_500n, '1969-12-31T23:59:59.998500Z'],
  ])('%s µs is %s', (micros, iso) => expect(isoFromMicros(micros)).toBe(iso));
});

describe('wmsCallOf', () => {
  const expected = (op: string, onHand: number, reserved: number): WmsCall => ({
    idempotencyKey: `wms-${position}`,
    change: {
      sku: 'SKU-1',
      warehouse: 'WH-A',
      onHand,
      reserved,
      available: onHand - reserved,
      position,
      op: op as 'u',
      commitTs: '2025-11-26T01:52:45.123456Z',
    },
    commitTsMicros: commitTs,
  });

  it.each([
    ['an insert', { op: 'c', after: row(10, 0) }, expected('c', 10, 0)],
    ['an update (a purchase reserving 3)', { op: 'u', before: row(10, 0), after: row(7, 3) }, expected('u', 7, 3)],
    ['a snapshot read', { op: 'r', after: row(5, 1) }, expected('r', 5, 1)],
    [
      'a delete, from the before row, emptied',
      { op: 'd', before: { sku: 'SKU-1', warehouse: 'WH-A', on_hand: null, reserved: null } },
      expected('d', 0, 0),
    ],
  ] as const)('maps %s', (_name, envelope, call) => {
    expect(wmsCallOf(consumed(envelope as Partial<ChangeEnvelope>))).toEqual(call);
  });

  const otherTable = (): ConsumedChange => {
    const change = consumed({ op: 'c', after: row(1, 0) });
    change.envelope!.source.table = 'reservations';
    return change;
  };

  it.each([
    ['a tombstone', () => consumed(null)],
    ['a truncate', () => consumed({ op: 't' })],
    ['a row of another table', otherTable],
  ])('skips %s', (_name, change) => {
    expect(wmsCallOf(change())).toBeNull();
  });

  it.each([
    ['no sku', { op: 'u', after: { warehouse: 'WH-A', on_hand: 1, reserved: 0 } }],
    ['an unchanged-TOAST or missing quantity', { op: 'u', after: { sku: 'SKU-1', warehouse: 'WH-A', on_hand: null, reserved: 0 } }],
  ] as const)('refuses a stock event with %s as poison', (_name, envelope) => {
    expect(() => wmsCallOf(consumed(envelope as Partial<ChangeEnvelope>))).toThrow(PoisonEventError);
  });
});

describe('wmsRequestOf', () => {
  const call = wmsCallOf(consumed({ op: 'u', after: row(7, 3) }))!;

  const attempt = { path: '/api/v1/stock-changes', timestampSeconds: 1_790_000_000, nonce: 'n0nce-0123456789abcdef' };

  it('posts the exact body with bearer auth, the idempotency key and an HMAC over method, target, key, time and bytes', () => {
    const request = wmsRequestOf(call, { token: 't0k', hmacSecret: 's3cret' }, attempt);
    expect(JSON.parse(request.body)).toEqual(call.change);
    expect(Object.keys(JSON.parse(request.body) as object)).toEqual([
      'sku',
      'warehouse',
      'onHand',
      'reserved',
      'available',
      'position',
      'op',
      'commitTs',
    ]);
    expect(request.headers).toEqual({
      authorization: 'Bearer t0k',
      'content-type': 'application/json',
      'idempotency-key': `wms-${position}`,
      'x-signature-timestamp': '1790000000',
      'x-signature-nonce': 'n0nce-0123456789abcdef',
      'x-signature': `v1=${createHmac('sha256', 's3cret')
        .update(`POST\n/api/v1/stock-changes\nwms-${position}\n1790000000\nn0nce-0123456789abcdef\n${request.body}`)
        .digest('hex')}`,
    });
  });

  it('is deterministic, so a redelivery sends the same bytes under the same key', () => {
    const endpoint = { baseUrl: 'http://wms', token: 't', hmacSecret: 's' };
    const redelivered = wmsCallOf(consumed({ op: 'u', after: row(7, 3) }))!;
    expect(wmsRequestOf(call, endpoint, attempt)).toEqual(wmsRequestOf(redelivered, endpoint, attempt));
    const later = wmsRequestOf(redelivered, endpoint, { ...attempt, timestampSeconds: attempt.timestampSeconds + 5 });
    expect(later.body).toBe(wmsRequestOf(call, endpoint, attempt).body);
    expect(later.headers['idempotency-key']).toBe(call.idempotencyKey);
  });
});

describe('wmsTruncateCallOf', () => {
  it('turns a TRUNCATE of the stock table into a truncation call keyed by its position', () => {
    const call = wmsTruncateCallOf(consumed({ op: 't' }))!;
    expect(call).toEqual({
      idempotencyKey: `wms-${position}`,
      truncation: { op: 't', shard: 1, position, commitTs: '2025-11-26T01:52:45.123456Z' },
      commitTsMicros: commitTs,
    });
    const attempt = { path: '/v1/stock-changes', timestampSeconds: 1_790_000_000, nonce: 'n0nce-truncate-0123' };
    expect(JSON.parse(wmsRequestOf(call, { token: 't', hmacSecret: 's' }, attempt).body)).toEqual({
      op: 't',
      shard: 1,
      position,
      commitTs: '2025-11-26T01:52:45.123456Z',
    });
  });

  it('is null for any other record', () => {
    expect(wmsTruncateCallOf(consumed({ op: 'u', after: row(1, 0) }))).toBeNull();
    expect(wmsTruncateCallOf(consumed(null))).toBeNull();
  });
});
