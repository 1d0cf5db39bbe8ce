import { formatReconciliation, reconcile, type StockView } from './stock-reconcile';

const view = (entries: Array<[string, number, number]>): StockView =>
  new Map(entries.map(([key, onHand, reserved]) => [key, { onHand, reserved }]));

describe('reconciliation', () => {
  const truth = view([
    ['SKU-1|WH-A', 10, 2],
    ['SKU-2|WH-A', 5, 0],
  ]);

  it('passes when every system equals Postgres on every key', () => {
    const result = reconcile(truth, { Redis: view([...truth].map(([k, v]) => [k, v.onHand, v.reserved])), WMS: new Map(truth) });
    expect(result.differences).toEqual([]);
    expect(formatReconciliation(result)).toEqual(['reconciliation: 2 stock rows, Postgres = Redis = WMS on every one']);
  });

  it('names each differing key, the system and by how much', () => {
    const result = reconcile(truth, {
      Redis: view([
        ['SKU-1|WH-A', 10, 3],
        ['SKU-3|WH-B', 1, 0],
      ]),
      ERP: new Map(truth),
    });
    expect(result.differences.map((difference) => `${difference.system} ${difference.key}`)).toEqual([
      'Redis SKU-1|WH-A',
      'Redis SKU-2|WH-A',
      'Redis SKU-3|WH-B',
    ]);
    const lines = formatReconciliation(result);
    expect(lines[0]).toBe('reconciliation: 3 differences over 2 stock rows');
    expect(lines[1]).toBe('  Redis    3 keys differ');
    expect(lines[2]).toBe('  ERP      equal to Postgres');
    expect(lines[3]).toContain('SKU-1|WH-A             reserved +1');
    expect(lines[4]).toContain('missing');
    expect(lines[5]).toContain('not in Postgres');
  });

  it('lists at most the limit and counts the rest', () => {
    const empty = reconcile(truth, { WMS: new Map() });
    expect(formatReconciliation(empty, 1).at(-1)).toBe('  … and 1 more');
  });
});
