import { netLines, postingIdOf, postingOf } from './posting-builder';
import type { StockBalance, StockDelta, StockLine } from './stock-delta';

const d = (sku: string, warehouse: string, deltaOnHand: number, deltaReserved = 0): StockDelta => ({
  sku,
  warehouse,
  deltaOnHand,
  deltaReserved,
});

describe('netLines', () => {
  it.each<[string, StockDelta[], StockDelta[]]>([
    ['sums per sku and warehouse', [d('A', 'W1', 5, 1), d('A', 'W1', -2, 1), d('A', 'W2', 1)], [d('A', 'W1', 3, 2), d('A', 'W2', 1)]],
    ['drops lines that net to zero', [d('A', 'W1', -1, 1), d('A', 'W1', 1, -1), d('B', 'W1', 2)], [d('B', 'W1', 2)]],
    ['keeps a line with only a reserved change', [d('A', 'W1', 0, 3)], [d('A', 'W1', 0, 3)]],
    [
      'sorts by sku, then warehouse',
      [d('B', 'W1', 1), d('A', 'W2', 1), d('A', 'W1', 1)],
      [d('A', 'W1', 1), d('A', 'W2', 1), d('B', 'W1', 1)],
    ],
    ['nothing in, nothing out', [], []],
  ])('%s', (_name, deltas, expected) => {
    expect(netLines(deltas)).toEqual(expected);
  });

  it('does not alter the deltas it sums', () => {
    const deltas = [d('A', 'W1', 1), d('A', 'W1', 1)];
    netLines(deltas);
    expect(deltas).toEqual([d('A', 'W1', 1), d('A', 'W1', 1)]);
  });
});

describe('netLines with balances (snapshot reads)', () => {
  const b = (sku: string, onHand: number, reserved = 0): StockBalance => ({ sku, warehouse: 'W1', onHand, reserved });

  it.each<[string, StockLine[], StockLine[]]>([
    ['a balance replaces the deltas before it', [d('A', 'W1', 5), b('A', 10)], [b('A', 10)]],
    ['deltas after a balance add to it, and it stays a balance', [b('A', 10, 1), d('A', 'W1', -3, 1)], [b('A', 7, 2)]],
    ['the later of two balances wins (a snapshot read twice)', [b('A', 10), b('A', 10)], [b('A', 10)]],
    ['a balance of zero is kept: it is a booking', [b('A', 0)], [b('A', 0)]],
  ])('%s', (_name, lines, expected) => {
    expect(netLines(lines)).toEqual(expected);
  });
});

describe('postingOf', () => {
  const range = { from: 100n, to: 149n };

  it('is deterministic in id and lines for the same records', () => {
    const deltas = [d('A', 'W1', 5), d('B', 'W1', -1)];
    const first = postingOf('p.inventory.stock', 3, range, deltas, new Date('2026-01-01T00:00:00Z'));
    const again = postingOf('p.inventory.stock', 3, range, [...deltas].reverse(), new Date('2026-01-02T00:00:00Z'));
    expect(first).toEqual({
      postingId: 'p.inventory.stock:3:100-149',
      lines: [d('A', 'W1', 5), d('B', 'W1', -1)],
      window: { from: '100', to: '149' },
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    expect(again?.postingId).toBe(first?.postingId);
    expect(again?.lines).toEqual(first?.lines);
  });

  it('is undefined when the window nets to nothing', () => {
    expect(postingOf('t', 0, range, [d('A', 'W1', 1), d('A', 'W1', -1)], new Date())).toBeUndefined();
  });

  it('names topic, partition and offset range in the id', () => {
    expect(postingIdOf('x.inventory.stock', 0, { from: 0n, to: 0n })).toBe('x.inventory.stock:0:0-0');
  });
});
