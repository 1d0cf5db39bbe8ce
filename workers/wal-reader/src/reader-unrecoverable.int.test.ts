import { readFileSync } from 'node:fs';
import { ReaderFixture } from '../test/reader-test-fixture';

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
