import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { faultInjectionSchema } from './crash-points';
import { securityConfigSchema } from './transport-security';

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

/**
 * A secret as text. An environment override is read as YAML, so `…__PASSWORD=1234` arrives as a number:
 * it is turned back into text. Validation messages never quote the value.
 */
export const secretText = z.preprocess((value) => (typeof value === 'number' ? String(value) : value), z.string().min(1));

/**
 * A PEM certificate or key: a path to a readable file, or the PEM text itself (which is what an environment
 * override `…__CA_FILE=/path` puts there). Paths are checked at start, so the error names the key.
 */
export const pemSource = z
  .string()
  .min(1)
  .refine((value) => isPemText(value) || isReadableFile(value), 'must be PEM text or the path of a readable PEM file');

function isPemText(value: string): boolean {
  return value.includes('-----BEGIN ');
}

function isReadableFile(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The PEM text of a `pemSource` value (reads the file when it is a path). */
export function readPem(value: string): string {
  return isPemText(value) ? value : readFileSync(value, 'utf8');
}

/** A path to a file the process can read, checked at start so the error names the key. */
export const readableFile = z.string().min(1).refine(isReadableFile, 'must name a readable file');

/**
 * TLS client settings shared by Kafka and Redis. The private key is named so that printing the config
 * redacts it (it may hold PEM text).
 */
export const tlsFilesSchema = z
  .object({
    /** CA bundle that signed the server's certificate (PEM path or text). Default: Node's built-in CAs. */
    ca: pemSource.optional(),
    /** Client certificate for mutual TLS (PEM path or text); needs `privateKey`. */
    cert: pemSource.optional(),
    /** Private key of `cert` (PEM path or text); best as `…__PRIVATE_KEY_FILE`. */
    privateKey: pemSource.optional(),
    /** Passphrase of an encrypted `privateKey`; best given as `…__KEY_PASSWORD_FILE`. */
    keyPassword: secretText.optional(),
    /** Verify the server's certificate chain and host name. Default true; false only for a test server. */
    rejectUnauthorized: z.boolean().default(true),
    /** Host name to verify and send as SNI when it differs from the connect address. */
    serverName: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((tls, context) => {
    if ((tls.cert === undefined) !== (tls.privateKey === undefined)) {
      const missing = tls.cert === undefined ? 'cert' : 'privateKey';
      context.addIssue({ code: z.ZodIssueCode.custom, path: [missing], message: 'cert and privateKey go together (mutual TLS)' });
    }
  });

/** Node TLS options from a `tlsFilesSchema` value (files read now). */
export function tlsOptions(tls: z.infer<typeof tlsFilesSchema>): ConnectionOptions {
  return {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca ? { ca: [readPem(tls.ca)] } : {}),
    ...(tls.cert ? { cert: readPem(tls.cert) } : {}),
    ...(tls.privateKey ? { key: readPem(tls.privateKey) } : {}),
    ...(tls.keyPassword ? { passphrase: tls.keyPassword } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
  };
}

export const kafkaSaslSchema = z
  .object({
    /** `scram-sha-512` (preferred), `scram-sha-256`, or `plain` (the password travels as is: only over TLS). */
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
    username: z.string().min(1),
    /** Best given as `CDC__KAFKA__SASL__PASSWORD_FILE`. */
    password: secretText,
  })
  .strict();

export const kafkaConfigSchema = z
  .object({
    /** Bootstrap brokers, `host:port`, a list or a comma-separated string. */
    brokers: stringList,
    /** Client id reported to the brokers. Default: the service name. */
    clientId: z.string().min(1).optional(),
    /**
     * TLS to the brokers: `false` (default), `true` (Node's built-in CAs), or CA / client certificate / key
     * files and `rejectUnauthorized`.
     */
    ssl: z.union([z.boolean(), tlsFilesSchema]).default(false),
    /** SASL authentication (PLAIN or SCRAM); without it the client connects anonymously. */
    sasl: kafkaSaslSchema.optional(),
    /** TCP connect timeout. Default 3000 ms. */
    connectionTimeoutMs: z.number().int().positive().default(3_000),
    /** Request timeout. Default 30000 ms. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict();

/** A URL with a password in it would be printed with the config: credentials have their own keys. */
export const urlWithoutCredentials = z
  .string()
  .url()
  .refine((url) => {
    try {
      const parsed = new URL(url);
      return parsed.password === '' && parsed.username === '';
    } catch {
      return true;
    }
  }, 'must not contain credentials: give the user and password as their own keys');

export const registryConfigSchema = z
  .object({
    /** Confluent-compatible Schema Registry base URL (Apicurio: `…/apis/ccompat/v7`). */
    url: urlWithoutCredentials,
    /** HTTP basic auth, if the registry requires it; the password best as `…__BASIC_AUTH__PASSWORD_FILE`. */
    basicAuth: z
      .object({ username: z.string().min(1), password: secretText })
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
    /** Plain text to non-loopback hosts: warned about, or refused under `profile: production` (transport-security.ts). */
    security: securityConfigSchema.default({}),
  })
  .strict();

export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
export type KafkaSaslConfig = z.infer<typeof kafkaSaslSchema>;
export type TlsFilesConfig = z.infer<typeof tlsFilesSchema>;
export type RegistryConfig = z.infer<typeof registryConfigSchema>;
export type HttpConfig = z.infer<typeof httpConfigSchema>;
export type WorkerConfig = z.infer<typeof workerConfigSchema>;
