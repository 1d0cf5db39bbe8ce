import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { RetryableError } from './errors';
import type { Logger } from './logger';
import { parseProgress, progressKey, type ReaderProgress } from './reader-contract';

/**
 * Reads the shard's latest committed progress record from the compacted progress topic (read_committed,
 * so an aborted transaction's record is never seen). Call it after the transactional producer has
 * connected: connecting fences the previous instance and settles its open transaction, so the log's end
 * is stable while we read it. Read by anyone else (`fleet status`), a reader's open transaction makes the
 * read fail with `progress_blocked`: the record before it may not be the latest.
 */
export async function readProgress(
  kafka: Kafka,
  topic: string,
  shard: number,
  logger: Logger,
  timeoutMs = 60_000,
): Promise<ReaderProgress | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  // kafkajs lists offsets read_committed: `high` is the last stable offset (LSO), below any open transaction.
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Set(offsets.filter((partition) => partition.high !== partition.low).map((partition) => partition.partition));
  if (pending.size === 0) return undefined;
  const stableOffsets = new Map(offsets.map((partition) => [partition.partition, BigInt(partition.high)]));

  const key = progressKey(shard);
  let latest: ReaderProgress | undefined;
  // A fresh group per read that never commits offsets (deleted after the read): every read starts at the
  // beginning of the compacted log, and a member left behind by a killed reader cannot hold up the join
  // until its session times out.
  const groupId = `${topic}.reader-${shard}.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    let settle!: (error?: Error) => void;
    const done = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
    const timer = setTimeout(
      () => settle(new RetryableError('progress_read', `could not read ${topic} to its end in ${timeoutMs} ms`)),
      timeoutMs,
    ).unref();
    // A partition is read when a batch reaches its last stable offset (LSO): read_committed fetches stop
    // there. Each batch reports its last offset, aborted records and transaction markers included, even a
    // batch with nothing left to deliver (which never reaches eachBatch, but this event does). With the high
    // watermark above the LSO a transaction is still open on the partition, and progress committed after it
    // cannot be read yet: resuming from the record before it would send changes twice. The caller fenced
    // this shard's earlier producers first, so Kafka has aborted their open transactions; one still open is
    // one Kafka does not complete (a hanging transaction, or another producer's): fail, never read stale.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const stable = stableOffsets.get(payload.partition) ?? 0n;
      if (BigInt(payload.lastOffset) + 1n < stable) return;
      if (BigInt(payload.highWatermark) > stable) {
        settle(
          new RetryableError(
            'progress_blocked',
            `partition ${payload.partition} of ${topic} holds a transaction Kafka has not completed at offset ${stable} (high watermark ${payload.highWatermark}): the progress committed after it cannot be read, and resuming from the progress before it would send changes twice. If it stays, find and abort it with kafka-transactions.sh find-hanging / abort`,
          ),
        );
        return;
      }
      pending.delete(payload.partition);
      if (pending.size === 0) settle();
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        for (const message of batch.messages) {
          if (message.key?.toString() === key && message.value) latest = parseProgress(message.value);
        }
        return Promise.resolve();
      },
    });
    await done.finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
    await deleteGroup(kafka, groupId, logger);
  }
  logger.info({ progress: latest && { ...latest, commitLsn: latest.commitLsn.toString() } }, 'read reader progress');
  return latest;
}

async function deleteGroup(kafka: Kafka, groupId: string, logger: Logger): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch (error) {
    logger.warn({ err: error, groupId }, "could not delete the progress read's consumer group");
  } finally {
    await admin.disconnect();
  }
}
