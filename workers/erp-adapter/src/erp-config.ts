import {
  circuitConfigSchema,
  kafkaConfigSchema,
  registryConfigSchema,
  sinkConsumerSchema,
  sinkTopicsSchema,
  workerConfigSchema,
} from '@inventory-cdc/shared';
import { z } from 'zod';

const positiveMs = z.number().int().positive();

export const windowConfigSchema = z
  .object({
    /** A window is cut once it holds this many records (change events, tombstones and poison events). Default 500. */
    maxEvents: z.number().int().positive().max(50_000).default(500),
    /**
     * A window is cut this long after its first record's source commit, however few it holds (held at least
     * a quarter of this, and at most all of it, after that record arrived). Default 1000 ms.
     */
    maxAgeMs: positiveMs.default(1_000),
  })
  .strict();

export const erpRetryConfigSchema = z
  .object({
    /** First backoff before the second attempt (full jitter). Default 100 ms. */
    initialDelayMs: positiveMs.default(100),
    /** Upper bound of one backoff; a longer `Retry-After` still wins. Default 5000 ms. */
    maxDelayMs: positiveMs.default(5_000),
    /**
     * Time one window may spend in attempts and backoff before it is dead-lettered (`retries-exhausted`).
     * Time spent waiting for an open circuit does not count. Default 30000 ms.
     */
    budgetMs: positiveMs.default(30_000),
  })
  .strict();

export const erpConfigSchema = z
  .object({
    /** The ERP's base URL; postings go to `POST <baseUrl>/v1/postings`. */
    baseUrl: z.string().url(),
    /** Sent as `Authorization: Bearer <token>`; best given as `CDC__ERP__TOKEN_FILE`. */
    token: z.string().min(1),
    /** Key of the `X-Signature: sha256=<hex HMAC-SHA256 of the body>` header; best given as `…__HMAC_SECRET_FILE`. */
    hmacSecret: z.string().min(1),
    /** One HTTP attempt is abandoned (and retried) after this long. Default 5000 ms. */
    requestTimeoutMs: positiveMs.default(5_000),
    window: windowConfigSchema.default({}),
    retry: erpRetryConfigSchema.default({}),
    circuit: circuitConfigSchema.default({}),
  })
  .strict();

export const erpAdapterConfigSchema = workerConfigSchema
  .extend({
    kafka: kafkaConfigSchema,
    registry: registryConfigSchema,
    topics: sinkTopicsSchema,
    consumer: sinkConsumerSchema.default({}),
    erp: erpConfigSchema,
  })
  .strict();

export type ErpAdapterConfig = z.infer<typeof erpAdapterConfigSchema>;
export type ErpConfig = z.infer<typeof erpConfigSchema>;
export type WindowLimits = z.infer<typeof windowConfigSchema>;
