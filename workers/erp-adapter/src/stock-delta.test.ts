import type { ChangeEnvelope } from '@inventory-cdc/shared';
import { stockDeltaOf, type DeltaOutcome } from './stock-delta';

type Row = Record<string, unknown> | null;

function envelope(op: ChangeEnvelope['op'], before: Row, after: Row, txId = op === 'r' ? 0n : 1n): ChangeEnvelope {
  return {
    op,
    before,
    after,
    source: {
      shard: 0,
      database: 'inventory',
      schema: 'inventory',
      table: 'stock',
      lsn: 1n,
      txId,
      commitTs: 1n,
      snapshot: op === 'r',
      seq: 0n,
    },
    unchangedToast: [],
    tsMs: 1n,
  };
}

const row = (onHand: unknown, reserved: unknown): Record<string, unknown> => ({
  sku: 'SKU-1',
  warehouse: 'WH-A',
  on_hand: onHand,
  reserved,
});
const keyOnly = { sku: 'SKU-1', warehouse: 'WH-A', on_hand: null, reserved: null };
const delta = (deltaOnHand: number, deltaReserved: number): DeltaOutcome => ({
  kind: 'delta',
  delta: { sku: 'SKU-1', warehouse: 'WH-A', deltaOnHand, deltaReserved },
});

describe('stockDeltaOf', () => {
  it.each<[string, ChangeEnvelope | null, DeltaOutcome | { kind: string; reason?: string }]>([
    [
      'a snapshot read sets the balance (a re-run snapshot must not add it again)',
      envelope('r', null, row(10, 2)),
      { kind: 'balance', balance: { sku: 'SKU-1', warehouse: 'WH-A', onHand: 10, reserved: 2 } },
    ],
    ['an ad-hoc re-snapshot read books nothing (already booked stock)', envelope('r', null, row(10, 2), 42n), { kind: 'none' }],
    ['an insert adds the whole row', envelope('c', null, row(5, 0)), delta(5, 0)],
    ['an update adds after − before', envelope('u', row(10, 2), row(7, 5)), delta(-3, 3)],
    ['an update that changes nothing nets to zero', envelope('u', row(10, 2), row(10, 2)), delta(0, 0)],
    ['a delete subtracts the row', envelope('d', row(4, 1), null), delta(-4, -1)],
    ['int8 quantities arrive as bigint', envelope('u', row(10n, 0n), row(12n, 1n)), delta(2, 1)],
    ['a tombstone books nothing', null, { kind: 'none' }],
    ['an update without a before image is poison', envelope('u', null, row(7, 5)), { kind: 'poison', reason: 'no-before-image' }],
    ['an update with a key-only before image is poison', envelope('u', keyOnly, row(7, 5)), { kind: 'poison', reason: 'no-before-image' }],
    ['a delete with a key-only before image is poison', envelope('d', keyOnly, null), { kind: 'poison', reason: 'no-before-image' }],
    ['a truncate cannot be netted', envelope('t', null, null), { kind: 'poison', reason: 'truncate' }],
    ['a row without its key is malformed', envelope('c', null, { on_hand: 1, reserved: 0 }), { kind: 'poison', reason: 'malformed' }],
    [
      'a row without quantities is malformed',
      envelope('c', null, { sku: 'SKU-1', warehouse: 'WH-A' }),
      { kind: 'poison', reason: 'malformed' },
    ],
  ])('%s', (_name, input, expected) => {
    expect(stockDeltaOf(input, 'stock:0@1')).toMatchObject(expected);
  });

  it('names the table to fix in the no-before-image detail', () => {
    const outcome = stockDeltaOf(envelope('u', null, row(1, 0)), 'stock:0@1');
    expect(outcome.kind === 'poison' && outcome.detail).toMatch(/REPLICA IDENTITY FULL on inventory\.stock/);
  });
});
