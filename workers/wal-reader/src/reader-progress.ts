import { HaltError, type Logger } from '@inventory-cdc/shared';
import { randomUUID } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';

/**
 * The shard's progress record. It is written in the same Kafka transaction as the events it covers, so
 * for read_committed readers "the record says X" and "every event up to X is in Kafka" are one fact.
 */
export interface ReaderProgress {
  shard: number;
  /** Commit LSN of the last Postgres transaction whose events are committed in Kafka. */
  commitLsn: bigint;
  /** The initial snapshot finished (streaming may begin after `snapshotLsn`). */
  snapshotComplete: boolean;
  /** The slot's consistent point the snapshot was taken at, when there was one. */
  snapshotLsn: bigint | null;
  /** Identity of the slot instance the progress belongs to (its consistent point at creation). */
  slotCreatedAtLsn: bigint | null;
  /**
   * Ad-hoc snapshots asked for by a transaction at or below `commitLsn` and not finished: a restarted reader
   * runs them again (from the start; their rows are idempotent for the sinks) before streaming on.
   */
  pendingSnapshots?: Array<{ id: string; table: string; txId: string }>;
  updatedAtMs: number;
}

export function progressKey(shard: number): string {
  return `shard-${shard}`;
}

export function progressMessage(progress: ReaderProgress): Message {
  return {
    key: progressKey(progress.shard),
    value: JSON.stringify({
      ...progress,
      commitLsn: progress.commitLsn.toString(),
      snapshotLsn: progress.snapshotLsn?.toString() ?? null,
      slotCreatedAtLsn: progress.slotCreatedAtLsn?.toString() ?? null,
    }),
  };
}

export function parseProgress(value: Buffer): ReaderProgress {
  const raw = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  const optionalLsn = (field: unknown): bigint | null => (field === null || field === undefined ? null : BigInt(field as string));
  return {
    shard: Number(raw.shard),
    commitLsn: BigInt(raw.commitLsn as string),
    snapshotComplete: raw.snapshotComplete === true,
    snapshotLsn: optionalLsn(raw.snapshotLsn),
    slotCreatedAtLsn: optionalLsn(raw.slotCreatedAtLsn),
    ...(Array.isArray(raw.pendingSnapshots) && raw.pendingSnapshots.length > 0
      ? { pendingSnapshots: raw.pendingSnapshots as NonNullable<ReaderProgress['pendingSnapshots']> }
      : {}),
    updatedAtMs: Number(raw.updatedAtMs),
  };
}

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
