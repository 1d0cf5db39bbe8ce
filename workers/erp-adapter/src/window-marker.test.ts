import { decodeMarker, encodeMarker } from './window-marker';

describe('window marker', () => {
  it('round-trips a pending window through the offset metadata', () => {
    const metadata = encodeMarker({ from: 120n, to: 180n });
    expect(decodeMarker(metadata, 120n)).toEqual({ kind: 'pending', range: { from: 120n, to: 180n }, split: false });
  });

  it('keeps offsets beyond 2^53 exact', () => {
    const big = 2n ** 60n;
    expect(decodeMarker(encodeMarker({ from: big, to: big + 5n }), big)).toEqual({
      kind: 'pending',
      range: { from: big, to: big + 5n },
      split: false,
    });
  });

  it.each<[string, string | null, bigint, string]>([
    ['no metadata', null, 7n, 'none'],
    ['empty metadata', '', 7n, 'none'],
    ['metadata that is not JSON', 'hello', 7n, 'invalid'],
    ['JSON that is not a marker', '{"other":1}', 7n, 'invalid'],
    ['a marker with non-numeric offsets', '{"erpWindow":{"from":"a","to":"b"}}', 7n, 'invalid'],
    ['a marker not starting at the committed offset (offsets were reset)', encodeMarker({ from: 5n, to: 9n }), 7n, 'invalid'],
    ['a marker ending before it starts', '{"erpWindow":{"from":"7","to":"3"}}', 7n, 'invalid'],
  ])('reads %s as %s', (_name, metadata, committed, kind) => {
    expect(decodeMarker(metadata, committed).kind).toBe(kind);
  });
});
