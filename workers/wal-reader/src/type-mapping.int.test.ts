import { waitFor } from '@inventory-cdc/shared/testing';
import { ReaderFixture, envelopes } from '../test/reader-test-fixture';

const ddl = `
  create type mood as enum ('happy', 'sad');
  create table every_type (
    id int8 primary key,
    c_int2 int2, c_int4 int4, c_int8 int8, c_numeric numeric, c_float4 float4, c_float8 float8, c_bool bool,
    c_text text, c_varchar varchar(20), c_char char(5), c_uuid uuid, c_date date, c_time time,
    c_timestamp timestamp, c_timestamptz timestamptz, c_json json, c_jsonb jsonb, c_bytea bytea, c_enum mood,
    c_int4_array int4[], c_text_array text[], c_big text
  );
  create table toast_full (id int4 primary key, big text, n int4);
  alter table toast_full replica identity full;
  create table toast_default (id int4 primary key, big text, n int4);
  alter table toast_default alter column big set storage external;
  alter table toast_full alter column big set storage external;
`;

// Values chosen at the edges of each mapping; the expected Avro values are computed independently.
const edgeRow = `insert into every_type values (
  9223372036854775807, -32768, 2147483647, -9223372036854775808, 123456789012345678901234567890.123456789, 1.5, -2.5e-300, true,
  'ünïcødé ✓', 'varchar', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1969-12-31', '23:59:59.999999',
  '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.654321+05:30', '{"a": [1, 2]}', '{"b": null}', '\\x00ff10', 'sad',
  '{1,NULL,3}', '{"a b","x\\"y",NULL}', null)`;

const expectedEdge = {
  id: 9223372036854775807n,
  c_int2: -32768,
  c_int4: 2147483647,
  c_int8: -9223372036854775808n,
  c_numeric: '123456789012345678901234567890.123456789',
  c_float4: 1.5,
  c_float8: -2.5e-300,
  c_bool: true,
  c_text: 'ünïcødé ✓',
  c_varchar: 'varchar',
  c_char: 'ab   ',
  c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  c_date: -1,
  c_time: 86_399_999_999n,
  c_timestamp: BigInt(Date.UTC(2024, 1, 29, 12, 34, 56)) * 1000n + 123_456n,
  c_timestamptz: BigInt(Date.UTC(2024, 1, 29, 7, 4, 56)) * 1000n + 654_321n,
  c_json: '{"a": [1, 2]}',
  c_jsonb: '{"b": null}',
  c_bytea: Buffer.from([0x00, 0xff, 0x10]),
  c_enum: 'sad',
  c_int4_array: [1, null, 3],
  c_text_array: ['a b', 'x"y', null],
  c_big: null,
};

describe('wal-reader type mapping and ops (Postgres → Kafka → registry)', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('types', ddl);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('every mapped type and op round-trips to the exact value, with tombstones and unchanged TOAST handled', async () => {
    const reader = fixture.reader();
    reader.process.start();
    await reader.process.waitReady(reader.port);

    const big = Array.from({ length: 400 }, (_, i) => `${i}:${Math.random().toString(36)}`).join('|');
    await fixture.db.query(edgeRow);
    await fixture.db.query(`insert into every_type (id) values (1)`);
    await fixture.db.query(`update every_type set c_int4 = 7, c_numeric = 'NaN' where id = 1`);
    await fixture.db.query(`delete from every_type where id = 1`);
    await fixture.db.query(
      `insert into toast_full values (1, $1, 0); insert into toast_default values (1, $1, 0)`.replace(/\$1/g, `'${big}'`),
    );
    await fixture.db.query(`update toast_full set n = 1; update toast_default set n = 1`);
    await fixture.db.query(`truncate toast_default`);

    const tables = ['every_type', 'toast_full', 'toast_default'];
    // Partitions are read in no particular order relative to each other, and the edge row's key and row 1's
    // may hash to different partitions: wait for the last change of every key, the edge row's insert included.
    const isEdgeInsert = (event: { op: string; after: Record<string, unknown> | null }): boolean =>
      event.op === 'c' && event.after?.id === 9223372036854775807n;
    const lastOfEach = (event: { op: string; source: { table: string }; after: Record<string, unknown> | null }): boolean =>
      isEdgeInsert(event) ||
      event.op === 't' ||
      (event.op === 'd' && event.source.table === 'every_type') ||
      (event.op === 'u' && event.source.table !== 'every_type');
    const records = await fixture.read(tables, (seen) => envelopes(seen).filter(lastOfEach).length === 5);
    const events = envelopes(records);

    const edge = events.find(isEdgeInsert);
    expect(edge?.after).toEqual(expectedEdge);
    expect(edge?.source).toMatchObject({ shard: 0, table: 'every_type', snapshot: false, seq: 0n });

    const row1 = events.filter((event) => event.source.table === 'every_type' && (event.after?.id ?? event.before?.id) === 1n);
    expect(row1.map((event) => event.op)).toEqual(['c', 'u', 'd']);
    expect(row1[1]?.after).toMatchObject({ c_int4: 7, c_numeric: 'NaN', c_text: null });
    expect(row1[2]?.before).toMatchObject({ id: 1n });
    const deleteRecord = records.find((record) => (record.value as { op?: string } | null)?.op === 'd');
    const afterDelete = records.find(
      (record) =>
        record.topic === deleteRecord?.topic &&
        record.partition === deleteRecord.partition &&
        BigInt(record.offset) > BigInt(deleteRecord.offset),
    );
    expect(afterDelete).toMatchObject({ key: { id: 1n }, value: null });

    const fullUpdate = events.find((event) => event.source.table === 'toast_full' && event.op === 'u');
    expect(fullUpdate?.after).toEqual({ id: 1, big, n: 1 });
    expect(fullUpdate?.unchangedToast).toEqual([]);
    expect(fullUpdate?.before).toEqual({ id: 1, big, n: 0 });

    const defaultUpdate = events.find((event) => event.source.table === 'toast_default' && event.op === 'u');
    expect(defaultUpdate?.after).toEqual({ id: 1, big: null, n: 1 });
    expect(defaultUpdate?.unchangedToast).toEqual(['big']);

    expect(events.find((event) => event.op === 't')?.source.table).toBe('toast_default');
    const positions = events.filter((event) => !event.source.snapshot).map((event) => [event.source.lsn, event.source.seq] as const);
    expect(new Set(positions.map(String)).size).toBe(positions.length);

    await waitFor('the slot to confirm past the truncate', async () => (await fixture.slotConfirmedFlush()) !== undefined);
    expect(await reader.process.terminate()).toBe(0);
  });
});
