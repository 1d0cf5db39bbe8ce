import { HaltError, parseProgress, progressKey, type Logger, type ReaderProgress } from '@inventory-cdc/shared';
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
  // A fresh group per read that never commits offsets: every read starts at the beginning of the compacted
  // log, and a member left behind by a killed reader cannot hold up the join until its session times out.
  const consumer = kafka.consumer({
    groupId: `${topic}.reader-${shard}.${randomUUID()}`,
    readUncommitted: false,
    allowAutoTopicCreation: false,
  });
  await consumer.connect();
  try {
    let reachedEnd!: () => void;
    const done = new Promise<void>((resolve) => (reachedEnd = resolve));
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          if (message.key?.toString() === key && message.value) latest = parseProgress(message.value);
        }
        // offsetLag counts up to the high watermark, transaction markers included.
        if (batch.offsetLag() === '0') pending.delete(batch.partition);
        if (pending.size === 0) reachedEnd();
      },
    });
    const timer = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new HaltError('progress_read', `could not read ${topic} to its end in ${timeoutMs} ms`, 'check the Kafka cluster')),
        timeoutMs,
      ).unref(),
    );
    await Promise.race([done, timer]);
  } finally {
    await consumer.disconnect();
  }
  logger.info({ progress: latest && { ...latest, commitLsn: latest.commitLsn.toString() } }, 'read reader progress');
  return latest;
}
