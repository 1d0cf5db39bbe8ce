import { z } from 'zod';

/** Where a sink reads: the wal-readers' stock topic and its own dead-letter topic. */
export const sinkTopicsSchema = z
  .object({
    /** Topic prefix of the wal-readers; the stock topic is `<prefix>.<stockSchema>.stock`. */
    prefix: z.string().min(1),
    /** Postgres schema of the stock table (`<stockSchema>.stock`). Default `inventory`. */
    stockSchema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default('inventory'),
    /** Dead letters go to `<dlqPrefix>.dlq.<sink>`. Default: the topic prefix. */
    dlqPrefix: z.string().min(1).optional(),
  })
  .strict();

/** How a sink takes part in its consumer group. */
export const sinkConsumerSchema = z
  .object({
    /** Consumer group; every member of it shares the partitions. Default `<prefix>.<sink>`. */
    groupId: z.string().min(1).optional(),
    /** Partitions processed at once by this member. Default 4. */
    partitionsConsumedConcurrently: z.number().int().positive().default(4),
    /**
     * A member silent this long is dropped from the group and its partitions reassigned; also how long a
     * restarted member waits for a killed predecessor's partitions. Default 30000 ms.
     */
    sessionTimeoutMs: z.number().int().positive().default(30_000),
    /** Heartbeat period of this member, also while a delivery is in progress. Default 3000 ms. */
    heartbeatIntervalMs: z.number().int().positive().default(3_000),
  })
  .strict()
  .refine((consumer) => consumer.heartbeatIntervalMs < consumer.sessionTimeoutMs, {
    message: 'heartbeatIntervalMs must be below sessionTimeoutMs',
    path: ['heartbeatIntervalMs'],
  });

export type SinkTopicsConfig = z.infer<typeof sinkTopicsSchema>;
export type SinkConsumerConfig = z.infer<typeof sinkConsumerSchema>;

/** The stock topic a sink consumes. */
export function stockTopicOf(topics: SinkTopicsConfig): string {
  return `${topics.prefix}.${topics.stockSchema}.stock`;
}

/** A sink's dead-letter topic: `<dlqPrefix or prefix>.dlq.<sink>`. */
export function dlqTopicOf(topics: Pick<SinkTopicsConfig, 'prefix' | 'dlqPrefix'>, sink: string): string {
  return `${topics.dlqPrefix ?? topics.prefix}.dlq.${sink}`;
}

/** A sink's consumer group: the configured one, else `<prefix>.<sink>`. */
export function sinkGroupIdOf(config: { topics: SinkTopicsConfig; consumer: Pick<SinkConsumerConfig, 'groupId'> }, sink: string): string {
  return config.consumer.groupId ?? `${config.topics.prefix}.${sink}`;
}
