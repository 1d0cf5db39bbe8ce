import { recordsOf, type RowChange, type TransactionContext } from './change-builder';
import type { ColumnValue } from './pgoutput-decode';
import { PgTypeOids } from './pg-value-codec';
import { compileTable, type TableShape } from './table-schema';

const shape: TableShape = {
  relationOid: 1,
  schema: 'inventory',
  table: 'stock',
  replicaIdentity: 'default',
  columns: [
    { name: 'sku', isKey: true, typeOid: PgTypeOids.text, typeMod: -1 },
    { name: 'qty', isKey: false, typeOid: PgTypeOids.int8, typeMod: -1 },
    { name: 'note', isKey: false, typeOid: PgTypeOids.text, typeMod: -1 },
  ],
  primaryKey: ['sku'],
};
const table = compileTable(shape, 'p.inventory.stock');
const context: TransactionContext = {
  shard: 1,
  database: 'inventory',
  commitLsn: 0x100n,
  txId: 7n,
  commitTsMicros: 1_000_000n,
  snapshot: false,
};

const text = (value: string): ColumnValue => ({ kind: 'value', text: value });
const nul: ColumnValue = { kind: 'null' };
const toast: ColumnValue = { kind: 'unchanged-toast' };

function run(change: RowChange) {
  let seq = 0n;
  return recordsOf(change, table, context, () => seq++, 5n).map((record) => ({
    key: record.key,
    op: record.value?.op ?? 'tombstone',
    before: record.value?.before,
    after: record.value?.after,
    toast: record.value?.unchangedToast,
    seq: record.value?.source.seq,
  }));
}

describe('recordsOf', () => {
  it.each<[string, RowChange, ReturnType<typeof run>]>([
    [
      'insert',
      { kind: 'insert', after: [text('A'), text('5'), nul] },
      [{ key: { sku: 'A' }, op: 'c', before: null, after: { sku: 'A', qty: 5n, note: null }, toast: [], seq: 0n }],
    ],
    [
      'snapshot read',
      { kind: 'read', after: [text('A'), text('5'), text('n')] },
      [{ key: { sku: 'A' }, op: 'r', before: null, after: { sku: 'A', qty: 5n, note: 'n' }, toast: [], seq: 0n }],
    ],
    [
      'update without a before image, with an unchanged TOAST column named',
      { kind: 'update', before: null, after: [text('A'), text('6'), toast] },
      [{ key: { sku: 'A' }, op: 'u', before: null, after: { sku: 'A', qty: 6n, note: null }, toast: ['note'], seq: 0n }],
    ],
    [
      'update under REPLICA IDENTITY FULL takes unchanged TOAST from the old row',
      { kind: 'update', before: { kind: 'old', values: [text('A'), text('5'), text('long')] }, after: [text('A'), text('6'), toast] },
      [
        {
          key: { sku: 'A' },
          op: 'u',
          before: { sku: 'A', qty: 5n, note: 'long' },
          after: { sku: 'A', qty: 6n, note: 'long' },
          toast: [],
          seq: 0n,
        },
      ],
    ],
    [
      'primary-key change becomes delete + tombstone + create',
      { kind: 'update', before: { kind: 'key', values: [text('A'), nul, nul] }, after: [text('B'), text('6'), nul] },
      [
        { key: { sku: 'A' }, op: 'd', before: { sku: 'A', qty: null, note: null }, after: null, toast: [], seq: 0n },
        { key: { sku: 'A' }, op: 'tombstone', before: undefined, after: undefined, toast: undefined, seq: undefined },
        { key: { sku: 'B' }, op: 'c', before: null, after: { sku: 'B', qty: 6n, note: null }, toast: [], seq: 1n },
      ],
    ],
    [
      'delete is followed by a tombstone',
      { kind: 'delete', before: { kind: 'key', values: [text('A'), nul, nul] } },
      [
        { key: { sku: 'A' }, op: 'd', before: { sku: 'A', qty: null, note: null }, after: null, toast: [], seq: 0n },
        { key: { sku: 'A' }, op: 'tombstone', before: undefined, after: undefined, toast: undefined, seq: undefined },
      ],
    ],
    [
      'truncate has an all-null key',
      { kind: 'truncate' },
      [{ key: { sku: null }, op: 't', before: null, after: null, toast: [], seq: 0n }],
    ],
  ])('%s', (_name, change, expected) => {
    expect(run(change)).toEqual(expected);
  });

  it('carries the transaction context as the source position', () => {
    let seq = 41n;
    const [record] = recordsOf({ kind: 'insert', after: [text('A'), text('1'), nul] }, table, context, () => seq++, 5n);
    expect(record?.value?.source).toEqual({
      shard: 1,
      database: 'inventory',
      schema: 'inventory',
      table: 'stock',
      lsn: 0x100n,
      txId: 7n,
      commitTs: 1_000_000n,
      snapshot: false,
      seq: 41n,
    });
  });
});
