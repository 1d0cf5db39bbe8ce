import { progressMessage, readerTopicsOf } from '@inventory-cdc/shared';
import { waitFor } from '@inventory-cdc/shared/testing';
import { ReaderFixture } from '../test/reader-test-fixture';

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
  });
});
