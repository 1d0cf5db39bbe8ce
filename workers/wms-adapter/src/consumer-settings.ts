import type { ConsumerRunConfig, EachBatchHandler, Kafka } from 'kafkajs';

export interface ConsumerSettings {
  /** How often this member heartbeats, in ms, also while a batch is being applied. */
  heartbeatIntervalMs: number;
  /** Most record bytes fetched per partition at once: bounds the events of one batch, so of one commit. */
  maxBytesPerPartition: number;
}

/**
 * Keeps the member in its group while one batch takes long: calls the batch's `heartbeat()` every
 * `intervalMs` until the handler returns.
 *
 * Why: kafkajs heartbeats only between batches. A WMS batch can legitimately take longer than the session
 * timeout — retries with backoff, or an open circuit that holds deliveries until the WMS is back — and a
 * member that stops heartbeating is expelled, its uncommitted batch re-sent by the next owner, again and
 * again. A heartbeat that fails (a rebalance has begun) is left to the batch's own end: the commit then
 * fails and the next owner re-sends the batch, which the WMS dedupes.
 */
export function heartbeatDuring(eachBatch: EachBatchHandler, intervalMs: number): EachBatchHandler {
  return async (payload) => {
    const timer = setInterval(() => void payload.heartbeat().catch(() => undefined), intervalMs);
    try {
      await eachBatch(payload);
    } finally {
      clearInterval(timer);
    }
  };
}

/**
 * The same Kafka client, except that the consumers it creates fetch at most `maxBytesPerPartition` per
 * partition and heartbeat during long batches. `startChangeConsumer` builds its consumer from the client
 * it is given, so these are put on the client rather than passed through it; whatever the caller sets
 * explicitly wins.
 */
export function withConsumerSettings(kafka: Kafka, settings: ConsumerSettings): Kafka {
  const client = Object.create(kafka) as Kafka;
  client.consumer = (config) => {
    const consumer = kafka.consumer({ maxBytesPerPartition: settings.maxBytesPerPartition, ...config });
    const run = consumer.run.bind(consumer);
    consumer.run = (runConfig?: ConsumerRunConfig) =>
      run(
        runConfig?.eachBatch ? { ...runConfig, eachBatch: heartbeatDuring(runConfig.eachBatch, settings.heartbeatIntervalMs) } : runConfig,
      );
    return consumer;
  };
  return client;
}
