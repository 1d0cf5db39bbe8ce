import { progressMessage, readerTopicsOf } from '@inventory-cdc/shared';
import { waitFor } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { ReaderFixture, envelopes } from '../test/reader-test-fixture';

describe('wal-reader progress read', () => {
  let fixture: ReaderFixture;

  beforeAll(async () => {
    fixture = await ReaderFixture.create('progress_read', `create table items (id int4 primary key)`);
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('a progress topic holding only an aborted record is read to its end, and the read leaves no consumer group behind', async () => {
    const { progress } = readerTopicsOf(fixture.prefix, fixture.shard.id);
    const admin = fixture.kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: progress, numPartitions: 1 }], waitForLeaders: true });
    const producer = fixture.kafka.producer({ transactionalId: `${progress}.test`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const transaction = await producer.transaction();
    await transaction.send({
      topic: progress,
      messages: [
        progressMessage({
          shard: fixture.shard.id,
          commitLsn: 1n,
          snapshotComplete: true,
          snapshotLsn: 1n,
          slotCreatedAtLsn: 1n,
          updatedAtMs: Date.now(),
        }),
      ],
    });
    await transaction.abort();
    await producer.disconnect();

    // The aborted record is invisible to read_committed readers: this is a first start, so it snapshots.
    const reader = fixture.reader();
    reader.process.start();
    await reader.process.waitReady(reader.port, 30_000);
    await fixture.db.query(`insert into items values (1)`);
    const records = await fixture.read(['items'], (seen) => seen.length >= 1);

    expect(records).toHaveLength(1);
    await waitFor('no progress-read group left', async () => {
      const { groups } = await admin.listGroups();
      return !groups.some((group) => group.groupId.startsWith(`${progress}.reader-`));
    });
    await admin.disconnect();
    await reader.process.terminate();
  });

  it('a transaction left open on the progress partition stops the reader instead of resuming from the progress before it (no change sent twice)', async () => {
    const { progress } = readerTopicsOf(fixture.prefix, fixture.shard.id);
    await fixture.db.query(`truncate items`);
    const first = fixture.reader();
    first.process.start();
    await first.process.waitReady(first.port, 30_000);
    await fixture.db.query(`insert into items values (10)`);
    await fixture.read(['items'], (seen) => envelopes(seen).some((event) => (event.after as { id?: number } | null)?.id === 10));
    await first.process.terminate();

    // Another transactional producer aborts a transaction on the progress partition, then leaves one open
    // (what a hanging transaction looks like to readers: the last stable offset stays below the high
    // watermark).
    const producer = fixture.kafka.producer({ transactionalId: `${progress}.open`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    // Aborted records beyond one fetch's 1 MiB, so the last fetch before the open transaction holds only
    // them: kafkajs reports such a batch with lag 0, as if the partition's end were reached.
    const aborted = await producer.transaction();
    for (let chunk = 0; chunk < 3; chunk++)
      await aborted.send({ topic: progress, messages: [{ key: 'foreign', value: Buffer.alloc(600 * 1024, chunk) }] });
    await aborted.abort();
    const open = await producer.transaction();
    await open.send({ topic: progress, messages: [{ key: 'foreign', value: 'open' }] });
    await fixture.db.query(`insert into items values (11)`);

    const second = fixture.reader();
    second.process.start();
    await waitFor('the reader to refuse the blocked progress read', () =>
      Promise.resolve(readFileSync(second.process.logFile, 'utf8').includes('progress_blocked')),
    );
    expect(second.process.isRunning()).toBe(true);

    // Once the transaction ends, the next session reads the progress through its end and resumes after it.
    await open.abort();
    await producer.disconnect();
    await second.process.waitReady(second.port, 60_000);
    const idsOf = (seen: Parameters<typeof envelopes>[0]): number[] =>
      envelopes(seen).flatMap((event) => (event.after as { id?: number } | null)?.id ?? []);
    // Rows of different keys may sit in different partitions: wait for both, in whatever order they come.
    const records = await fixture.read(['items'], (seen) => idsOf(seen).includes(10) && idsOf(seen).includes(11));
    const ids = idsOf(records);
    expect(ids.filter((id) => id === 10)).toHaveLength(1);
    expect(ids.filter((id) => id === 11)).toHaveLength(1);
    await second.process.terminate();
  });
});
