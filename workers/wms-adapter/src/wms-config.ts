import {
  circuitConfigSchema,
  kafkaConfigSchema,
  registryConfigSchema,
  sinkConsumerSchema,
  sinkTopicsSchema,
  workerConfigSchema,
} from '@inventory-cdc/shared';
import { z } from 'zod';

/** A secret that an environment override may turn into a number (`CDC__WMS__TOKEN=1234`): kept as text. */
const secretText = z.preprocess((value) => (typeof value === 'number' ? String(value) : value), z.string().min(1));

export const wmsConfigSchema = workerConfigSchema
  .extend({
    kafka: kafkaConfigSchema,
    registry: registryConfigSchema,
    topics: sinkTopicsSchema,
    consumer: sinkConsumerSchema.default({}),
    wms: z
      .object({
        /** Base URL of the WMS API; changes are posted to `<baseUrl>/v1/stock-changes`. */
        baseUrl: z.string().url(),
        /** Bearer token sent as `Authorization: Bearer <token>` (secret; best given as `CDC__WMS__TOKEN_FILE`). */
        token: secretText,
        /** Key of the `X-Signature: sha256=<hex HMAC-SHA256 of the body>` header (secret). */
        hmacSecret: secretText,
        /** Time allowed for one HTTP call, response body included, in ms. Default 5000. */
        requestTimeoutMs: z.number().int().positive().default(5_000),
        /** SKUs of one partition batch delivered at once (each SKU strictly in order). Default 16. */
        maxConcurrentSkus: z.number().int().positive().default(16),
        retry: z
          .object({
            /** First backoff delay in ms (full jitter, doubling per attempt). Default 100. */
            initialDelayMs: z.number().int().positive().default(100),
            /** Upper bound of one backoff delay in ms (a longer `Retry-After` wins). Default 5000. */
            maxDelayMs: z.number().int().positive().default(5_000),
            /**
             * Time one event may spend on failed attempts and backoff before it is dead-lettered, in ms. Time
             * spent waiting for an open circuit does not count. Default 30000.
             */
            budgetMs: z.number().int().positive().default(30_000),
          })
          .strict()
          .default({}),
        circuit: circuitConfigSchema.default({}),
      })
      .strict(),
  })
  .strict();

export type WmsConfig = z.infer<typeof wmsConfigSchema>;
