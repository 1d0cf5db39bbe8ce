import { scrapeMetric, waitFor, type ReadRecord } from '@inventory-cdc/shared/testing';
import { Client } from 'pg';
import { readFileSync } from 'node:fs';
import { requestSnapshot, snapshotRequestTable } from '@inventory-cdc/shared';
import { ReaderFixture } from '../test/reader-test-fixture';
import { finalVersionsOf, versionedTableDdl, writeVersionedTransactions } from '../test/versioned-rows';

const seededRows = 3_000;

interface Event {
  op: string;
  after: { id: number; version: number } | null;
  before: { id: number; version: number } | null;
  source: { lsn: bigint; seq: bigint; txId: bigint };
}

const eventOf = (record: ReadRecord): Event | null => record.value as Event | null;
const isAdhoc = (event: Event | null): boolean => event?.op === 'r' && event.source.txId !== 0n;

/** What a sink that applies by source position (newest wins) ends with, per id. */
function newestWins(records: ReadRecord[]): Map<number, number> {
  const newest = new Map<number, { lsn: bigint; seq: bigint; version: number }>();
  for (const event of records.map(eventOf)) {
    if (!event?.after) continue;
    const current = newest.get(event.after.id);
    const { lsn, seq } = event.source;
    if (!current || lsn > current.lsn || (lsn === current.lsn && seq > current.seq))
      newest.set(event.after.id, { lsn, seq, version: event.after.version });
  }
  return new Map([...newest].map(([id, { version }]) => [id, version]));
}

function sameVersions(a: Map<number, number>, b: Map<number, number>): boolean {
  return a.size === b.size && [...a].every(([id, version]) => b.get(id) === version);
}

/** Distinct ids per ad-hoc snapshot (by its position), smallest first. */
function snapshotSizes(records: ReadRecord[]): number[] {
  const snapshots = new Map<bigint, Set<number>>();
  for (const event of records.map(eventOf).filter(isAdhoc)) {
    const ids = snapshots.get(event!.source.lsn) ?? new Set<number>();
    ids.add(event!.after!.id);
    snapshots.set(event!.source.lsn, ids);
  }
  return [...snapshots.values()].map((ids) => ids.size).sort((a, b) => a - b);
}

describe('wal-reader ad-hoc snapshot (fleet snapshot <table>)', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create(
      'adhoc',
      `${versionedTableDdl}; insert into items select g, 1, 'seed' from generate_series(1, ${seededRows}) g; create table other (id int4 primary key)`,
    );
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  let requests = 0;
  const signal = (table: string): Promise<unknown> => requestSnapshot(fixture.db, { id: `test-${table}-${++requests}`, table });

  it('re-reads every row while writes go on, and a newest-wins sink ends equal to Postgres', async () => {
    const reader = fixture.reader({ CDC__SNAPSHOT__CHUNK_ROWS: '200' });
    reader.process.start();
    await reader.process.waitReady(reader.port);
    const writer = new Client({ connectionString: fixture.shard.url });
    await writer.connect();
    await writer.query(`set search_path = ${fixture.schema}`);
    // A request for a table outside the publication is refused and logged; the reader goes on.
    await signal(`${fixture.schema}.missing`);
    const writes = writeVersionedTransactions(writer, {
      transactions: 300,
      firstNewId: seededRows + 1,
      rowsPerTransaction: 5,
      existingIds: () => seededRows,
    });
    await signal(`${fixture.schema}.items`);
    await writes;
    await writer.end();

    const finalVersions = await finalVersionsOf(fixture.db);
    const records = await fixture.read(
      ['items'],
      (seen) => seen.filter((record) => isAdhoc(eventOf(record))).length >= seededRows && sameVersions(newestWins(seen), finalVersions),
      90_000,
    );
    const adhoc = records.map(eventOf).filter(isAdhoc);
    expect(new Set(adhoc.map((event) => event!.after!.id)).size).toBeGreaterThanOrEqual(seededRows);
    // One snapshot, one position: every re-read row claims the temporary slot's consistent point.
    expect(new Set(adhoc.map((event) => event!.source.lsn)).size).toBe(1);
    expect(newestWins(records)).toEqual(finalVersions);
    expect(reader.process.isRunning()).toBe(true);
    expect(await reader.process.terminate()).toBe(0);
  });

  it('a reader killed mid-snapshot runs the snapshot again after the restart, so no row is left out', async () => {
    const crashing = fixture.reader({ CDC__SNAPSHOT__CHUNK_ROWS: '200', CDC__FAULT_INJECTION__CRASH_POINTS: '{mid-adhoc-snapshot: 1}' });
    crashing.process.start();
    await crashing.process.waitReady(crashing.port);
    await signal(`${fixture.schema}.items`);
    await crashing.process.exitCode();

    const restarted = fixture.reader({ CDC__SNAPSHOT__CHUNK_ROWS: '200' });
    restarted.process.start();
    const rows = (await fixture.db.query<{ count: string }>('select count(*) from items')).rows[0]!.count;
    const records = await fixture.read(
      ['items'],
      (seen) => snapshotSizes(seen).length >= 3 && snapshotSizes(seen).includes(Number(rows)),
      90_000,
    );
    // The cut-off one (its first chunk), the first test's (taken while rows were being added), and the
    // complete rerun.
    const sizes = snapshotSizes(records);
    expect(sizes).toHaveLength(3);
    expect(sizes[0]).toBe(200);
    expect(sizes[1]).toBeGreaterThanOrEqual(seededRows);
    expect(sizes[2]).toBe(Number(rows));
    expect(newestWins(records)).toEqual(await finalVersionsOf(fixture.db));
    expect(await restarted.process.terminate()).toBe(0);
  });

  it('acts only on requests the operator recorded: a bare signal, an oversized one and one past the rate are refused and counted', async () => {
    const reader = fixture.reader({ CDC__SNAPSHOT__SIGNALS_PER_MINUTE: '1' });
    reader.process.start();
    await reader.process.waitReady(reader.port);
    const emit = (content: string): Promise<unknown> =>
      fixture.db.query(`select pg_logical_emit_message(true, 'cdc-snapshot', $1)`, [content]);
    const refused = async (reason: string): Promise<number> =>
      (await scrapeMetric(reader.port, 'cdc_reader_signals_refused_total', { reason }).catch(() => 0)) ?? 0;

    // Any role may emit a logical message; only the request table's owner may record a request.
    await fixture.db.query(`create role ${fixture.schema}_intruder login password 'intruder-password'`);
    const { host, port, database } = fixture.shard;
    const intruder = new Client({ host, port, database, user: `${fixture.schema}_intruder`, password: 'intruder-password' });
    await intruder.connect();
    await expect(intruder.query(`insert into ${snapshotRequestTable} (id, table_name) values ('x', 'a.b')`)).rejects.toThrow(
      /permission denied/,
    );
    await intruder.query(`select pg_logical_emit_message(true, 'cdc-snapshot', $1)`, [
      JSON.stringify({ id: 'forged', table: `${fixture.schema}.items` }),
    ]);
    await intruder.end();
    await emit(JSON.stringify({ id: 'x'.repeat(2_000), table: `${fixture.schema}.items` }));
    await signal(`${fixture.schema}.other`);
    await signal(`${fixture.schema}.other`);

    await waitFor(
      'the refusals to be counted',
      async () => (await refused('not_requested')) === 1 && (await refused('too_large')) === 1 && (await refused('rate')) === 1,
    );
    const log = readFileSync(reader.process.logFile, 'utf8');
    expect(log).toContain('"reason":"not_requested"');
    expect(log.match(/ad-hoc snapshot finished/g)).toHaveLength(1);
    expect(await reader.process.terminate()).toBe(0);
    await fixture.db.query(`drop role ${fixture.schema}_intruder`);
  });
});
