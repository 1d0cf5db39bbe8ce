import {
  kafkaConfigSchema,
  postgresConnectionSchema,
  redisConfigSchema,
  registryConfigSchema,
  workerConfigSchema,
} from '@inventory-cdc/shared';
import { z } from 'zod';

export const cacheConfigSchema = workerConfigSchema
  .extend({
    kafka: kafkaConfigSchema,
    registry: registryConfigSchema,
    redis: redisConfigSchema,
    topics: z
      .object({
        /** Topic prefix of the wal-readers; the stock topic is `<prefix>.<stockSchema>.stock`. */
        prefix: z.string().min(1),
        /** Postgres schema of the stock table (`<stockSchema>.stock`). Default `inventory`. */
        stockSchema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/)
          .default('inventory'),
        /** Dead letters go to `<prefix>.dlq.redis-cache`. Default: the topic prefix. */
        dlqPrefix: z.string().min(1).optional(),
      })
      .strict(),
    consumer: z
      .object({
        /** Consumer group; every member of it shares the partitions. Default `<prefix>.redis-cache`. */
        groupId: z.string().min(1).optional(),
        /** Partitions processed at once by this member. Default 4. */
        partitionsConsumedConcurrently: z.number().int().positive().default(4),
      })
      .strict()
      .default({}),
    /** The shards to re-seed from on a cold start or after a flush (every shard holding stock). */
    rebuild: z
      .object({
        shards: z.array(z.object({ id: z.number().int().min(0), connection: postgresConnectionSchema }).strict()).min(1),
        /** How often the worker checks that Redis still holds the read model. Default 1000 ms. */
        checkIntervalMs: z.number().int().positive().default(1_000),
      })
      .strict(),
  })
  .strict();

export type CacheConfig = z.infer<typeof cacheConfigSchema>;
