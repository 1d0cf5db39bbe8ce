import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { RawRecord } from './dead-letter-entry';

/** Offsets `[from, to)` of one partition. */
export interface PartitionRange {
  partition: number;
  from: bigint;
  to: bigint;
}

/** One partition's wanted ranges: read from the first `from` to the last `to`, keep what any range holds. */
interface PartitionSpan {
  partition: number;
  from: bigint;
  to: bigint;
  ranges: PartitionRange[];
}

function spansOf(ranges: PartitionRange[]): Map<number, PartitionSpan> {
  const spans = new Map<number, PartitionSpan>();
  for (const range of ranges) {
    const span = spans.get(range.partition);
    if (!span) spans.set(range.partition, { partition: range.partition, from: range.from, to: range.to, ranges: [range] });
    else {
      span.from = range.from < span.from ? range.from : span.from;
      span.to = range.to > span.to ? range.to : span.to;
      span.ranges.push(range);
    }
  }
  return spans;
}

/**
 * Reads the given offset ranges of a topic (read_committed) and returns their records in offset order per
 * partition; a partition may be named in any number of ranges (e.g. one per offset). A throwaway group that
 * never commits reads them, so nothing about any real group changes. Offsets that no longer exist
 * (retention) are simply absent from the result.
 */
export async function readRanges(kafka: Kafka, topic: string, ranges: PartitionRange[], timeoutMs = 30_000): Promise<RawRecord[]> {
  const wanted = ranges.filter((range) => range.from < range.to);
  if (wanted.length === 0) return [];
  const spans = spansOf(wanted);
  const pending = new Map(spans);
  // By offset: a fetch that began before the seek took hold may deliver a record a second time.
  const records = new Map<string, RawRecord>();
  const consumer = kafka.consumer({ groupId: `fleet-cli-read.${randomUUID()}`, allowAutoTopicCreation: false, readUncommitted: false });
  await consumer.connect();
  try {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        const span = pending.get(batch.partition);
        if (!span) return Promise.resolve();
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (span.ranges.some((range) => offset >= range.from && offset < range.to))
            records.set(`${batch.partition}:${message.offset}`, {
              partition: batch.partition,
              offset: message.offset,
              key: message.key,
              value: message.value,
              headers: message.headers ?? {},
            });
        }
        if (BigInt(batch.lastOffset()) >= span.to - 1n || batch.offsetLag() === '0') pending.delete(batch.partition);
        if (pending.size === 0) finish();
        return Promise.resolve();
      },
    });
    for (const span of spans.values()) consumer.seek({ topic, partition: span.partition, offset: span.from.toString() });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`could not read ${topic} within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return [...records.values()].sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
}
