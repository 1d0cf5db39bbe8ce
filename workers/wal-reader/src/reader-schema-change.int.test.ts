import { waitFor } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { ReaderFixture, envelopes, inSourceOrder } from '../test/reader-test-fixture';

describe('wal-reader schema changes', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('schema', `create table stock (id int4 primary key, qty int4 not null)`);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('ALTER TABLE ADD COLUMN mid-stream registers a new schema version; an incompatible change stops the reader naming the column', async () => {
    const reader = fixture.reader();
    reader.process.start();
    await reader.process.waitReady(reader.port);

    await fixture.db.query(`insert into stock values (1, 10)`);
    await fixture.db.query(`alter table stock add column note text`);
    await fixture.db.query(`insert into stock values (2, 20, 'added')`);
    const records = await fixture.read(['stock'], (seen) => seen.length >= 2);
    // The two rows hash to different partitions: compare them in commit order.
    expect(inSourceOrder(envelopes(records)).map((event) => event.after)).toEqual([
      { id: 1, qty: 10 },
      { id: 2, qty: 20, note: 'added' },
    ]);
    const versions = await fixture.codec.client.getAllVersions(`${fixture.topic('stock')}-value`);
    expect(versions).toHaveLength(2);

    await fixture.db.query(`alter table stock alter column qty type text`);
    await fixture.db.query(`insert into stock values (3, 'thirty', null)`);
    const exitCode = await reader.process.exitCode();
    const log = readFileSync(reader.process.logFile, 'utf8');

    expect(exitCode).toBe(1);
    expect(log).toMatch(/refused the new schema of [a-z0-9_]+\.stock: column qty changed type/);
    // Nothing after the refused change was produced or acknowledged: a fixed schema resumes from it.
    const after = await fixture.read(['stock'], () => false, 3_000);
    expect(after).toHaveLength(2);
    await waitFor('the slot to be released', async () => {
      const result = await fixture.db.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [
        fixture.slot,
      ]);
      return result.rows[0]?.active === false;
    });

    // A restart meets the same change in the WAL: refused again, and the message still names the column
    // (compared with the schema the registry holds, as no earlier shape is in memory).
    const again = fixture.reader();
    again.process.start();
    expect(await again.process.exitCode()).toBe(1);
    expect(readFileSync(again.process.logFile, 'utf8')).toMatch(
      /refused the new schema of [a-z0-9_]+\.stock: column qty changed type \(qty is now \\"string\\", was \\"int\\"/,
    );

    // The documented way to accept the change: a per-subject rule in the reader's config.
    const accepting = fixture.reader({ CDC__REGISTRY__SUBJECT_COMPATIBILITY: `{"${fixture.topic('stock')}-value": NONE}` });
    accepting.process.start();
    const accepted = await fixture.read(['stock'], (seen) => seen.length >= 3);
    expect(inSourceOrder(envelopes(accepted)).map((event) => event.after)).toEqual([
      { id: 1, qty: 10 },
      { id: 2, qty: 20, note: 'added' },
      { id: 3, qty: 'thirty', note: null },
    ]);
    expect(await fixture.codec.client.getAllVersions(`${fixture.topic('stock')}-value`)).toHaveLength(3);
  });
});
