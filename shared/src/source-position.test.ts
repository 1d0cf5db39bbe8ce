import { comparePositions, decodePosition, encodePosition, formatLsn, parseLsn, type SourcePosition } from './source-position';

describe('LSNs', () => {
  it.each([
    ['0/152FDD0', 0x152fdd0n],
    ['00000000/0152FDD0', 0x152fdd0n],
    ['16/B374D848', (0x16n << 32n) | 0xb374d848n],
    ['FFFFFFFF/FFFFFFFF', 0xffffffffffffffffn],
  ])('parses %s', (text, value) => {
    expect(parseLsn(text)).toBe(value);
  });

  it('formats the way Postgres prints, and round-trips', () => {
    expect(formatLsn(0x152fdd0n)).toBe('0/152FDD0');
    expect(parseLsn(formatLsn(0x16b374d848n))).toBe(0x16b374d848n);
  });

  it.each(['', '0', '0/', 'x/1', '123456789/0'])('rejects %j', (text) => {
    expect(() => parseLsn(text)).toThrow(/not an LSN/);
  });
});

describe('source positions', () => {
  const positions: SourcePosition[] = [
    { shard: 1, commitLsn: 0x0fn, seq: 3 },
    { shard: 1, commitLsn: 0x10n, seq: 0 },
    { shard: 1, commitLsn: 0x10n, seq: 2 },
    { shard: 1, commitLsn: 0x1_0000_0000n, seq: 1 },
  ];

  it('encoded strings sort exactly like the positions', () => {
    const encoded = positions.map(encodePosition);
    expect([...encoded].reverse().sort()).toEqual(encoded);
    for (let i = 1; i < positions.length; i++) expect(comparePositions(positions[i - 1]!, positions[i]!)).toBeLessThan(0);
  });

  it('round-trips through the encoding', () => {
    for (const position of positions) expect(decodePosition(encodePosition(position))).toEqual(position);
    expect(encodePosition({ shard: 2, commitLsn: 0x16b374d848n, seq: 7 })).toBe('0002:00000016b374d848:00000007');
  });

  it('refuses to order positions of different shards', () => {
    expect(() => comparePositions({ shard: 0, commitLsn: 1n, seq: 0 }, { shard: 1, commitLsn: 1n, seq: 0 })).toThrow(/different shards/);
  });
});
