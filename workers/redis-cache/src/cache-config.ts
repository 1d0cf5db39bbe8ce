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
    /**
     * The shadow audit: compares Redis with Postgres continuously, a slice of SKUs at a time at a known
     * source position, reports drift (`cdc_reconcile_drift_rows`) and repairs it. It reads the shards of
     * `rebuild.shards` (the login needs the REPLICATION attribute, as for the rebuild). One member of the
     * group audits at a time.
     */
    audit: z
      .object({
        /** Run the audit. Default false. */
        enabled: z.boolean().default(false),
        /** SKUs compared per slice. Default 500. */
        sliceSkus: z.number().int().positive().default(500),
        /** Pause between two slices in ms. Default 1000. */
        pauseMs: z.number().int().nonnegative().default(1_000),
        /** Wait before comparing a difference again, in ms (a change on its way is lag, not drift). Default 2000. */
        graceMs: z.number().int().nonnegative().default(2_000),
        /** Write Postgres's figures back where Redis drifted, never over a newer change. Default true. */
        repair: z.boolean().default(true),
      })
      .strict()
      .default({}),
  })
  .strict();

export type CacheConfig = z.infer<typeof cacheConfigSchema>;
