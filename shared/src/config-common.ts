import { z } from 'zod';
import { faultInjectionSchema } from './crash-points';

/** Comma-separated strings (as environment overrides give them) become arrays. */
const stringList = z.preprocess(
  (value) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean)
      : value,
  z.array(z.string().min(1)).min(1),
);

export const logConfigSchema = z
  .object({
    /** pino level. Default `info`. */
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const httpConfigSchema = z
  .object({
    /** Interface of the /metrics, /healthz and /readyz server. Default 127.0.0.1. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Port of that server; 0 picks a free one. */
    port: z.number().int().min(0).max(65535),
  })
  .strict();

export const shutdownConfigSchema = z
  .object({
    /** Time allowed for a graceful stop after SIGTERM before a forced non-zero exit. Default 20000 ms. */
    graceMs: z.number().int().positive().default(20_000),
  })
  .strict();

export const kafkaConfigSchema = z
  .object({
    /** Bootstrap brokers, `host:port`, a list or a comma-separated string. */
    brokers: stringList,
    /** Client id reported to the brokers. Default: the service name. */
    clientId: z.string().min(1).optional(),
    /** TLS to the brokers. Default false. */
    ssl: z.boolean().default(false),
    /** SASL authentication; the password is best given as `…__PASSWORD_FILE`. */
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string().min(1),
      })
      .strict()
      .optional(),
    /** TCP connect timeout. Default 3000 ms. */
    connectionTimeoutMs: z.number().int().positive().default(3_000),
    /** Request timeout. Default 30000 ms. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict();

export const registryConfigSchema = z
  .object({
    /** Confluent-compatible Schema Registry base URL (Apicurio: `…/apis/ccompat/v7`). */
    url: z.string().url(),
    /** HTTP basic auth, if the registry requires it. */
    basicAuth: z
      .object({ username: z.string().min(1), password: z.string().min(1) })
      .strict()
      .optional(),
    /** Compatibility rule the fleet configures on its subjects at start. Default BACKWARD. */
    compatibility: z
      .enum(['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE'])
      .default('BACKWARD'),
  })
  .strict();

/** The sections every worker's config shares; workers `.extend()` it with their own. */
export const workerConfigSchema = z
  .object({
    /** Name in logs, metrics and the Kafka client id. */
    serviceName: z.string().min(1),
    log: logConfigSchema.default({}),
    http: httpConfigSchema,
    shutdown: shutdownConfigSchema.default({}),
    /** Test-only crash injection (see crash-points.ts). */
    faultInjection: faultInjectionSchema.default({}),
  })
  .strict();

export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
export type RegistryConfig = z.infer<typeof registryConfigSchema>;
export type HttpConfig = z.infer<typeof httpConfigSchema>;
export type WorkerConfig = z.infer<typeof workerConfigSchema>;
