import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { RawRecord } from './dead-letter-entry';

/** Offsets `[from, to)` of one partition. */
export interface PartitionRange {
  partition: number;
  from: bigint;
  to: bigint;
}

/**
 * Reads the given offset ranges of a topic (read_committed) and returns their records in offset order per
 * partition. A throwaway group that never commits reads them, so nothing about any real group changes.
 * Offsets that no longer exist (retention) are simply absent from the result.
 */
export async function readRanges(kafka: Kafka, topic: string, ranges: PartitionRange[], timeoutMs = 30_000): Promise<RawRecord[]> {
  const wanted = ranges.filter((range) => range.from < range.to);
  if (wanted.length === 0) return [];
  const pending = new Map(wanted.map((range) => [range.partition, range]));
  const records: RawRecord[] = [];
  const consumer = kafka.consumer({ groupId: `fleet-cli-read.${randomUUID()}`, allowAutoTopicCreation: false, readUncommitted: false });
  await consumer.connect();
  try {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = pending.get(batch.partition);
        if (!range) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset >= range.from && offset < range.to)
            records.push({
              partition: batch.partition,
              offset: message.offset,
              key: message.key,
              value: message.value,
              headers: message.headers ?? {},
            });
        }
        if (BigInt(batch.lastOffset()) >= range.to - 1n || batch.offsetLag() === '0') pending.delete(batch.partition);
        if (pending.size === 0) finish();
      },
    });
    for (const range of wanted) consumer.seek({ topic, partition: range.partition, offset: range.from.toString() });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`could not read ${topic} within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
}
