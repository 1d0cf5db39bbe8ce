/**
 * Postgres column type -> Avro field type, and column text -> the JS value avsc writes for it.
 *
 * PUBLIC CONTRACT for consumers of the Avro topics (change it only with a schema-compatibility plan):
 *
 * | Postgres                      | Avro                                                 | JS value      |
 * |-------------------------------|------------------------------------------------------|---------------|
 * | bool                          | boolean                                              | boolean       |
 * | int2, int4                    | int                                                  | number        |
 * | int8, oid                     | long                                                 | bigint        |
 * | float4 / float8               | float / double (NaN, Infinity, -Infinity kept)       | number        |
 * | numeric                       | {string, pg.type: numeric}: exact decimal text       | string        |
 * | text, varchar, bpchar, name   | string (bpchar keeps its blank padding)              | string        |
 * | uuid                          | {string, logicalType: uuid}                          | string        |
 * | date                          | {int, logicalType: date}: days since 1970-01-01      | number        |
 * | time                          | {long, logicalType: time-micros}                     | bigint        |
 * | timestamp                     | {long, logicalType: local-timestamp-micros}          | bigint        |
 * | timestamptz                   | {long, logicalType: timestamp-micros}: UTC           | bigint        |
 * | json, jsonb                   | {string, pg.type: json / jsonb}: text as sent        | string        |
 * | bytea                         | bytes                                                | Buffer        |
 * | one-dimensional arrays of the | {array, items: [null, element type]}                 | (T | null)[]  |
 * |   types above (any lower      |                                                      |               |
 * |   bound)                      |                                                      |               |
 * | anything else (fallback)      | string, or {string, pg.type: <typeName>} if known    | string        |
 *
 * Why these choices:
 * - numeric is a string: without a typmod it has no fixed scale, and NaN / +-Infinity exist; an Avro
 *   decimal can hold neither, and a double would lose digits. The text is exactly Postgres's output.
 * - Dates, times and timestamps are computed from the ISO text (DateStyle=ISO, TimeZone=UTC) with
 *   proleptic-Gregorian arithmetic, as Postgres does: no JS Date, which has only milliseconds, reads
 *   two-digit years as 19xx and would apply the local zone to `timestamp`. `timestamp` (no zone) is the
 *   wall-clock time as if it were UTC. BC years (` BC` suffix) are astronomical year 1 - Y.
 * - `infinity` / `-infinity`: date -> int32 max / min; timestamp(tz) -> int64 max / min. Timestamps
 *   after 294247-01-10 04:00:54.775807 (Postgres allows up to 294276 AD) do not fit int64 Unix-epoch
 *   micros and are refused.
 * - time `24:00:00` (valid in Postgres) is 86400000000.
 * - Arrays: the elements in order. A lower bound other than 1 (`'[0:1]={1,2}'`) is not kept: Avro arrays
 *   have none. A multi-dimensional value (`'{{1,2},{3,4}}'`) has no faithful place in the array of
 *   elements — an `int4[]` column's type (one OID for any number of dimensions) cannot announce nested
 *   arrays in the schema — so it is refused (`PgValueParseError`), and the reader halts naming the column.
 * - Every Avro long is a JS bigint (the registry's avsc `long` type is bigint-backed), including the
 *   logical time types. Array items are `['null', T]`, which avsc unwraps: elements are `T | null`.
 * - Fallback: enums (their label), domains, citext, interval, inet, money, multi-range, arrays of other
 *   types and every other OID map to string holding Postgres's text output unchanged. A known typeName
 *   becomes `pg.type` on that string, so callers must pass it consistently (it is part of the schema).
 */

export type AvroType = string | { type: string; [key: string]: unknown } | AvroType[];
export interface ValueCodec {
  avro: AvroType;
  parse: (text: string) => unknown;
}

/** A column's text could not be read as its declared type (Postgres never prints it that way). */
export class PgValueParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgValueParseError';
  }
}

/** Built-in type OIDs (stable across Postgres versions: they are assigned in pg_type.dat). */
export const PgTypeOids = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
  _bool: 1000,
  _bytea: 1001,
  _int2: 1005,
  _int4: 1007,
  _text: 1009,
  _bpchar: 1014,
  _varchar: 1015,
  _int8: 1016,
  _float4: 1021,
  _float8: 1022,
  _date: 1182,
  _time: 1183,
  _timestamp: 1115,
  _timestamptz: 1185,
  _numeric: 1231,
  _uuid: 2951,
  _json: 199,
  _jsonb: 3807,
} as const satisfies { readonly [name: string]: number };

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;
const UINT32_MAX = 4294967295n;
const SECONDS_PER_DAY = 86400;

const intPattern = /^-?\d{1,10}$/;
const bigintPattern = /^-?\d{1,20}$/;
const floatPattern = /^(?:-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|NaN|-?Infinity)$/;
const octalEscapePattern = /^[0-3][0-7][0-7]$/;
const datePattern = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;
const timePattern = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;
const timestampPattern = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?( BC)?$/;
/** Offset: `+HH`, `+HH:MM` or `+HH:MM:SS` (minutes/seconds printed only when non-zero); ` BC` comes after it. */
const timestamptzPattern = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([-+])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/;
/** Multiplier turning an n-digit fraction of a second into micros (Postgres trims trailing zeros). */
const FRACTION_SCALE = [0, 100000, 10000, 1000, 100, 10, 1];

function fail(what: string, text: string, why = ''): never {
  throw new PgValueParseError(
    `not a valid ${what}${why ? ` (${why})` : ''}: ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)}`,
  );
}

function parseBool(text: string): boolean {
  if (text === 't') return true;
  if (text === 'f') return false;
  return fail('bool', text);
}

function parseInt32(text: string): number {
  const value = intPattern.test(text) ? Number(text) : NaN;
  if (!(value >= INT32_MIN && value <= INT32_MAX)) fail('int4', text);
  return value;
}

function parseInt64(text: string): bigint {
  if (!bigintPattern.test(text)) fail('int8', text);
  const value = BigInt(text);
  if (value < INT64_MIN || value > INT64_MAX) fail('int8', text, 'out of range');
  return value;
}

function parseOid(text: string): bigint {
  const value = parseInt64(text);
  if (value < 0n || value > UINT32_MAX) fail('oid', text, 'out of range');
  return value;
}

function parseFloatText(text: string): number {
  if (!floatPattern.test(text)) fail('float', text);
  return Number(text);
}

function identity(text: string): string {
  return text;
}

/** Hex format (`\x0a0b`, bytea_output=hex) or, for robustness, the escape format (`a\000\\`). */
function parseBytea(text: string): Buffer {
  if (text.startsWith('\\x')) {
    const hexLength = text.length - 2;
    const bytes = Buffer.from(text.slice(2), 'hex');
    // Buffer.from(…, 'hex') stops silently at the first non-hex pair; a short result exposes that.
    if (hexLength % 2 !== 0 || bytes.length * 2 !== hexLength) fail('bytea', text, 'bad hex');
    return bytes;
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5c) {
      if (text.charCodeAt(i + 1) === 0x5c) {
        bytes.push(0x5c);
        i += 1;
        continue;
      }
      const octal = text.slice(i + 1, i + 4);
      if (!octalEscapePattern.test(octal)) fail('bytea', text, `bad escape at ${i}`);
      bytes.push(parseInt(octal, 8));
      i += 3;
    } else if (code > 0x7e) {
      fail('bytea', text, 'escape format prints non-ASCII bytes as octal');
    } else {
      bytes.push(code);
    }
  }
  return Buffer.from(bytes);
}

/**
 * Days from 1970-01-01 to a proleptic-Gregorian date, for any (astronomical) year. Howard Hinnant's
 * days_from_civil: years are counted from March so the leap day is the last day of the year.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** Days since the Unix epoch of the date in capture groups 1-3 (+ the ` BC` group), range-checked. */
function epochDays(what: string, text: string, m: RegExpExecArray, bcGroup: number): number {
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > 31) fail(what, text, 'month or day out of range');
  return daysFromCivil(m[bcGroup] === undefined ? year : 1 - year, month, day);
}

function parseDate(text: string): number {
  if (text === 'infinity') return INT32_MAX;
  if (text === '-infinity') return INT32_MIN;
  const m = datePattern.exec(text);
  if (!m) return fail('date', text);
  return epochDays('date', text, m, 4);
}

/** Seconds of the day from groups h, m, s at `at`, `at+1`, `at+2`; 24:00:00 only where `allow24`. */
function daySeconds(what: string, text: string, m: RegExpExecArray, at: number, allow24: boolean): number {
  const hours = Number(m[at]);
  const minutes = Number(m[at + 1]);
  const seconds = Number(m[at + 2]);
  if (
    minutes > 59 ||
    seconds > 59 ||
    hours > 24 ||
    (hours === 24 && !(allow24 && minutes === 0 && seconds === 0 && m[at + 3] === undefined))
  ) {
    fail(what, text, 'time of day out of range');
  }
  return hours * 3600 + minutes * 60 + seconds;
}

function fractionMicros(fraction: string | undefined): number {
  return fraction === undefined ? 0 : Number(fraction) * FRACTION_SCALE[fraction.length]!;
}

/**
 * Exact `seconds * 10^6 + micros` as bigint; one BigInt conversion when the Number result is exact.
 * Postgres timestamps reach 294276 AD but int64 Unix-epoch micros end at 294247-01-10 04:00:54.775807
 * (Postgres counts from 2000, 30 years later), so the last ~29 millennia are refused, not wrapped.
 */
function toMicros(what: string, text: string, seconds: number, micros: number): bigint {
  const total = seconds * 1e6 + micros;
  // A product or sum beyond 2^53 rounds to >= 2^53, so a safe integer result is an exact one.
  if (Number.isSafeInteger(total)) return BigInt(total);
  const exact = BigInt(seconds) * 1_000_000n + BigInt(micros);
  if (exact > INT64_MAX || exact < INT64_MIN) fail(what, text, 'beyond the int64 range of Avro long micros');
  return exact;
}

function parseTime(text: string): bigint {
  const m = timePattern.exec(text);
  if (!m) return fail('time', text);
  return toMicros('time', text, daySeconds('time', text, m, 1, true), fractionMicros(m[4]));
}

function parseTimestamp(text: string): bigint {
  if (text === 'infinity') return INT64_MAX;
  if (text === '-infinity') return INT64_MIN;
  const m = timestampPattern.exec(text);
  if (!m) return fail('timestamp', text);
  const seconds = epochDays('timestamp', text, m, 8) * SECONDS_PER_DAY + daySeconds('timestamp', text, m, 4, false);
  return toMicros('timestamp', text, seconds, fractionMicros(m[7]));
}

function parseTimestamptz(text: string): bigint {
  if (text === 'infinity') return INT64_MAX;
  if (text === '-infinity') return INT64_MIN;
  const m = timestamptzPattern.exec(text);
  if (!m) return fail('timestamptz', text);
  const offset = Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0);
  const local = epochDays('timestamptz', text, m, 12) * SECONDS_PER_DAY + daySeconds('timestamptz', text, m, 4, false);
  // The printed time is UTC + offset, so UTC = printed - offset.
  return toMicros('timestamptz', text, m[8] === '-' ? local + offset : local - offset, fractionMicros(m[7]));
}

function codec(avro: AvroType, parse: (text: string) => unknown): ValueCodec {
  return Object.freeze({ avro: deepFreeze(avro), parse });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const scalarCodecs = new Map<number, ValueCodec>([
  [PgTypeOids.bool, codec('boolean', parseBool)],
  [PgTypeOids.int2, codec('int', parseInt32)],
  [PgTypeOids.int4, codec('int', parseInt32)],
  [PgTypeOids.int8, codec('long', parseInt64)],
  [PgTypeOids.oid, codec('long', parseOid)],
  [PgTypeOids.float4, codec('float', parseFloatText)],
  [PgTypeOids.float8, codec('double', parseFloatText)],
  [PgTypeOids.numeric, codec({ type: 'string', 'pg.type': 'numeric' }, identity)],
  [PgTypeOids.text, codec('string', identity)],
  [PgTypeOids.varchar, codec('string', identity)],
  [PgTypeOids.bpchar, codec('string', identity)],
  [PgTypeOids.name, codec('string', identity)],
  [PgTypeOids.uuid, codec({ type: 'string', logicalType: 'uuid' }, identity)],
  [PgTypeOids.date, codec({ type: 'int', logicalType: 'date' }, parseDate)],
  [PgTypeOids.time, codec({ type: 'long', logicalType: 'time-micros' }, parseTime)],
  [PgTypeOids.timestamp, codec({ type: 'long', logicalType: 'local-timestamp-micros' }, parseTimestamp)],
  [PgTypeOids.timestamptz, codec({ type: 'long', logicalType: 'timestamp-micros' }, parseTimestamptz)],
  [PgTypeOids.json, codec({ type: 'string', 'pg.type': 'json' }, identity)],
  [PgTypeOids.jsonb, codec({ type: 'string', 'pg.type': 'jsonb' }, identity)],
  [PgTypeOids.bytea, codec('bytes', parseBytea)],
]);

/** Array OID -> element OID (pg_type.typelem). */
const arrayElements: ReadonlyArray<readonly [number, number]> = [
  [PgTypeOids._bool, PgTypeOids.bool],
  [PgTypeOids._bytea, PgTypeOids.bytea],
  [PgTypeOids._int2, PgTypeOids.int2],
  [PgTypeOids._int4, PgTypeOids.int4],
  [PgTypeOids._text, PgTypeOids.text],
  [PgTypeOids._bpchar, PgTypeOids.bpchar],
  [PgTypeOids._varchar, PgTypeOids.varchar],
  [PgTypeOids._int8, PgTypeOids.int8],
  [PgTypeOids._float4, PgTypeOids.float4],
  [PgTypeOids._float8, PgTypeOids.float8],
  [PgTypeOids._date, PgTypeOids.date],
  [PgTypeOids._time, PgTypeOids.time],
  [PgTypeOids._timestamp, PgTypeOids.timestamp],
  [PgTypeOids._timestamptz, PgTypeOids.timestamptz],
  [PgTypeOids._numeric, PgTypeOids.numeric],
  [PgTypeOids._uuid, PgTypeOids.uuid],
  [PgTypeOids._json, PgTypeOids.json],
  [PgTypeOids._jsonb, PgTypeOids.jsonb],
];

const codecs = new Map<number, ValueCodec>(scalarCodecs);
for (const [arrayOid, elementOid] of arrayElements) {
  const element = scalarCodecs.get(elementOid)!;
  codecs.set(
    arrayOid,
    codec({ type: 'array', items: ['null', element.avro] }, (text) => parseArrayLiteral(text, element.parse)),
  );
}

const fallbackCodec = codec('string', identity);

/** Codec for a column type; never throws (unknown OIDs get the documented string fallback). */
export function valueCodecFor(typeOid: number, typeName?: string): ValueCodec {
  const known = codecs.get(typeOid);
  if (known) return known;
  return typeName ? codec({ type: 'string', 'pg.type': typeName }, identity) : fallbackCodec;
}

function refuseDimensions(text: string): never {
  throw new PgValueParseError(
    `a multi-dimensional array has no place in the column's Avro array of elements: ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)}`,
  );
}

const BRACE_OPEN = 0x7b; // {
const BRACE_CLOSE = 0x7d; // }
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** array_out's dimension decoration, printed when a lower bound is not 1: `[lo:hi]` per dimension, then `=`. */
const boundsPattern = /^((?:\[-?\d+:-?\d+\])+)=/;

/**
 * Parses array_out's output for a one-dimensional array: `{a,"b c",NULL}`. Elements that are empty, equal
 * NULL (any case), or contain `{},"\` or whitespace are double-quoted with `"` and `\` backslash-escaped;
 * so an unquoted NULL is SQL NULL and a quoted "NULL" is the string. A lower bound other than 1 is printed
 * as a `[lo:hi]=` prefix: the elements are kept, the bound is not. More dimensions (nested braces, or
 * several bounds) are refused: the Avro array of elements has no place for them.
 */
function parseArrayLiteral(text: string, parseElement: (text: string) => unknown): unknown[] {
  const bounds = boundsPattern.exec(text);
  if (bounds) {
    const dimensions = [...bounds[1]!.matchAll(/\[(-?\d+):(-?\d+)\]/g)];
    if (dimensions.length > 1) refuseDimensions(text);
    const elements = parseArrayLiteral(text.slice(bounds[0].length), parseElement);
    const [, lower, upper] = dimensions[0]!;
    if (Number(upper) - Number(lower) + 1 !== elements.length) fail('array literal', text, 'bounds do not match the elements');
    return elements;
  }
  if (text.charCodeAt(0) !== BRACE_OPEN || text.charCodeAt(text.length - 1) !== BRACE_CLOSE) fail('array literal', text);
  if (text.charCodeAt(1) === BRACE_OPEN) refuseDimensions(text);
  const result: unknown[] = [];
  const end = text.length - 1;
  if (end === 1) return result;
  let i = 1;
  for (;;) {
    let element: string | null;
    if (text.charCodeAt(i) === QUOTE) {
      element = '';
      let start = ++i;
      for (;;) {
        if (i >= end) fail('array literal', text, 'unterminated quoted element');
        const code = text.charCodeAt(i);
        if (code === QUOTE) break;
        if (code === BACKSLASH) {
          element += text.slice(start, i);
          start = ++i; // keep the escaped character itself
        }
        i++;
      }
      element += text.slice(start, i);
      i++; // closing quote
    } else {
      const start = i;
      while (i < end && text.charCodeAt(i) !== COMMA) {
        const code = text.charCodeAt(i);
        if (code === BRACE_OPEN || code === BRACE_CLOSE || code === QUOTE || code === BACKSLASH) {
          fail('array literal', text, `unexpected ${text[i]} at ${i}`);
        }
        i++;
      }
      element = text.slice(start, i);
      if (element.length === 0) fail('array literal', text, `empty unquoted element at ${start}`);
      if (element.length === 4 && element.toUpperCase() === 'NULL') element = null;
    }
    result.push(element === null ? null : parseElement(element));
    if (i === end) return result;
    if (text.charCodeAt(i) !== COMMA) fail('array literal', text, `expected , at ${i}`);
    i++;
  }
}
