import { RetryableError, parseProgress, progressKey, type Logger, type ReaderProgress } from '@inventory-cdc/shared';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';

/**
 * Reads the shard's latest committed progress record from the compacted progress topic (read_committed,
 * so an aborted transaction's record is never seen). Call it after the transactional producer has
 * connected: connecting fences the previous instance and settles its open transaction, so the log's end
 * is stable while we read it.
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
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Set(offsets.filter((partition) => partition.high !== partition.low).map((partition) => partition.partition));
  if (pending.size === 0) return undefined;

  const key = progressKey(shard);
  let latest: ReaderProgress | undefined;
  // A fresh group per read that never commits offsets (deleted after the read): every read starts at the
  // beginning of the compacted log, and a member left behind by a killed reader cannot hold up the join
  // until its session times out.
  const groupId = `${topic}.reader-${shard}.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    let reachedEnd!: () => void;
    const done = new Promise<void>((resolve) => (reachedEnd = resolve));
    // The end is known from each batch's lag (up to the high watermark, transaction markers included). A
    // batch of only aborted records or markers never reaches eachBatch, but this event, with its lag, does.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.offsetLag === '0') pending.delete(payload.partition);
      if (pending.size === 0) reachedEnd();
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
    const timer = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new RetryableError('progress_read', `could not read ${topic} to its end in ${timeoutMs} ms`)),
        timeoutMs,
      ).unref(),
    );
    await Promise.race([done, timer]);
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
