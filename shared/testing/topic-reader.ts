import type { Kafka } from 'kafkajs';
import { schemaFingerprintOf, schemaHeaders, type AvroCodec } from '@inventory-cdc/shared';
import { uniqueName } from './unique-name';

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: string;
  key: unknown;
  value: unknown;
}

/**
 * Reads topics from the beginning with read_committed isolation (what sinks see; `readUncommitted` also
 * hands out records of open and aborted transactions, to tell a lost record from a filtered one), decoding
 * Avro keys and values through the registry, until `until(records)` holds or `timeoutMs` passes (then
 * returns what it has, for the test's assertions to judge).
 */
export async function readTopics(
  kafka: Kafka,
  codec: AvroCodec,
  topics: string[],
  until: (records: ReadRecord[]) => boolean,
  timeoutMs = 60_000,
  readUncommitted = false,
): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('test_reader'), readUncommitted, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          records.push({
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            key: message.key
              ? await codec.deserialize(batch.topic, 'key', message.key, schemaFingerprintOf(message.headers, schemaHeaders.key))
              : null,
            value: message.value
              ? await codec.deserialize(batch.topic, 'value', message.value, schemaFingerprintOf(message.headers, schemaHeaders.value))
              : null,
          });
        }
        if (until(records)) done();
      },
    });
    await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  } finally {
    await consumer.disconnect();
  }
  return records;
}
