import { parseLsn } from '@inventory-cdc/shared';
import { waitFor } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { ReaderFixture, envelopes } from '../test/reader-test-fixture';

describe('wal-reader slot identity', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('slot_identity', `create table items (id int4 primary key)`);
  });

  afterAll(async () => {
    await fixture.db.query(`drop table if exists public.${fixture.schema}_noise`).catch(() => undefined);
    await fixture.cleanup();
  });

  const confirmedFlush = async (): Promise<bigint> => parseLsn((await fixture.slotConfirmedFlush()) ?? '0/0');

  it('a reader whose idle heartbeats moved its slot resumes that slot after a restart', async () => {
    const first = fixture.reader();
    first.process.start();
    await first.process.waitReady(first.port);
    await fixture.db.query(`insert into items values (1)`);
    await fixture.read(['items'], (records) => records.length >= 1);
    const afterInsert = await confirmedFlush();
    // Other tables' writes give the heartbeats WAL to move the slot over.
    await fixture.db.query(`create table public.${fixture.schema}_noise as select g from generate_series(1, 20000) g`);
    await waitFor('heartbeats to move the slot past the last captured change', async () =>
      (await confirmedFlush()) > afterInsert + 1000n ? true : undefined,
    );
    expect(await first.process.terminate()).toBe(0);

    const second = fixture.reader();
    second.process.start();
    await second.process.waitReady(second.port);
    await fixture.db.query(`insert into items values (2)`);
    // Rows of different keys may sit in different partitions: ids are compared in order.
    const ids = envelopes(await fixture.read(['items'], (records) => records.length >= 2))
      .map((event) => Number(event.after?.id))
      .sort((a, b) => a - b);
    expect(ids).toEqual([1, 2]);
    expect(await second.process.terminate()).toBe(0);
  });

  it('a slot dropped and re-created under the reader’s name halts the reader with slot_lost, and nothing of it is published', async () => {
    // Given a reader that published through its slot and stopped
    const before = fixture.reader();
    before.process.start();
    await before.process.waitReady(before.port);
    await fixture.db.query(`insert into items values (3)`);
    await fixture.read(['items'], (records) => records.length >= 3);
    expect(await before.process.terminate()).toBe(0);

    // When a DBA drops the slot and creates one of the same name, and rows are written to the new one
    await fixture.db.query('select pg_drop_replication_slot($1)', [fixture.slot]);
    await fixture.db.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [fixture.slot]);
    await fixture.db.query(`insert into items values (4), (5)`);
    const newSlotAt = await fixture.slotConfirmedFlush();
    const reader = fixture.reader();
    reader.process.start();
    const outcome = await Promise.race([
      reader.process.exitCode(),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 45 s'), 45_000).unref()),
    ]);

    // Then it halts naming the slot and the way out, publishes nothing and leaves the slot where it was
    expect(outcome).toBe(1);
    const log = readFileSync(reader.process.logFile, 'utf8');
    expect(log).toContain('"kind":"slot_lost"');
    expect(log).toContain(`replication slot ${fixture.slot} confirms`);
    expect(log).toContain('it is not the slot the progress was made on');
    expect(log).toContain('fleet slots reset --shard 0');
    const ids = envelopes(await fixture.read(['items'], () => false, 8_000))
      .map((event) => Number(event.after?.id))
      .sort((a, b) => a - b);
    expect(ids).toEqual([1, 2, 3]);
    expect(await fixture.slotConfirmedFlush()).toBe(newSlotAt);
  });
});
