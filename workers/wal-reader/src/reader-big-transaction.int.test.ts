import { parseLsn } from '@inventory-cdc/shared';
import { scrapeMetric, waitFor } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { ReaderFixture } from '../test/reader-test-fixture';

const rows = 1_000_000;
/** The stated bound on the reader's peak resident memory while one 1M-row transaction passes through. */
const peakRssBoundBytes = 400 * 1024 * 1024;

function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kilobytes) * 1024;
}

describe('wal-reader memory on a huge transaction', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('big', `create table big (id int4 primary key, label text not null)`);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it(`a ${rows.toLocaleString('en')}-row transaction passes in one Kafka transaction with bounded reader memory`, async () => {
    const reader = fixture.reader({ CDC__KAFKA_TRANSACTION__TIMEOUT_MS: '600000' });
    reader.process.start();
    await reader.process.waitReady(reader.port);
    const table = `${fixture.schema}.big`;

    await fixture.db.query(`insert into big select g, md5(g::text) from generate_series(1, ${rows}) g`);
    // The insert position, not pg_current_wal_lsn(): with synchronous_commit off the write position can
    // still be short of the commit record just after the commit returns.
    const committedAt = parseLsn((await fixture.db.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]!.lsn);
    const started = Date.now();

    await waitFor(
      'every row of the big transaction in Kafka and the slot confirmed past its commit',
      async () =>
        (await scrapeMetric(reader.port, 'cdc_reader_events_total', { table, op: 'c' })) === rows &&
        parseLsn((await fixture.slotConfirmedFlush()) ?? '0/0') >= committedAt,
      300_000,
      500,
    );
    const seconds = (Date.now() - started) / 1000;
    const peak = peakRssBytes(reader.process.pid!);

    expect(await scrapeMetric(reader.port, 'cdc_reader_events_total', { table, op: 'c' })).toBe(rows);
    expect(await scrapeMetric(reader.port, 'cdc_reader_transactions_total')).toBe(1);
    process.stdout.write(
      `1M-row transaction: ${seconds.toFixed(1)} s after commit, ${(rows / seconds).toFixed(0)} events/s, reader peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB\n`,
    );
    expect(peak).toBeLessThan(peakRssBoundBytes);
    expect(await reader.process.terminate()).toBe(0);
  });
});

describe('wal-reader on a transaction longer than the Kafka transaction timeout', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('long_tx', `create table big (id int4 primary key, label text not null)`);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('halts naming kafkaTransaction.timeoutMs, publishes none of it, and passes it whole once the limit is raised', async () => {
    const longRows = 400_000;
    const reader = fixture.reader({ CDC__KAFKA_TRANSACTION__TIMEOUT_MS: '1000' });
    reader.process.start();
    await reader.process.waitReady(reader.port);

    await fixture.db.query('begin');
    await fixture.db.query(`insert into big select g, repeat(md5(g::text), 8) from generate_series(1, ${longRows}) g`);
    // The commit record starts at or after this: acknowledging the transaction would confirm beyond it.
    const beforeCommit = parseLsn(
      (await fixture.db.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]!.lsn,
    );
    await fixture.db.query('commit');
    const outcome = await Promise.race([
      reader.process.exitCode(),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 240 s'), 240_000).unref()),
    ]);
    const log = readFileSync(reader.process.logFile, 'utf8');

    expect(outcome).toBe(1);
    expect(log).toContain('"kind":"kafka_transaction_timeout"');
    expect(log).toMatch(/open for \d+ ms, beyond kafkaTransaction\.timeoutMs \(1000 ms\)/);
    expect(parseLsn((await fixture.slotConfirmedFlush()) ?? '0/0')).toBeLessThanOrEqual(beforeCommit);
    expect(await fixture.read(['big'], () => false, 5_000)).toEqual([]);

    const raised = fixture.reader({ CDC__KAFKA_TRANSACTION__TIMEOUT_MS: '600000' });
    raised.process.start();
    const table = `${fixture.schema}.big`;
    await waitFor(
      'every row of the long transaction in Kafka',
      async () => (await scrapeMetric(raised.port, 'cdc_reader_events_total', { table, op: 'c' }).catch(() => undefined)) === longRows,
      300_000,
      1_000,
    );
    expect(await raised.process.terminate()).toBe(0);
  }, 600_000);
});
