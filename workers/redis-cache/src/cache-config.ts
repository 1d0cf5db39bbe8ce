import {
  kafkaConfigSchema,
  postgresConnectionSchema,
  redisConfigSchema,
  registryConfigSchema,
  sinkConsumerSchema,
  sinkTopicsSchema,
  workerConfigSchema,
} from '@inventory-cdc/shared';
import { z } from 'zod';

export const cacheConfigSchema = workerConfigSchema
  .extend({
    kafka: kafkaConfigSchema,
    registry: registryConfigSchema,
    redis: redisConfigSchema,
    topics: sinkTopicsSchema,
    consumer: sinkConsumerSchema.default({}),
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
