import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { ConsumedChange } from './change-event';
import { ensureTopics } from './kafka-client';
import { schemaHeadersOf } from './schema-archive';
import type { Lifecycle } from './lifecycle';
import { dlqTopicOf, type SinkTopicsConfig } from './sink-config';
import type { SinkMetrics } from './sink-metrics';

export interface DeadLetter {
  record: Pick<ConsumedChange, 'topic' | 'partition' | 'offset' | 'rawKey' | 'rawValue' | 'headers'>;
  /** Bounded reason label, e.g. `undecodable`, `rejected`, `retries-exhausted`. */
  reason: string;
  /** Human-readable detail: the error message, the receiver's last answer. */
  detail: string;
}

/**
 * Writes undeliverable or undecodable events to `<prefix>.dlq.<worker>`: the original key and value bytes
 * and schema headers, with the reason and origin in headers, so `fleet dlq replay` can send them back unchanged. The write is
 * awaited before the partition's offset moves past the event: nothing is skipped silently.
 */
export class DeadLetterQueue {
  constructor(
    private readonly producer: Producer,
    readonly topic: string,
    private readonly metrics: SinkMetrics,
  ) {}

  async send(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.producer.send({
      topic: this.topic,
      messages: letters.map(({ record, reason, detail }) => ({
        key: record.rawKey,
        value: record.rawValue,
        headers: {
          // A replayed letter must decode as the original did (see schema-archive.ts).
          ...schemaHeadersOf(record.headers),
          'dlq.reason': reason,
          'dlq.detail': detail.slice(0, 4_000),
          'dlq.source.topic': record.topic,
          'dlq.source.partition': String(record.partition),
          'dlq.source.offset': record.offset,
          'dlq.sink': this.metrics.sink,
          'dlq.at': new Date().toISOString(),
        },
      })),
    });
    for (const letter of letters) this.metrics.deadLettered.inc({ sink: this.metrics.sink, reason: letter.reason });
  }
}

/**
 * A sink's dead-letter queue, ready to use: its producer connected (disconnected at stop) and its topic
 * `<dlqPrefix>.dlq.<sink>` created when missing.
 */
export async function openDeadLetterQueue(
  kafka: Kafka,
  topics: SinkTopicsConfig,
  metrics: SinkMetrics,
  lifecycle: Pick<Lifecycle, 'onStop'>,
): Promise<DeadLetterQueue> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  lifecycle.onStop('dead-letter producer', () => producer.disconnect());
  const topic = dlqTopicOf(topics, metrics.sink);
  await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
  return new DeadLetterQueue(producer, topic, metrics);
}
