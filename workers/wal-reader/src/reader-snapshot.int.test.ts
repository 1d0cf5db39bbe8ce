import { Client } from 'pg';
import { ReaderFixture } from '../test/reader-test-fixture';
import { checkHistories, finalVersionsOf, versionedTableDdl, writeVersionedTransactions } from '../test/versioned-rows';

const seededRows = 20_000;

describe('wal-reader initial snapshot', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create(
      'snapshot',
      `${versionedTableDdl}; insert into items select g, 1, 'seed' from generate_series(1, ${seededRows}) g`,
    );
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('writes committed while the snapshot runs appear exactly once: in the snapshot or on the stream, never both, never neither', async () => {
    const writer = new Client({ connectionString: fixture.shard.url });
    await writer.connect();
    await writer.query(`set search_path = ${fixture.schema}`);
    // Small chunks make the snapshot take many round trips while the writer keeps committing.
    const reader = fixture.reader({ CDC__SNAPSHOT__CHUNK_ROWS: '250' });
    reader.process.start();
    const committed = await writeVersionedTransactions(writer, {
      transactions: 600,
      firstNewId: seededRows + 1,
      rowsPerTransaction: 5,
      existingIds: () => seededRows,
    });
    await writer.end();
    await reader.process.waitReady(reader.port);

    const finalVersions = await finalVersionsOf(fixture.db);
    const records = await fixture.read(
      ['items'],
      (seen) => {
        const check = checkHistories(seen, finalVersions);
        return check.problems.length === 0;
      },
      90_000,
    );
    const check = checkHistories(records, finalVersions);
    const snapshotRows = records.filter((record) => (record.value as { op?: string } | null)?.op === 'r').length;

    expect(committed).toBe(600);
    expect(snapshotRows).toBeGreaterThanOrEqual(seededRows);
    expect(check.problems).toEqual([]);
    expect(check.keys).toBe(finalVersions.size);
    expect(await reader.process.terminate()).toBe(0);
  });
});
