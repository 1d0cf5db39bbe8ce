import { changeTopicOf, ensureTopics, readerTopicsOf, schemaArchiveTopicConfig } from '@inventory-cdc/shared';
import type { Kafka } from 'kafkajs';
import type { ReaderConfig } from './reader-config';
import type { TableShape } from './table-schema';

/**
 * The reader's topics: one per captured table (all shards share it; keyed by primary key, compacted with
 * deletes so the latest row survives), the transaction boundaries, and the shard's own compacted progress topic
 * (one partition: the shard's records in one ordered log), and the fleet's schema archive (schema-archive.ts).
 */
export async function ensureReaderTopics(kafka: Kafka, config: ReaderConfig, tables: TableShape[]): Promise<Map<string, number>> {
  const { prefix, partitions, replicationFactor } = config.topics;
  const internal = readerTopicsOf(prefix, config.shard.id);
  const topics = [
    ...tables.map((table) => ({
      topic: changeTopicOf(prefix, table.schema, table.table),
      numPartitions: partitions,
      replicationFactor,
      configEntries: [{ name: 'cleanup.policy', value: 'compact,delete' }],
    })),
    { topic: internal.transactions, numPartitions: partitions, replicationFactor },
    {
      topic: internal.progress,
      numPartitions: 1,
      replicationFactor,
      // A record per Kafka transaction, of which only the last counts: small segments rolled often let
      // compaction keep the topic (which every start reads through) small.
      configEntries: [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'segment.bytes', value: String(1024 * 1024) },
        { name: 'segment.ms', value: String(10 * 60 * 1000) },
        { name: 'min.cleanable.dirty.ratio', value: '0.1' },
      ],
    },
    schemaArchiveTopicConfig(prefix, replicationFactor),
  ];
  await ensureTopics(kafka, topics);
  return partitionCounts(
    kafka,
    topics.map((topic) => topic.topic),
  );
}

/** How many partitions each topic has now (an existing topic keeps the count it was made with). */
async function partitionCounts(kafka: Kafka, topics: string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const metadata = await admin.fetchTopicMetadata({ topics });
    return new Map(metadata.topics.map((topic) => [topic.name, topic.partitions.length]));
  } finally {
    await admin.disconnect();
  }
}
