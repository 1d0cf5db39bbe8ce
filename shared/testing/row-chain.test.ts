import { rowChainBreaks } from './row-chain';
import type { ReadRecord } from './topic-reader';

const key = { sku: 'SKU-1', warehouse: 'WH-A' };
let offset = 0;
function record(op: string, before: number | null, after: number | null, recordKey: unknown = key): ReadRecord {
  const image = (reserved: number | null) => (reserved === null ? null : { ...key, on_hand: 10, reserved });
  return {
    topic: 't',
    partition: 0,
    offset: String(offset++),
    key: recordKey,
    value: { op, before: image(before), after: image(after), source: { lsn: BigInt(offset), txId: 7n } },
  };
}

describe('rowChainBreaks', () => {
  it('accepts a row whose every before image is the previous after image, snapshots and tombstones included', () => {
    const tombstone: ReadRecord = { topic: 't', partition: 0, offset: '99', key, value: null };
    expect(
      rowChainBreaks([record('r', null, 0), record('u', 0, 2), record('u', 2, 5), record('d', 5, null), tombstone, record('c', null, 1)]),
    ).toEqual([]);
  });

  it('names a lost change: the next before image skips a value', () => {
    const breaks = rowChainBreaks([record('r', null, 0), record('u', 0, 2), record('u', 3, 5)]);
    expect(breaks).toHaveLength(1);
    expect(breaks[0]).toMatch(/"reserved":3.*"reserved":2/);
  });

  it('names a doubled change, and keeps rows of different keys apart', () => {
    const other = { sku: 'SKU-2', warehouse: 'WH-A' };
    const breaks = rowChainBreaks([record('r', null, 0), record('r', null, 4, other), record('u', 0, 2), record('u', 0, 2)]);
    expect(breaks).toHaveLength(1);
    expect(breaks[0]).toContain('SKU-1');
  });
});
