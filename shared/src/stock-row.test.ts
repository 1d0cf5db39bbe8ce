import type { ChangeEnvelope } from './change-event';
import { stockKeyProblem, stockRowKeyProblem } from './stock-row';

function event(op: ChangeEnvelope['op'], row: Record<string, unknown> | null): ChangeEnvelope {
  return {
    op,
    before: op === 'd' ? row : null,
    after: op === 'd' ? null : row,
    source: { shard: 0, database: 'd', schema: 'inventory', table: 'stock', lsn: 1n, txId: 1n, commitTs: 1n, snapshot: false, seq: 0n },
    unchangedToast: [],
    tsMs: 1n,
  };
}

describe('stockKeyProblem', () => {
  it.each<[string, ChangeEnvelope | null, string | undefined]>([
    ['a plain key is fine', event('u', { sku: 'SKU-1', warehouse: 'WH-A' }), undefined],
    ['a delete is judged by its before image', event('d', { sku: 'SKU-1', warehouse: '' }), 'warehouse is empty'],
    ['an empty warehouse would be an ignored oh: field in Redis', event('c', { sku: 'SKU-1', warehouse: '' }), 'warehouse is empty'],
    ['an empty sku', event('r', { sku: '', warehouse: 'WH-A' }), 'sku is empty'],
    ['a missing column', event('u', { sku: 'SKU-1' }), 'warehouse is missing'],
    [
      'a brace would move the SKU out of its hash tag',
      event('u', { sku: 'A}B', warehouse: 'W' }),
      'sku "A}B" holds a control character or a brace',
    ],
    ['a control character', event('u', { sku: 'A', warehouse: 'W\n' }), 'warehouse "W\\n" holds a control character or a brace'],
    ['blanks around a code', event('u', { sku: ' A', warehouse: 'W' }), 'sku " A" has leading or trailing blanks'],
    ['an overlong code', event('u', { sku: 'x'.repeat(201), warehouse: 'W' }), 'sku is longer than 200 characters'],
    ['a tombstone has no row', null, undefined],
    ['a truncate has no row', event('t', null), undefined],
  ])('%s', (_name, envelope, expected) => {
    expect(stockKeyProblem(envelope)).toBe(expected);
  });
});

describe('stockRowKeyProblem', () => {
  it('judges a row read from Postgres like the event carrying it', () => {
    expect(stockRowKeyProblem({ sku: 'SKU-1', warehouse: 'WH-A' })).toBeUndefined();
    expect(stockRowKeyProblem({ sku: 'POISON{1}', warehouse: 'WH-A' })).toBe('sku "POISON{1}" holds a control character or a brace');
    expect(stockRowKeyProblem({ sku: 'SKU-1', warehouse: 'WH-A\t' })).toBe(
      stockKeyProblem(event('c', { sku: 'SKU-1', warehouse: 'WH-A\t' })),
    );
  });
});
