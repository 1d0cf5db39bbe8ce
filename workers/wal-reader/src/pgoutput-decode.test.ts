import { type ColumnValue, decodePgoutput, type PgoutputMessage, PgoutputDecodeError } from './pgoutput-decode';

/** Builds pgoutput bytes by hand, field by field as the protocol spec lists them (big-endian). */
class Bytes {
  private readonly parts: Buffer[] = [];

  tag(char: string): this {
    return this.u8(char.charCodeAt(0));
  }

  u8(value: number): this {
    this.parts.push(Buffer.from([value]));
    return this;
  }

  i16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(value);
    this.parts.push(b);
    return this;
  }

  i32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    this.parts.push(b);
    return this;
  }

  u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.parts.push(b);
    return this;
  }

  u64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    this.parts.push(b);
    return this;
  }

  i64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(value);
    this.parts.push(b);
    return this;
  }

  str(value: string): this {
    this.parts.push(Buffer.from(value, 'utf8'), Buffer.from([0]));
    return this;
  }

  raw(value: Buffer): this {
    this.parts.push(value);
    return this;
  }

  /** TupleData: each column is null, unchanged TOAST, or text. */
  tuple(columns: ColumnValue[]): this {
    this.i16(columns.length);
    for (const column of columns) {
      if (column.kind === 'null') this.tag('n');
      else if (column.kind === 'unchanged-toast') this.tag('u');
      else {
        const text = Buffer.from(column.text, 'utf8');
        this.tag('t').i32(text.length).raw(text);
      }
    }
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const b = (): Bytes => new Bytes();
const text = (value: string): ColumnValue => ({ kind: 'value', text: value });
const NULL: ColumnValue = { kind: 'null' };
const TOAST: ColumnValue = { kind: 'unchanged-toast' };

/** 2024-03-05 10:11:12.123456 UTC, in Postgres-epoch and Unix-epoch micros, computed independently. */
const unixMicros = BigInt(Date.UTC(2024, 2, 5, 10, 11, 12)) * 1000n + 123456n;
const pgMicros = unixMicros - BigInt(Date.UTC(2000, 0, 1)) * 1000n;
const row: ColumnValue[] = [text('42'), NULL, TOAST, text('Grüße 日本 🚀'), text('')];

describe('decodePgoutput', () => {
  it.each<[string, Buffer, PgoutputMessage]>([
    [
      'Begin',
      b().tag('B').u64(0x16b374d848n).i64(pgMicros).u32(0xfffffffe).build(),
      { tag: 'begin', finalLsn: 0x16b374d848n, commitTimeMicros: unixMicros, xid: 0xfffffffe },
    ],
    [
      'Begin at the Postgres epoch',
      b().tag('B').u64(1n).i64(0n).u32(7).build(),
      { tag: 'begin', finalLsn: 1n, commitTimeMicros: 946684800000000n, xid: 7 },
    ],
    [
      'Commit with a max LSN',
      b().tag('C').u8(0).u64(0xffffffffffffffffn).u64(0x10n).i64(pgMicros).build(),
      { tag: 'commit', flags: 0, commitLsn: 0xffffffffffffffffn, endLsn: 0x10n, commitTimeMicros: unixMicros },
    ],
    [
      'Commit before the Postgres epoch (negative wire timestamp)',
      b().tag('C').u8(0).u64(1n).u64(2n).i64(-946684800000000n).build(),
      { tag: 'commit', flags: 0, commitLsn: 1n, endLsn: 2n, commitTimeMicros: 0n },
    ],
    ['Origin', b().tag('O').u64(0xabcn).str('node_ä').build(), { tag: 'origin', originLsn: 0xabcn, name: 'node_ä' }],
    [
      'Relation',
      b()
        .tag('R')
        .u32(0x80000001)
        .str('inventory')
        .str('stock_ü')
        .tag('f')
        .i16(3)
        .u8(1)
        .str('id')
        .u32(20)
        .i32(-1)
        .u8(0)
        .str('name')
        .u32(1043)
        .i32(68)
        .u8(1)
        .str('kind')
        .u32(4294967040)
        .i32(-1)
        .build(),
      {
        tag: 'relation',
        relationOid: 0x80000001,
        schema: 'inventory',
        table: 'stock_ü',
        replicaIdentity: 'full',
        columns: [
          { name: 'id', isKey: true, typeOid: 20, typeMod: -1 },
          { name: 'name', isKey: false, typeOid: 1043, typeMod: 68 },
          { name: 'kind', isKey: true, typeOid: 4294967040, typeMod: -1 },
        ],
      },
    ],
    [
      'Relation in pg_catalog (empty namespace), no columns',
      b().tag('R').u32(5).str('').str('t').tag('n').i16(0).build(),
      { tag: 'relation', relationOid: 5, schema: '', table: 't', replicaIdentity: 'nothing', columns: [] },
    ],
    ['Type', b().tag('Y').u32(16390).str('public').str('mood').build(), { tag: 'type', typeOid: 16390, schema: 'public', name: 'mood' }],
    ['Insert', b().tag('I').u32(16384).tag('N').tuple(row).build(), { tag: 'insert', relationOid: 16384, after: row }],
    ['Insert with zero columns', b().tag('I').u32(1).tag('N').tuple([]).build(), { tag: 'insert', relationOid: 1, after: [] }],
    [
      'Update without before-image',
      b().tag('U').u32(16384).tag('N').tuple(row).build(),
      { tag: 'update', relationOid: 16384, before: null, after: row },
    ],
    [
      'Update with key before-image (non-key columns are n)',
      b()
        .tag('U')
        .u32(16384)
        .tag('K')
        .tuple([text('41'), NULL])
        .tag('N')
        .tuple([text('42'), TOAST])
        .build(),
      { tag: 'update', relationOid: 16384, before: { kind: 'key', values: [text('41'), NULL] }, after: [text('42'), TOAST] },
    ],
    [
      'Update with old (FULL) before-image',
      b()
        .tag('U')
        .u32(16384)
        .tag('O')
        .tuple([text('1'), text('big')])
        .tag('N')
        .tuple([text('1'), TOAST])
        .build(),
      { tag: 'update', relationOid: 16384, before: { kind: 'old', values: [text('1'), text('big')] }, after: [text('1'), TOAST] },
    ],
    [
      'Delete with key',
      b()
        .tag('D')
        .u32(16384)
        .tag('K')
        .tuple([text('7'), NULL])
        .build(),
      { tag: 'delete', relationOid: 16384, before: { kind: 'key', values: [text('7'), NULL] } },
    ],
    [
      'Delete with old row',
      b().tag('D').u32(16384).tag('O').tuple(row).build(),
      { tag: 'delete', relationOid: 16384, before: { kind: 'old', values: row } },
    ],
    [
      'Truncate, no options',
      b().tag('T').i32(2).u8(0).u32(16384).u32(4294967295).build(),
      { tag: 'truncate', relationOids: [16384, 4294967295], cascade: false, restartIdentity: false },
    ],
    [
      'Truncate CASCADE',
      b().tag('T').i32(1).u8(1).u32(9).build(),
      { tag: 'truncate', relationOids: [9], cascade: true, restartIdentity: false },
    ],
    [
      'Truncate RESTART IDENTITY',
      b().tag('T').i32(1).u8(2).u32(9).build(),
      { tag: 'truncate', relationOids: [9], cascade: false, restartIdentity: true },
    ],
    [
      'Truncate CASCADE RESTART IDENTITY',
      b().tag('T').i32(0).u8(3).build(),
      { tag: 'truncate', relationOids: [], cascade: true, restartIdentity: true },
    ],
    [
      'transactional Message',
      b()
        .tag('M')
        .u8(1)
        .u64(0x99n)
        .str('wal-reader')
        .i32(3)
        .raw(Buffer.from([0, 0xff, 0x41]))
        .build(),
      { tag: 'message', transactional: true, lsn: 0x99n, prefix: 'wal-reader', content: Buffer.from([0, 0xff, 0x41]) },
    ],
    [
      'non-transactional empty Message',
      b().tag('M').u8(0).u64(0x99n).str('p').i32(0).build(),
      { tag: 'message', transactional: false, lsn: 0x99n, prefix: 'p', content: Buffer.alloc(0) },
    ],
  ])('decodes %s', (_name, body, expected) => {
    expect(decodePgoutput(body)).toEqual(expected);
  });

  it('keeps multi-byte UTF-8 text whole, byte lengths not char lengths', () => {
    const message = decodePgoutput(
      b()
        .tag('I')
        .u32(1)
        .tag('N')
        .tuple([text('€'), text('👍🏽x')])
        .build(),
    );
    expect(message).toEqual({ tag: 'insert', relationOid: 1, after: [text('€'), text('👍🏽x')] });
  });

  it('copies Message content so it survives reuse of the input buffer', () => {
    const body = b().tag('M').u8(1).u64(1n).str('p').i32(2).raw(Buffer.from('ab')).build();
    const message = decodePgoutput(body);
    body.fill(0);
    expect(message.tag === 'message' && message.content.toString()).toBe('ab');
  });

  it('keeps text values independent of the input buffer', () => {
    const body = b()
      .tag('I')
      .u32(1)
      .tag('N')
      .tuple([text('abc')])
      .build();
    const message = decodePgoutput(body);
    body.fill(0x7a);
    expect(message).toEqual({ tag: 'insert', relationOid: 1, after: [text('abc')] });
  });

  const insertBody = b()
    .tag('I')
    .u32(1)
    .tag('N')
    .tuple([text('hello'), NULL])
    .build();
  const relationBody = b().tag('R').u32(5).str('s').str('t').tag('d').i16(1).u8(1).str('id').u32(23).i32(-1).build();

  it.each([
    ['empty buffer', Buffer.alloc(0), /empty pgoutput message/],
    ['unknown tag', b().tag('Z').u32(1).build(), /unknown pgoutput message tag 'Z' \(0x5a\)/],
    ['streaming tag (proto 2)', b().tag('S').u32(1).u8(1).build(), /tag 'S'.*Stream Start.*proto_version 1/],
    ['two-phase tag (proto 3)', b().tag('P').build(), /tag 'P'.*Prepare/],
    ['Begin cut short', b().tag('B').u64(1n).u32(0).build(), /truncated Begin message/],
    ['Commit with only a tag', b().tag('C').build(), /truncated Commit message/],
    ['Insert cut inside the text value', insertBody.subarray(0, 15), /truncated Insert message: need 5 byte/],
    ['Insert cut before the last column', insertBody.subarray(0, insertBody.length - 1), /truncated Insert message/],
    [
      'Relation cut inside a column name',
      relationBody.subarray(0, relationBody.length - 9),
      /truncated Relation message: unterminated string/,
    ],
    ['Relation cut before typmod', relationBody.subarray(0, relationBody.length - 2), /truncated Relation message/],
    ['Truncate listing more OIDs than sent', b().tag('T').i32(3).u8(0).u32(1).build(), /truncated Truncate message: need 12 byte/],
    ['Truncate with negative count', b().tag('T').i32(-1).u8(0).build(), /negative relation count/],
    [
      'Message content shorter than its length',
      b().tag('M').u8(0).u64(1n).str('p').i32(5).raw(Buffer.from('ab')).build(),
      /truncated Message/,
    ],
    ['negative text length', b().tag('I').u32(1).tag('N').i16(1).tag('t').i32(-1).build(), /negative length -1/],
    ['binary column', b().tag('I').u32(1).tag('N').i16(2).tag('n').tag('b').i32(1).u8(0).build(), /binary column value \(column 1\)/],
    ['unknown column kind', b().tag('I').u32(1).tag('N').i16(1).tag('x').build(), /unknown column kind 'x'/],
    ['Insert without N marker', b().tag('I').u32(1).tag('K').tuple([]).build(), /expected tuple marker 'N'.*got 'K'/],
    ['Update with bad marker', b().tag('U').u32(1).tag('X').tuple([]).build(), /expected tuple marker 'K', 'O' or 'N'/],
    ['Update before-image without N', b().tag('U').u32(1).tag('K').tuple([]).tag('O').tuple([]).build(), /expected tuple marker 'N'/],
    ['Delete with N marker', b().tag('D').u32(1).tag('N').tuple([]).build(), /expected tuple marker 'K' or 'O'/],
    ['unknown replica identity', b().tag('R').u32(5).str('s').str('t').tag('x').i16(0).build(), /unknown replica identity 'x'/],
    ['trailing bytes', Buffer.concat([insertBody, Buffer.from([0])]), /Insert message: 1 unexpected trailing byte/],
  ])('rejects %s', (_name, body, message) => {
    expect(() => decodePgoutput(body)).toThrow(PgoutputDecodeError);
    expect(() => decodePgoutput(body)).toThrow(message);
  });
});
