import { parseLsn } from '@inventory-cdc/shared';
import { waitFor } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { ReaderFixture, envelopes } from '../test/reader-test-fixture';

describe('wal-reader inputs that can never succeed', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('unrecoverable', `create table items (id int4 primary key, label text)`);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('a row larger than the broker accepts halts the reader naming the table and the size, and is not acknowledged', async () => {
    const reader = fixture.reader();
    reader.process.start();
    await reader.process.waitReady(reader.port);
    const before = await fixture.slotConfirmedFlush();

    await fixture.db.query(`insert into items values (1, repeat('x', 2000000))`);
    const exitCode = await reader.process.exitCode();
    const log = readFileSync(reader.process.logFile, 'utf8');

    expect(exitCode).toBe(1);
    expect(log).toMatch(
      /a change of [a-z0-9_]+\.items \(commit LSN [0-9A-F]+\/[0-9A-F]+, txId \d+\) encodes to \d{7} bytes, above batch\.maxRecordBytes \(1000000\)/,
    );
    expect(log).toContain('raise max.message.bytes of topic');
    // The refused change stays in the slot: a reader with a raised limit can still produce it.
    expect(await fixture.slotConfirmedFlush()).toBe(before);
  });

  it('a table whose name cannot name a Kafka topic halts the reader at start, naming the table', async () => {
    await fixture.db.query(`create table "stock €" (id int4 primary key)`);
    const reader = fixture.reader();
    reader.process.start();

    const exitCode = await reader.process.exitCode();
    const log = readFileSync(reader.process.logFile, 'utf8');

    expect(exitCode).toBe(1);
    expect(log).toContain('stock €\\" cannot name a Kafka topic');
    await fixture.db.query(`drop table "stock €"`);
  });
});

describe('wal-reader array values', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('arrays', `create table grid (id int4 primary key, cells int4[])`);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('streams an array with an explicit lower bound as its elements, and halts at once on a multi-dimensional one, naming the column', async () => {
    const reader = fixture.reader();
    reader.process.start();
    await reader.process.waitReady(reader.port);

    await fixture.db.query(`insert into grid values (1, '[0:1]={1,2}'), (2, '{5,NULL}')`);
    const streamed = envelopes(await fixture.read(['grid'], (records) => records.length >= 2));
    // Rows of different keys may sit in different partitions: compared in id order, as plain objects.
    const rows = streamed.map((event) => ({ id: event.after?.id, cells: event.after?.cells })).sort((a, b) => Number(a.id) - Number(b.id));
    expect(rows).toEqual([
      { id: 1, cells: [1, 2] },
      { id: 2, cells: [5, null] },
    ]);
    await waitFor('the slot to confirm the streamed rows', async () =>
      parseLsn((await fixture.slotConfirmedFlush()) ?? '0/0') > 0n ? true : undefined,
    );
    const before = await fixture.slotConfirmedFlush();

    const startedAt = Date.now();
    await fixture.db.query(`insert into grid values (3, '{{1,2},{3,4}}')`);
    const exitCode = await reader.process.exitCode();
    const log = readFileSync(reader.process.logFile, 'utf8');

    expect(exitCode).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(log).toContain('"kind":"unmappable_value"');
    expect(log).toContain(`column cells of ${fixture.schema}.grid: a multi-dimensional array has no place`);
    expect(await fixture.slotConfirmedFlush()).toBe(before);
  });
});
