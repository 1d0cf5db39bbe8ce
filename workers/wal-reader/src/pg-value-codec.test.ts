import { PgTypeOids, PgValueParseError, valueCodecFor } from './pg-value-codec';

const parse = (oid: number, text: string): unknown => valueCodecFor(oid).parse(text);

/** Unix-epoch micros of a UTC wall-clock time, via an independent oracle (JS Date, ms) plus extra micros. */
function utcMicros(year: number, month: number, day: number, h = 0, m = 0, s = 0, micros = 0): bigint {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // unlike Date.UTC, does not read years 0-99 as 19xx
  date.setUTCHours(h, m, s, 0);
  return BigInt(date.getTime()) * 1000n + BigInt(micros);
}
const utcDays = (year: number, month: number, day: number): number => Number(utcMicros(year, month, day) / 86_400_000_000n);

describe('valueCodecFor: Avro types (the public contract)', () => {
  it.each([
    ['bool', PgTypeOids.bool, 'boolean'],
    ['int2', PgTypeOids.int2, 'int'],
    ['int4', PgTypeOids.int4, 'int'],
    ['int8', PgTypeOids.int8, 'long'],
    ['oid', PgTypeOids.oid, 'long'],
    ['float4', PgTypeOids.float4, 'float'],
    ['float8', PgTypeOids.float8, 'double'],
    ['numeric', PgTypeOids.numeric, { type: 'string', 'pg.type': 'numeric' }],
    ['text', PgTypeOids.text, 'string'],
    ['varchar', PgTypeOids.varchar, 'string'],
    ['bpchar', PgTypeOids.bpchar, 'string'],
    ['name', PgTypeOids.name, 'string'],
    ['uuid', PgTypeOids.uuid, { type: 'string', logicalType: 'uuid' }],
    ['date', PgTypeOids.date, { type: 'int', logicalType: 'date' }],
    ['time', PgTypeOids.time, { type: 'long', logicalType: 'time-micros' }],
    ['timestamp', PgTypeOids.timestamp, { type: 'long', logicalType: 'local-timestamp-micros' }],
    ['timestamptz', PgTypeOids.timestamptz, { type: 'long', logicalType: 'timestamp-micros' }],
    ['json', PgTypeOids.json, { type: 'string', 'pg.type': 'json' }],
    ['jsonb', PgTypeOids.jsonb, { type: 'string', 'pg.type': 'jsonb' }],
    ['bytea', PgTypeOids.bytea, 'bytes'],
    ['_int8', PgTypeOids._int8, { type: 'array', items: ['null', 'long'] }],
    ['_timestamptz', PgTypeOids._timestamptz, { type: 'array', items: ['null', { type: 'long', logicalType: 'timestamp-micros' }] }],
    ['_numeric', PgTypeOids._numeric, { type: 'array', items: ['null', { type: 'string', 'pg.type': 'numeric' }] }],
    ['_bpchar', 1014, { type: 'array', items: ['null', 'string'] }],
    ['_json', 199, { type: 'array', items: ['null', { type: 'string', 'pg.type': 'json' }] }],
    ['unknown OID (e.g. an enum)', 16390, 'string'],
    ['interval (not mapped)', 1186, 'string'],
    ['_inet (array of an unmapped type)', 1041, 'string'],
  ])('%s', (_name, oid, avro) => {
    expect(valueCodecFor(oid).avro).toEqual(avro);
  });

  it('puts a known type name of an unmapped type on the string as pg.type', () => {
    expect(valueCodecFor(16390, 'mood').avro).toEqual({ type: 'string', 'pg.type': 'mood' });
    expect(valueCodecFor(16390, 'mood').parse('sad')).toBe('sad');
  });

  it('ignores the type name for mapped OIDs', () => {
    expect(valueCodecFor(PgTypeOids.int8, 'whatever').avro).toBe('long');
  });

  it('hands out frozen codecs, so one caller cannot change another caller’s schema', () => {
    const avro = valueCodecFor(PgTypeOids._date).avro;
    const items: unknown = typeof avro === 'object' && !Array.isArray(avro) ? avro.items : undefined;
    if (!Array.isArray(items)) throw new Error('expected an array schema with items');
    expect(() => items.push('x')).toThrow(TypeError);
    expect(Object.isFrozen(valueCodecFor(PgTypeOids.date).avro)).toBe(true);
  });
});

describe('scalar parsing', () => {
  it.each<[string, number, string, unknown]>([
    ['bool t', PgTypeOids.bool, 't', true],
    ['bool f', PgTypeOids.bool, 'f', false],
    ['int2 min', PgTypeOids.int2, '-32768', -32768],
    ['int4 max', PgTypeOids.int4, '2147483647', 2147483647],
    ['int4 min', PgTypeOids.int4, '-2147483648', -2147483648],
    ['int8 max', PgTypeOids.int8, '9223372036854775807', 9223372036854775807n],
    ['int8 min', PgTypeOids.int8, '-9223372036854775808', -9223372036854775808n],
    ['int8 beyond 2^53', PgTypeOids.int8, '9007199254740993', 9007199254740993n],
    ['int8 zero', PgTypeOids.int8, '0', 0n],
    ['oid max', PgTypeOids.oid, '4294967295', 4294967295n],
    ['float8 NaN', PgTypeOids.float8, 'NaN', NaN],
    ['float8 Infinity', PgTypeOids.float8, 'Infinity', Infinity],
    ['float8 -Infinity', PgTypeOids.float8, '-Infinity', -Infinity],
    ['float8 -0', PgTypeOids.float8, '-0', -0],
    ['float8 shortest-exact', PgTypeOids.float8, '0.1', 0.1],
    ['float8 max', PgTypeOids.float8, '1.7976931348623157e+308', Number.MAX_VALUE],
    ['float8 min subnormal', PgTypeOids.float8, '5e-324', Number.MIN_VALUE],
    ['float4 exponent', PgTypeOids.float4, '3.4028235e+38', 3.4028235e38],
    ['float4 small', PgTypeOids.float4, '-1.175494e-38', -1.175494e-38],
    ['numeric 30 digits', PgTypeOids.numeric, '123456789012345678901234567890.000001', '123456789012345678901234567890.000001'],
    ['numeric NaN', PgTypeOids.numeric, 'NaN', 'NaN'],
    ['numeric -Infinity', PgTypeOids.numeric, '-Infinity', '-Infinity'],
    ['numeric trailing zeros kept', PgTypeOids.numeric, '1.500', '1.500'],
    ['bpchar keeps padding', PgTypeOids.bpchar, 'ab   ', 'ab   '],
    ['text multi-byte', PgTypeOids.text, 'Grüße 🚀', 'Grüße 🚀'],
    ['text empty', PgTypeOids.text, '', ''],
    ['uuid', PgTypeOids.uuid, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
    ['jsonb as sent', PgTypeOids.jsonb, '{"a": [1, 2.50]}', '{"a": [1, 2.50]}'],
    ['unknown OID, exact text', 16390, ' spaced  label ', ' spaced  label '],
  ])('%s', (_name, oid, text, expected) => {
    expect(parse(oid, text)).toEqual(expected);
    expect(typeof parse(oid, text)).toBe(typeof expected);
  });

  it.each<[string, string, number[]]>([
    ['hex', '\\x0a0bff00', [0x0a, 0x0b, 0xff, 0x00]],
    ['hex upper-case digits', '\\xDEADBEEF', [0xde, 0xad, 0xbe, 0xef]],
    ['hex empty', '\\x', []],
    ['escape format', 'a\\000\\\\\\377z', [0x61, 0x00, 0x5c, 0xff, 0x7a]],
    ['escape format, empty', '', []],
  ])('bytea %s', (_name, text, bytes) => {
    const value = parse(PgTypeOids.bytea, text);
    expect(Buffer.isBuffer(value)).toBe(true);
    expect([...(value as Buffer)]).toEqual(bytes);
  });
});

describe('date/time parsing', () => {
  it.each<[string, number]>([
    ['1970-01-01', 0],
    ['1970-01-02', 1],
    ['1969-12-31', -1],
    ['2000-01-01', 10957],
    ['2024-02-29', utcDays(2024, 2, 29)],
    ['1900-03-01', utcDays(1900, 3, 1)],
    ['0001-01-01', -719162],
    ['0099-12-31', utcDays(99, 12, 31)],
    ['9999-12-31', 2932896],
    ['10000-01-01', 2932897],
    ['0001-12-31 BC', utcDays(0, 12, 31)],
    ['0045-01-01 BC', utcDays(-44, 1, 1)],
    ['infinity', 2147483647],
    ['-infinity', -2147483648],
  ])('date %s', (text, days) => {
    expect(parse(PgTypeOids.date, text)).toBe(days);
  });

  it.each<[string, bigint]>([
    ['00:00:00', 0n],
    ['00:00:00.000001', 1n],
    ['12:34:56.5', 45296500000n],
    ['23:59:59.999999', 86399999999n],
    ['24:00:00', 86400000000n],
  ])('time %s', (text, micros) => {
    expect(parse(PgTypeOids.time, text)).toBe(micros);
  });

  it.each<[string, bigint]>([
    ['1970-01-01 00:00:00', 0n],
    ['2000-01-01 00:00:00', 946684800000000n],
    ['1969-12-31 23:59:59.999999', -1n],
    ['2024-03-05 10:11:12.123456', utcMicros(2024, 3, 5, 10, 11, 12, 123456)],
    ['2024-03-05 10:11:12.12', utcMicros(2024, 3, 5, 10, 11, 12, 120000)],
    ['0001-01-01 00:00:00', -62135596800000000n],
    ['0050-06-15 12:00:00', utcMicros(50, 6, 15, 12)],
    ['0001-01-01 00:00:00 BC', utcMicros(0, 1, 1)],
    ['294247-01-10 04:00:54.775807', 9223372036854775807n], // the last int64 micro
    ['4714-11-24 00:00:00 BC', -210866803200000000n],
    ['infinity', 9223372036854775807n],
    ['-infinity', -9223372036854775808n],
  ])('timestamp %s (wall clock read as UTC)', (text, micros) => {
    expect(parse(PgTypeOids.timestamp, text)).toBe(micros);
  });

  it.each<[string, bigint]>([
    ['2000-01-01 00:00:00+00', 946684800000000n],
    ['1970-01-01 00:00:00+00', 0n],
    ['1969-12-31 23:59:59.999999+00', -1n],
    ['2024-03-05 10:11:12.123456+00', utcMicros(2024, 3, 5, 10, 11, 12, 123456)],
    ['2024-03-05 10:11:12.123456+05:30', utcMicros(2024, 3, 5, 4, 41, 12, 123456)],
    ['2024-03-05 10:11:12-03', utcMicros(2024, 3, 5, 13, 11, 12)],
    ['2024-03-05 10:11:12.000001+05:30:15', utcMicros(2024, 3, 5, 4, 40, 57, 1)],
    ['2024-03-05 10:11:12-00:53:28', utcMicros(2024, 3, 5, 11, 4, 40)],
    ['2024-01-01 00:30:00+01', utcMicros(2023, 12, 31, 23, 30)],
    ['0044-03-15 12:00:00+00 BC', utcMicros(-43, 3, 15, 12)],
    ['10000-01-01 00:00:00+00', utcMicros(10000, 1, 1)],
    ['infinity', 9223372036854775807n],
    ['-infinity', -9223372036854775808n],
  ])('timestamptz %s', (text, micros) => {
    expect(parse(PgTypeOids.timestamptz, text)).toBe(micros);
  });
});

describe('array parsing', () => {
  it.each<[string, number, string, unknown[]]>([
    ['empty', PgTypeOids._int4, '{}', []],
    ['ints with NULL', PgTypeOids._int4, '{1,2,NULL,-3}', [1, 2, null, -3]],
    ['int8 extremes', PgTypeOids._int8, '{9223372036854775807,-9223372036854775808}', [9223372036854775807n, -9223372036854775808n]],
    ['single NULL', PgTypeOids._int2, '{NULL}', [null]],
    ['bools', PgTypeOids._bool, '{t,f,NULL}', [true, false, null]],
    ['quoted text with escapes', PgTypeOids._text, '{"a b","x\\"y","back\\\\slash",plain}', ['a b', 'x"y', 'back\\slash', 'plain']],
    ['quoted "NULL" is a string, unquoted is null', PgTypeOids._text, '{"NULL",NULL,"null"}', ['NULL', null, 'null']],
    ['empty string element', PgTypeOids._text, '{"",a}', ['', 'a']],
    ['braces and commas inside quotes', PgTypeOids._varchar, '{"{x,y}","}"}', ['{x,y}', '}']],
    ['multi-byte', PgTypeOids._text, '{日本,"🚀 x"}', ['日本', '🚀 x']],
    ['bpchar padding kept', PgTypeOids._bpchar, '{"ab  ",cd}', ['ab  ', 'cd']],
    ['floats', PgTypeOids._float8, '{1.5,NaN,-Infinity,1e+100}', [1.5, NaN, -Infinity, 1e100]],
    ['numeric', PgTypeOids._numeric, '{1.50,NaN,NULL}', ['1.50', 'NaN', null]],
    ['dates', PgTypeOids._date, '{1970-01-02,infinity}', [1, 2147483647]],
    ['timestamptz (quoted: contains a space)', PgTypeOids._timestamptz, '{"1970-01-01 00:00:01+00",NULL}', [1000000n, null]],
    ['time', PgTypeOids._time, '{23:59:59.999999}', [86399999999n]],
    ['json', PgTypeOids._json, '{"{\\"a\\": 1}"}', ['{"a": 1}']],
    ['uuid', PgTypeOids._uuid, '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']],
    ['explicit lower bound 0', PgTypeOids._int4, '[0:1]={1,2}', [1, 2]],
    ['negative lower bound, quoted text', PgTypeOids._text, '[-2:-1]={"a b",NULL}', ['a b', null]],
  ])('%s', (_name, oid, text, expected) => {
    expect(parse(oid, text)).toEqual(expected);
  });

  it('parses bytea elements (hex, backslash escaped inside quotes)', () => {
    expect(parse(PgTypeOids._bytea, '{"\\\\x0aff",NULL}')).toEqual([Buffer.from([0x0a, 0xff]), null]);
  });

  it('keeps the raw literal for arrays of unmapped types', () => {
    expect(parse(1041, '{10.0.0.1,"::1"}')).toBe('{10.0.0.1,"::1"}');
  });
});

describe('errors', () => {
  it.each<[string, number, string, RegExp]>([
    ['bool other', PgTypeOids.bool, 'true', /not a valid bool/],
    ['int4 overflow', PgTypeOids.int4, '2147483648', /not a valid int4/],
    ['int4 empty', PgTypeOids.int4, '', /not a valid int4/],
    ['int4 fractional', PgTypeOids.int4, '1.5', /not a valid int4/],
    ['int8 overflow', PgTypeOids.int8, '9223372036854775808', /int8 \(out of range\)/],
    ['int8 empty (BigInt would say 0)', PgTypeOids.int8, '', /not a valid int8/],
    ['int8 hex (BigInt would accept)', PgTypeOids.int8, '0x10', /not a valid int8/],
    ['oid negative', PgTypeOids.oid, '-1', /oid \(out of range\)/],
    ['float empty (Number would say 0)', PgTypeOids.float8, '', /not a valid float/],
    ['float word', PgTypeOids.float8, 'inf', /not a valid float/],
    ['bytea odd hex', PgTypeOids.bytea, '\\x0a0', /bad hex/],
    ['bytea non-hex', PgTypeOids.bytea, '\\x0g', /bad hex/],
    ['bytea bad escape', PgTypeOids.bytea, 'a\\9', /bad escape/],
    ['date garbage', PgTypeOids.date, '05/03/2024', /not a valid date/],
    ['date month 13', PgTypeOids.date, '2024-13-01', /out of range/],
    ['time 24:00:01', PgTypeOids.time, '24:00:01', /time of day out of range/],
    ['time minutes 60', PgTypeOids.time, '10:60:00', /time of day out of range/],
    ['timestamp with offset', PgTypeOids.timestamp, '2024-03-05 10:11:12+00', /not a valid timestamp/],
    ['timestamp 24:00', PgTypeOids.timestamp, '2024-03-05 24:00:00', /time of day out of range/],
    ['timestamp past int64 micros', PgTypeOids.timestamp, '294247-01-10 04:00:54.775808', /beyond the int64 range/],
    ['timestamp Postgres maximum', PgTypeOids.timestamp, '294276-12-31 23:59:59.999999', /beyond the int64 range/],
    ['timestamp 7 fraction digits', PgTypeOids.timestamp, '2024-03-05 10:11:12.1234567', /not a valid timestamp/],
    ['timestamptz without offset', PgTypeOids.timestamptz, '2024-03-05 10:11:12', /not a valid timestamptz/],
    ['timestamptz with zone name', PgTypeOids.timestamptz, '2024-03-05 10:11:12 UTC', /not a valid timestamptz/],
    ['array multi-dimensional', PgTypeOids._int4, '{{1,2},{3,4}}', /multi-dimensional array has no place/],
    ['array multi-dimensional with bounds', PgTypeOids._int4, '[0:1][1:2]={{1,2},{3,4}}', /multi-dimensional array has no place/],
    ['array bounds not matching its elements', PgTypeOids._int4, '[0:2]={1,2}', /bounds do not match the elements/],
    ['array unterminated quote', PgTypeOids._text, '{"abc}', /unterminated quoted element/],
    ['array missing braces', PgTypeOids._text, 'a,b', /not a valid array literal/],
    ['array empty element', PgTypeOids._int4, '{1,,2}', /empty unquoted element/],
    ['array junk after quote', PgTypeOids._text, '{"a"b}', /expected , at 4/],
    ['array bad element', PgTypeOids._int4, '{1,x}', /not a valid int4.*"x"/],
  ])('%s', (_name, oid, text, message) => {
    expect(() => parse(oid, text)).toThrow(PgValueParseError);
    expect(() => parse(oid, text)).toThrow(message);
  });
});
