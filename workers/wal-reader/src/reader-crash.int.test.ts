import { scrapeMetric, waitFor } from '@inventory-cdc/shared/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { ReaderFixture } from '../test/reader-test-fixture';
import { checkHistories, finalVersionsOf, versionedTableDdl, writeVersionedTransactions } from '../test/versioned-rows';

const kills = Number(process.env.CDC_TEST_READER_KILLS ?? 24);

describe('wal-reader crash safety', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create(
      'crash',
      `${versionedTableDdl}; insert into items select g, 1, 'seed' from generate_series(1, 200) g`,
    );
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it(`reader killed -9 ${kills} times at random points (incl. between Kafka commit and LSN ack) ends with every change exactly once, in order per key`, async () => {
    // The first reader finishes the initial snapshot before any kill, as a deployment would.
    const first = fixture.reader();
    first.process.start();
    await first.process.waitReady(first.port);

    const writers = await Promise.all(
      [0, 1, 2].map(async () => {
        const client = new Client({ connectionString: fixture.shard.url });
        await client.connect();
        await client.query(`set search_path = ${fixture.schema}`);
        return client;
      }),
    );
    const highestId = 200;
    const stopWriting = new AbortController();
    // Three concurrent writers: their commits interleave in the WAL, as under real load.
    const writing = Promise.all(
      writers.map((client, index) =>
        writeVersionedTransactions(client, {
          transactions: 100_000,
          firstNewId: 1_000_000 * (index + 1),
          rowsPerTransaction: 3,
          existingIds: () => highestId,
          signal: stopWriting.signal,
        }),
      ),
    );

    await sleep(Math.random() * 1_500);
    await first.process.kill();
    let diedAtCrashPoint = 0;
    const produced: number[] = [];
    for (let kill = 1; kill < kills; kill++) {
      // Every other run also dies by itself at a named dangerous instant: right after a Kafka commit,
      // before the LSN is acknowledged (Postgres then resends what Kafka already has), or mid-transaction.
      const crashPoints: Record<string, string> =
        kill % 2 === 0
          ? { CDC__FAULT_INJECTION__CRASH_POINTS: kill % 4 === 0 ? '{after-kafka-commit: 0.5}' : '{mid-kafka-transaction: 0.5}' }
          : {};
      const reader = fixture.reader(crashPoints);
      reader.process.start();
      // Kill while it streams: once it has committed into Kafka, at a random instant (or when a crash
      // point fired by itself).
      await reader.process.waitReady(reader.port).catch(() => undefined);
      await waitFor(
        'the reader to commit',
        async () =>
          !reader.process.isRunning() || ((await scrapeMetric(reader.port, 'cdc_reader_transactions_total').catch(() => 0)) ?? 0) > 0,
        60_000,
        50,
      ).catch(() => undefined);
      await Promise.race([sleep(Math.random() * 1_000), reader.process.exitCode()]);
      if (!reader.process.isRunning()) diedAtCrashPoint++;
      else produced.push((await scrapeMetric(reader.port, 'cdc_reader_transactions_total').catch(() => undefined)) ?? -1);
      await reader.process.kill();
    }
    stopWriting.abort();
    const committed = (await writing).reduce((sum, count) => sum + count, 0);
    await Promise.all(writers.map((client) => client.end()));

    const last = fixture.reader();
    last.process.start();
    await last.process.waitReady(last.port);
    const finalVersions = await finalVersionsOf(fixture.db);
    const expectedEvents = [...finalVersions.values()].reduce((sum, version) => sum + version, 0);
    const records = await fixture.read(['items'], (seen) => seen.length >= expectedEvents, 120_000);
    const check = checkHistories(records, finalVersions);

    process.stdout.write(
      `crash test: ${committed} transactions committed, ${diedAtCrashPoint} readers died at a crash point, transactions per killed reader: ${produced.join(' ')}\n`,
    );
    expect(check.problems).toEqual([]);
    expect(check.events).toBe(expectedEvents);
    expect(committed).toBeGreaterThan(100);
    expect(diedAtCrashPoint).toBeGreaterThan(0);
    await waitFor('the slot to confirm everything', async () => (await fixture.slotConfirmedFlush()) !== undefined);
    expect(await last.process.terminate()).toBe(0);
  }, 480_000);
});
