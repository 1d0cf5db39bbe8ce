import { compareSlice } from './audit-compare';

const at = (lsn: number): string => `0000:${lsn.toString(16).padStart(16, '0')}:ffffffff`;
const audit = at(100);
const row = (sku: string, warehouse: string, onHand: number, reserved = 0) => ({ sku, warehouse, on_hand: onHand, reserved });
const hash = (warehouse: string, onHand: number, reserved: number, position: string): Record<string, string> => ({
  [`oh:${warehouse}`]: String(onHand),
  [`rs:${warehouse}`]: String(reserved),
  [`av:${warehouse}`]: String(onHand - reserved),
  [`p:${warehouse}`]: position,
});

describe('compareSlice', () => {
  it('finds no drift where Redis holds the audit’s figures behind its position', () => {
    const result = compareSlice([row('A', 'WH-A', 5, 1)], new Map([['A', hash('WH-A', 5, 1, at(90))]]), audit);
    expect(result).toEqual({ compared: 1, newer: 0, drift: [] });
  });

  it('reports a value changed behind the fleet’s back, with both figures and Redis’s position', () => {
    const result = compareSlice([row('A', 'WH-A', 5, 1)], new Map([['A', hash('WH-A', 9, 1, at(90))]]), audit);
    expect(result.drift).toEqual([
      { sku: 'A', warehouse: 'WH-A', expected: { onHand: 5, reserved: 1 }, got: { onHand: 9, reserved: 1 }, redisPosition: at(90) },
    ]);
  });

  it('leaves rows Redis holds at or past the audit’s position alone: they are newer', () => {
    const hashes = new Map([
      ['A', hash('WH-A', 7, 0, at(120))],
      ['B', hash('WH-A', 7, 0, audit)],
    ]);
    expect(compareSlice([row('A', 'WH-A', 5), row('B', 'WH-A', 5)], hashes, audit)).toEqual({ compared: 0, newer: 2, drift: [] });
  });

  it('reports rows missing from Redis and rows Redis has but Postgres lacks', () => {
    const hashes = new Map([['B', { ...hash('WH-A', 1, 0, at(10)), ...hash('WH-Z', 3, 0, at(20)) }]]);
    const result = compareSlice([row('A', 'WH-A', 5), row('B', 'WH-A', 1)], hashes, audit);
    expect(result.compared).toBe(3);
    expect(result.drift).toEqual([
      { sku: 'A', warehouse: 'WH-A', expected: { onHand: 5, reserved: 0 }, got: undefined, redisPosition: undefined },
      { sku: 'B', warehouse: 'WH-Z', expected: undefined, got: { onHand: 3, reserved: 0 }, redisPosition: at(20) },
    ]);
  });

  it('counts a deleted row (position kept, figures gone) as equal to a row Postgres lacks', () => {
    const tombstone = { 'p:WH-A': at(50) };
    expect(compareSlice([], new Map([['A', tombstone]]), audit)).toEqual({ compared: 0, newer: 0, drift: [] });
    expect(compareSlice([row('A', 'WH-A', 2)], new Map([['A', tombstone]]), audit).drift).toHaveLength(1);
  });
});
