import { heartbeatPrefix, parseLsn, slotLag } from '@inventory-cdc/shared';
import { scrapeMetric, waitFor } from '@inventory-cdc/shared/testing';
import { Client } from 'pg';
import { ReaderFixture, envelopes } from '../test/reader-test-fixture';

describe('wal-reader heartbeats and standby', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create(
      'standby',
      `create table stock (id int4 primary key, qty int4 not null); create table not_captured (id serial primary key, filler text)`,
    );
  });

  afterAll(async () => {
    await fixture.db.query(`drop table if exists public.${fixture.schema}_noise`).catch(() => undefined);
    await fixture.cleanup();
  });

  it("an idle shard's slot advances while other tables write", async () => {
    const reader = fixture.reader({ CDC__CAPTURE__SCHEMAS: '[]', CDC__CAPTURE__TABLES: `[${fixture.schema}.stock]` });
    reader.process.start();
    await reader.process.waitReady(reader.port);
    const start = parseLsn((await fixture.slotConfirmedFlush()) ?? '0/0');

    await fixture.db.query(
      `create table public.${fixture.schema}_noise as select g, repeat('x', 200) as filler from generate_series(1, 20000) g`,
    );
    const current = await fixture.db.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    const target = parseLsn(current.rows[0]!.lsn);

    const confirmed = await waitFor(
      'the slot to confirm past the unrelated writes',
      async () => {
        const lsn = parseLsn((await fixture.slotConfirmedFlush()) ?? '0/0');
        return lsn >= target ? lsn : undefined;
      },
      20_000,
    );
    expect(confirmed).toBeGreaterThan(start);
    expect(await scrapeMetric(reader.port, 'cdc_reader_heartbeats_total')).toBeGreaterThan(0);
    expect(await reader.process.terminate()).toBe(0);
  });

  it('a standby takes over within seconds of the leader’s death, and nothing is lost or doubled', async () => {
    const leader = fixture.reader();
    leader.process.start();
    await leader.process.waitReady(leader.port);
    const standby = fixture.reader({ CDC__STANDBY__POLL_INTERVAL_MS: '500' });
    standby.process.start();
    await waitFor(
      'the standby to stand by',
      async () => (await scrapeMetric(standby.port, 'cdc_reader_leader').catch(() => undefined)) === 0,
    );
    expect((await fetch(`http://127.0.0.1:${standby.port}/readyz`)).status).toBe(503);

    await fixture.db.query(`insert into stock values (1, 1)`);
    await leader.process.kill();
    const killedAt = Date.now();
    await standby.process.waitReady(standby.port, 30_000);
    const takeoverMs = Date.now() - killedAt;
    await fixture.db.query(`insert into stock values (2, 2)`);

    const records = await fixture.read(['stock'], (seen) => seen.length >= 2);
    const ids = envelopes(records).map((event) => event.after?.id);
    expect(ids).toEqual(expect.arrayContaining([1, 2]));
    expect(ids).toHaveLength(2);
    expect(takeoverMs).toBeLessThan(15_000);
    expect(await standby.process.terminate()).toBe(0);
  });

  it('a transaction whose commit record starts right where a heartbeat ends is delivered, not taken for one already in Kafka', async () => {
    // The reader's own heartbeats are off: the test writes the heartbeat, so that nothing else lands in the
    // WAL between it and the commit record after it.
    const reader = fixture.reader({ CDC__HEARTBEAT__INTERVAL_MS: '0' });
    reader.process.start();
    await reader.process.waitReady(reader.port);
    const writer = new Client({ connectionString: fixture.shard.url });
    await writer.connect();
    const insertLsn = async (): Promise<bigint> =>
      parseLsn((await fixture.db.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]!.lsn);
    let adjacent = false;
    let idleConfirmedLag: number | undefined;
    let id = 100;
    // Another backend may write WAL in between (autovacuum, a running-transactions record): then try again.
    for (let attempt = 0; attempt < 10 && !adjacent; attempt++) {
      id++;
      await writer.query(`begin; insert into ${fixture.schema}.stock values (${id}, 1)`);
      const emitted = await fixture.db.query<{ lsn: string }>('select pg_logical_emit_message(false, $1, $2)::text as lsn', [
        heartbeatPrefix,
        'test',
      ]);
      const heartbeatEnd = parseLsn(emitted.rows[0]!.lsn);
      // The reader has taken the heartbeat and recorded it in Kafka: the slot confirms up to its end.
      await waitFor(
        'the slot to confirm the heartbeat',
        async () => parseLsn((await fixture.slotConfirmedFlush()) ?? '0/0') >= heartbeatEnd,
      );
      adjacent = (await insertLsn()) === heartbeatEnd;
      // Idle at the heartbeat, the slot confirms exactly the WAL's end: `fleet status` shows 0 B, never -1 B.
      if (adjacent) idleConfirmedLag = (await slotLag(fixture.db, fixture.slot))?.confirmedLagBytes;
      // Committed now, the transaction's commit record starts exactly at the heartbeat's end when adjacent.
      await writer.query('commit');
    }
    await writer.end();
    expect(adjacent).toBe(true);
    expect(idleConfirmedLag).toBe(0);

    const records = await fixture.read(['stock'], (seen) => envelopes(seen).some((event) => event.after?.id === id), 20_000);
    expect(envelopes(records).map((event) => event.after?.id)).toContain(id);
    expect(await reader.process.terminate()).toBe(0);
  });
});
