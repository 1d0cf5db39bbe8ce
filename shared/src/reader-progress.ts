import type { Kafka } from 'kafkajs';
import { readCommittedTopic } from './committed-topic-reader';
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
  const key = progressKey(shard);
  let latest: ReaderProgress | undefined;
  await readCommittedTopic(kafka, topic, {
    purpose: `reader-${shard}`,
    logger,
    timeoutMs,
    onMessage: (message) => {
      if (message.key?.toString() === key && message.value) latest = parseProgress(message.value);
    },
    // The caller fenced this shard's earlier producers first, so Kafka has aborted their open transactions;
    // one still open is one Kafka does not complete (a hanging transaction, or another producer's): fail,
    // never read stale progress — resuming from the record before it would send changes twice.
    blocked: (partition, stable, highWatermark) =>
      new RetryableError(
        'progress_blocked',
        `partition ${partition} of ${topic} holds a transaction Kafka has not completed at offset ${stable} (high watermark ${highWatermark}): the progress committed after it cannot be read, and resuming from the progress before it would send changes twice. If it stays, find and abort it with kafka-transactions.sh find-hanging / abort`,
      ),
  });
  logger.info({ progress: latest && { ...latest, commitLsn: latest.commitLsn.toString() } }, 'read reader progress');
  return latest;
}
