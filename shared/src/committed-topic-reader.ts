import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { RetryableError } from './errors';
import type { Logger } from './logger';

export interface CommittedReadOptions {
  /** Called for each committed record, in offset order per partition. */
  onMessage: (message: KafkaMessage, partition: number) => void;
  /** Names the read in its throwaway consumer group (`<topic>.<purpose>.<uuid>`) and in warnings. */
  purpose: string;
  /** What it means that a transaction Kafka has not completed holds a partition's end back. */
  blocked: (partition: number, stableOffset: bigint, highWatermark: string) => Error;
  logger: Logger;
  timeoutMs: number;
}

/**
 * Reads a (small, usually compacted) topic from its beginning to its end as read_committed consumers see
 * it, and resolves once every partition has been read to the last stable offset (LSO) it had when the read
 * began. Whatever a transaction committed before the read began is therefore seen.
 */
export async function readCommittedTopic(kafka: Kafka, topic: string, options: CommittedReadOptions): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  // kafkajs lists offsets read_committed: `high` is the last stable offset (LSO), below any open transaction.
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Set(offsets.filter((partition) => partition.high !== partition.low).map((partition) => partition.partition));
  if (pending.size === 0) return;
  const stableOffsets = new Map(offsets.map((partition) => [partition.partition, BigInt(partition.high)]));

  // A fresh group per read that never commits offsets (deleted after the read): every read starts at the
  // beginning of the log, and a member left behind by a killed process cannot hold up the join until its
  // session times out.
  const groupId = `${topic}.${options.purpose}.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    let settle!: (error?: Error) => void;
    const done = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
    const timer = setTimeout(
      () => settle(new RetryableError('topic_read', `could not read ${topic} to its end in ${options.timeoutMs} ms`)),
      options.timeoutMs,
    ).unref();
    // A partition is read when a batch reaches its last stable offset (LSO): read_committed fetches stop
    // there. Each batch reports its last offset, aborted records and transaction markers included, even a
    // batch with nothing left to deliver (which never reaches eachBatch, but this event does). With the high
    // watermark above the LSO a transaction is still open on the partition, and what is committed after it
    // cannot be read yet: the caller decides what that means (`blocked`).
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const stable = stableOffsets.get(payload.partition) ?? 0n;
      if (BigInt(payload.lastOffset) + 1n < stable) return;
      if (BigInt(payload.highWatermark) > stable) {
        settle(options.blocked(payload.partition, stable, payload.highWatermark));
        return;
      }
      pending.delete(payload.partition);
      if (pending.size === 0) settle();
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        for (const message of batch.messages) options.onMessage(message, batch.partition);
        return Promise.resolve();
      },
    });
    await done.finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
    await deleteGroup(kafka, groupId, options);
  }
}

async function deleteGroup(kafka: Kafka, groupId: string, options: CommittedReadOptions): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch (error) {
    options.logger.warn({ err: error, groupId }, `could not delete the ${options.purpose} read's consumer group`);
  } finally {
    await admin.disconnect();
  }
}
