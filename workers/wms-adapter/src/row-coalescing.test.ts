import { coalesceByRow } from './row-coalescing';

/** Items are `<row>@<offset>`; the row is everything before the `@`. */
const rowOf = (item: string): string => item.split('@')[0]!;

describe('coalesceByRow', () => {
  it.each([
    ['nothing', [], []],
    ['one change of one row', ['A|1@0'], [{ newest: 'A|1@0', superseded: [] }]],
    [
      'a hot row: only the last is sent, the rest in offset order',
      ['A|1@0', 'A|1@1', 'A|1@2'],
      [{ newest: 'A|1@2', superseded: ['A|1@0', 'A|1@1'] }],
    ],
    [
      'two warehouses of one SKU are two rows',
      ['A|1@0', 'A|2@1', 'A|1@2'],
      [
        { newest: 'A|2@1', superseded: [] },
        { newest: 'A|1@2', superseded: ['A|1@0'] },
      ],
    ],
    [
      'interleaved rows, ordered by the offset of each row’s newest change',
      ['B|1@0', 'A|1@1', 'B|1@2', 'C|1@3', 'A|1@4', 'B|1@5'],
      [
        { newest: 'C|1@3', superseded: [] },
        { newest: 'A|1@4', superseded: ['A|1@1'] },
        { newest: 'B|1@5', superseded: ['B|1@0', 'B|1@2'] },
      ],
    ],
  ])('%s', (_name, items, expected) => {
    expect(coalesceByRow(items, rowOf)).toEqual(expected);
  });

  it('loses no change and keeps exactly the last one of every row, whatever the interleaving', () => {
    const items = Array.from({ length: 500 }, (_, offset) => `R${Math.floor(Math.random() * 7)}@${offset}`);
    const rows = coalesceByRow(items, rowOf);
    expect(rows.flatMap((row) => [...row.superseded, row.newest]).sort()).toEqual([...items].sort());
    for (const row of rows) {
      const own = items.filter((item) => rowOf(item) === rowOf(row.newest));
      expect(row.newest).toBe(own.at(-1));
      expect(row.superseded).toEqual(own.slice(0, -1));
    }
    expect(new Set(rows.map((row) => rowOf(row.newest))).size).toBe(rows.length);
  });
});
