import { isReplayed, ledgerCommit, ledgerOf, pendingOffsets, withReplayed } from './replay-ledger';

describe('replay ledger', () => {
  it('starts at the log start when the group has no committed offset', () => {
    const ledger = ledgerOf('-1', null, 5n);
    expect(ledger).toEqual({ next: 5n, done: new Set() });
    expect(isReplayed(ledger, 4n)).toBe(true);
    expect(isReplayed(ledger, 5n)).toBe(false);
  });

  it('reads the committed offset and the individually replayed ranges, ignoring ranges below it', () => {
    const ledger = ledgerOf('10', '8-9,12-14,17', 0n);
    expect(ledger.next).toBe(10n);
    expect([...ledger.done].sort()).toEqual([12n, 13n, 14n, 17n]);
    expect([10n, 12n, 15n, 17n].map((offset) => isReplayed(ledger, offset))).toEqual([false, true, false, true]);
  });

  it('moves the committed offset over offsets that become contiguous', () => {
    const ledger = withReplayed(ledgerOf('10', '11-12,15', 0n), [10n]);
    expect(ledger).toEqual({ next: 13n, done: new Set([15n]) });
    expect(ledgerCommit(ledger)).toEqual({ offset: '13', metadata: '15' });
  });

  it('stores single replays above the committed offset as compact ranges', () => {
    const ledger = withReplayed(ledgerOf('0', null, 0n), [7n, 3n, 4n, 5n, 9n]);
    expect(ledgerCommit(ledger)).toEqual({ offset: '0', metadata: '3-5,7,9' });
    expect(ledgerOf(ledgerCommit(ledger).offset, ledgerCommit(ledger).metadata, 0n)).toEqual(ledger);
  });

  it('lists what is left to replay in a range', () => {
    expect(pendingOffsets(ledgerOf('2', '4', 0n), 0n, 7n)).toEqual([2n, 3n, 5n, 6n]);
  });

  it('refuses metadata it cannot read instead of guessing', () => {
    expect(() => ledgerOf('0', 'erpWindow', 0n)).toThrow(/unreadable replay ledger/);
  });
});
