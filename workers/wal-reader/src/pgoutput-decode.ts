/**
 * Decoder for one pgoutput logical replication message (protocol version 1, text mode, Postgres 15).
 * Spec: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
 *
 * Input is the XLogData payload after its 25-byte header; the first byte is the message tag. Protocol
 * facts this decoder relies on:
 * - All integers are big-endian. LSNs are unsigned 64-bit; XIDs and OIDs are unsigned 32-bit; `typmod`
 *   is signed (-1 = none). Timestamps are signed Int64 microseconds since 2000-01-01 00:00:00 UTC.
 * - Strings are NUL-terminated and, like the column text, in the connection's client_encoding, which
 *   must be UTF8 (invalid UTF-8 would silently decode to U+FFFD).
 * - Proto 1 has no streaming (`S`/`E`/`c`/`A`) or two-phase messages, and no XID field inside changes;
 *   seeing one means the slot was started with options this decoder does not speak.
 * - TupleData lists exactly the columns of the latest Relation message for that OID (dropped and
 *   generated columns are never sent), so values are positional.
 * - A `K` (key) before-image is a full-width tuple in which non-key columns are `n`: there it means
 *   "not part of the key", not SQL NULL. `K` appears on UPDATE only when the key changed; `O` (REPLICA
 *   IDENTITY FULL) appears on every UPDATE/DELETE and is detoasted by the server, so it can fill in the
 *   `u` (unchanged TOAST) columns of the new image, which only UPDATE new tuples carry.
 */

export type ColumnValue = { kind: 'value'; text: string } | { kind: 'null' } | { kind: 'unchanged-toast' };
export interface RelationColumn {
  name: string;
  isKey: boolean;
  typeOid: number;
  typeMod: number;
}
export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';
export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTimeMicros: bigint /* unix epoch micros */; xid: number }
  | { tag: 'commit'; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeMicros: bigint }
  | { tag: 'origin'; originLsn: bigint; name: string }
  | { tag: 'relation'; relationOid: number; schema: string; table: string; replicaIdentity: ReplicaIdentity; columns: RelationColumn[] }
  | { tag: 'type'; typeOid: number; schema: string; name: string }
  | { tag: 'insert'; relationOid: number; after: ColumnValue[] }
  | { tag: 'update'; relationOid: number; before: { kind: 'key' | 'old'; values: ColumnValue[] } | null; after: ColumnValue[] }
  | { tag: 'delete'; relationOid: number; before: { kind: 'key' | 'old'; values: ColumnValue[] } }
  | { tag: 'truncate'; relationOids: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: 'message'; transactional: boolean; lsn: bigint; prefix: string; content: Buffer };

export class PgoutputDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgoutputDecodeError';
  }
}

/** Microseconds from the Unix epoch to the Postgres epoch (2000-01-01 00:00:00 UTC). */
const PG_EPOCH_UNIX_MICROS = 946_684_800_000_000n;

/** Shared, frozen: NULL and unchanged-TOAST carry no data, so one instance each saves an allocation per column. */
const NULL_VALUE: ColumnValue = Object.freeze({ kind: 'null' });
const UNCHANGED_TOAST_VALUE: ColumnValue = Object.freeze({ kind: 'unchanged-toast' });

/** Relation message `relreplident` byte (pg_class.relreplident). */
const REPLICA_IDENTITIES: Readonly<Record<string, ReplicaIdentity>> = { d: 'default', n: 'nothing', f: 'full', i: 'index' };

/** Tags of later protocol versions, named in the error so a misconfigured slot is recognisable. */
const LATER_PROTOCOL_TAGS: Readonly<Record<string, string>> = {
  S: 'Stream Start (proto 2)',
  E: 'Stream Stop (proto 2)',
  c: 'Stream Commit (proto 2)',
  A: 'Stream Abort (proto 2)',
  b: 'Begin Prepare (proto 3)',
  P: 'Prepare (proto 3)',
  K: 'Commit Prepared (proto 3)',
  r: 'Rollback Prepared (proto 3)',
  p: 'Stream Prepare (proto 3)',
};

const TUPLE_NEW = 0x4e; // 'N'
const TUPLE_KEY = 0x4b; // 'K'
const TUPLE_OLD = 0x4f; // 'O'
const COLUMN_NULL = 0x6e; // 'n'
const COLUMN_UNCHANGED_TOAST = 0x75; // 'u'
const COLUMN_TEXT = 0x74; // 't'
const COLUMN_BINARY = 0x62; // 'b'

/** Bounds-checked big-endian reads; every read names the message, so a truncated stream is diagnosable. */
class Cursor {
  pos = 1;

  constructor(
    readonly buf: Buffer,
    readonly what: string,
  ) {}

  need(bytes: number): void {
    if (this.pos + bytes > this.buf.length) {
      throw new PgoutputDecodeError(`truncated ${this.what} message: need ${bytes} byte(s) at offset ${this.pos}, have ${this.buf.length}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const value = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  i32(): number {
    this.need(4);
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  u64(): bigint {
    this.need(8);
    const value = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return value;
  }

  /** Postgres TimestampTz on the wire, returned as Unix epoch microseconds. */
  timestamp(): bigint {
    this.need(8);
    const value = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return value + PG_EPOCH_UNIX_MICROS;
  }

  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new PgoutputDecodeError(`truncated ${this.what} message: unterminated string at offset ${this.pos}`);
    const value = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return value;
  }

  /** Int32 length then that many bytes of UTF-8 text (a column value in TupleData). */
  countedText(): string {
    const start = this.countedStart();
    return this.buf.toString('utf8', start, this.pos);
  }

  /** Int32 length then that many bytes, copied: the caller's network buffer may be reused. */
  countedBytes(): Buffer {
    const start = this.countedStart();
    return Buffer.from(this.buf.subarray(start, this.pos));
  }

  /** Consumes an Int32 length and its bytes; returns where the bytes start (they end at `pos`). */
  private countedStart(): number {
    const length = this.i32();
    if (length < 0) throw new PgoutputDecodeError(`${this.what} message: negative length ${length} at offset ${this.pos - 4}`);
    this.need(length);
    const start = this.pos;
    this.pos += length;
    return start;
  }

  done(): void {
    if (this.pos !== this.buf.length) {
      throw new PgoutputDecodeError(
        `${this.what} message: ${this.buf.length - this.pos} unexpected trailing byte(s) at offset ${this.pos}`,
      );
    }
  }
}

/** Decodes one pgoutput message body (first byte = tag). Throws PgoutputDecodeError on anything malformed. */
export function decodePgoutput(body: Buffer): PgoutputMessage {
  if (body.length === 0) throw new PgoutputDecodeError('empty pgoutput message');
  const tag = String.fromCharCode(body[0]!);
  let message: PgoutputMessage;
  let cur: Cursor;
  switch (tag) {
    case 'B':
      cur = new Cursor(body, 'Begin');
      message = { tag: 'begin', finalLsn: cur.u64(), commitTimeMicros: cur.timestamp(), xid: cur.u32() };
      break;
    case 'C':
      cur = new Cursor(body, 'Commit');
      message = { tag: 'commit', flags: cur.u8(), commitLsn: cur.u64(), endLsn: cur.u64(), commitTimeMicros: cur.timestamp() };
      break;
    case 'O':
      cur = new Cursor(body, 'Origin');
      message = { tag: 'origin', originLsn: cur.u64(), name: cur.cstring() };
      break;
    case 'R':
      cur = new Cursor(body, 'Relation');
      message = readRelation(cur);
      break;
    case 'Y':
      cur = new Cursor(body, 'Type');
      message = { tag: 'type', typeOid: cur.u32(), schema: cur.cstring(), name: cur.cstring() };
      break;
    case 'I':
      cur = new Cursor(body, 'Insert');
      message = readInsert(cur);
      break;
    case 'U':
      cur = new Cursor(body, 'Update');
      message = readUpdate(cur);
      break;
    case 'D':
      cur = new Cursor(body, 'Delete');
      message = readDelete(cur);
      break;
    case 'T':
      cur = new Cursor(body, 'Truncate');
      message = readTruncate(cur);
      break;
    case 'M':
      cur = new Cursor(body, 'Message');
      message = readLogicalMessage(cur);
      break;
    default: {
      const later = LATER_PROTOCOL_TAGS[tag];
      const hex = `0x${body[0]!.toString(16).padStart(2, '0')}`;
      throw new PgoutputDecodeError(
        later
          ? `unexpected pgoutput message tag '${tag}' (${hex}): ${later}, not part of proto_version 1`
          : `unknown pgoutput message tag '${tag}' (${hex})`,
      );
    }
  }
  cur.done();
  return message;
}

function readRelation(cur: Cursor): PgoutputMessage {
  const relationOid = cur.u32();
  // Namespace is the empty string for pg_catalog.
  const schema = cur.cstring();
  const table = cur.cstring();
  const identityChar = String.fromCharCode(cur.u8());
  const replicaIdentity = REPLICA_IDENTITIES[identityChar];
  if (!replicaIdentity) throw new PgoutputDecodeError(`Relation message: unknown replica identity '${identityChar}'`);
  const count = cur.u16();
  const columns: RelationColumn[] = [];
  for (let i = 0; i < count; i++) {
    // Flags: bit 0 marks a column that is part of the replica identity key; no other bits are defined.
    const flags = cur.u8();
    columns.push({ isKey: (flags & 1) !== 0, name: cur.cstring(), typeOid: cur.u32(), typeMod: cur.i32() });
  }
  return { tag: 'relation', relationOid, schema, table, replicaIdentity, columns };
}

function readInsert(cur: Cursor): PgoutputMessage {
  const relationOid = cur.u32();
  expectNewTuple(cur);
  return { tag: 'insert', relationOid, after: readTuple(cur) };
}

function readUpdate(cur: Cursor): PgoutputMessage {
  const relationOid = cur.u32();
  let before: { kind: 'key' | 'old'; values: ColumnValue[] } | null = null;
  const marker = cur.u8();
  if (marker === TUPLE_KEY || marker === TUPLE_OLD) {
    before = { kind: marker === TUPLE_KEY ? 'key' : 'old', values: readTuple(cur) };
    expectNewTuple(cur);
  } else if (marker !== TUPLE_NEW) {
    throw badMarker(cur, marker, "'K', 'O' or 'N'");
  }
  return { tag: 'update', relationOid, before, after: readTuple(cur) };
}

function readDelete(cur: Cursor): PgoutputMessage {
  const relationOid = cur.u32();
  const marker = cur.u8();
  if (marker !== TUPLE_KEY && marker !== TUPLE_OLD) throw badMarker(cur, marker, "'K' or 'O'");
  return { tag: 'delete', relationOid, before: { kind: marker === TUPLE_KEY ? 'key' : 'old', values: readTuple(cur) } };
}

function readTruncate(cur: Cursor): PgoutputMessage {
  const count = cur.i32();
  if (count < 0) throw new PgoutputDecodeError(`Truncate message: negative relation count ${count}`);
  // Option bits: 1 = CASCADE, 2 = RESTART IDENTITY.
  const options = cur.u8();
  cur.need(count * 4);
  const relationOids: number[] = [];
  for (let i = 0; i < count; i++) relationOids.push(cur.u32());
  return { tag: 'truncate', relationOids, cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0 };
}

/** pg_logical_emit_message output; sent only when the slot is started with `messages 'true'`. */
function readLogicalMessage(cur: Cursor): PgoutputMessage {
  // Flags: bit 0 = transactional (non-transactional messages arrive outside Begin/Commit).
  const flags = cur.u8();
  const lsn = cur.u64();
  const prefix = cur.cstring();
  return { tag: 'message', transactional: (flags & 1) !== 0, lsn, prefix, content: cur.countedBytes() };
}

function expectNewTuple(cur: Cursor): void {
  const marker = cur.u8();
  if (marker !== TUPLE_NEW) throw badMarker(cur, marker, "'N'");
}

function badMarker(cur: Cursor, marker: number, expected: string): PgoutputDecodeError {
  return new PgoutputDecodeError(
    `${cur.what} message: expected tuple marker ${expected} at offset ${cur.pos - 1}, got '${String.fromCharCode(marker)}'`,
  );
}

/** TupleData: Int16 column count, then per column a kind byte and, for text, Int32 length + bytes. */
function readTuple(cur: Cursor): ColumnValue[] {
  const count = cur.u16();
  const values: ColumnValue[] = [];
  for (let i = 0; i < count; i++) {
    const kind = cur.u8();
    if (kind === COLUMN_TEXT) {
      values.push({ kind: 'value', text: cur.countedText() });
    } else if (kind === COLUMN_NULL) {
      values.push(NULL_VALUE);
    } else if (kind === COLUMN_UNCHANGED_TOAST) {
      values.push(UNCHANGED_TOAST_VALUE);
    } else if (kind === COLUMN_BINARY) {
      throw new PgoutputDecodeError(
        `${cur.what} message: binary column value (column ${i}); the slot must not be started with binary 'true'`,
      );
    } else {
      throw new PgoutputDecodeError(`${cur.what} message: unknown column kind '${String.fromCharCode(kind)}' (column ${i})`);
    }
  }
  return values;
}
