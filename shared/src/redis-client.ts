import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { secretText, tlsFilesSchema, tlsOptions, urlWithoutCredentials } from './config-common';
import type { Logger } from './logger';
import type { Readiness } from './readiness';

export const redisConfigSchema = z
  .object({
    /** `redis://host:port/db`, or `rediss://…` for TLS; credentials go in `username` / `password`, not here. */
    url: urlWithoutCredentials.refine((url) => /^rediss?:\/\//.test(url), 'must start with redis:// or rediss://'),
    /** ACL user. Default: the `default` user. */
    username: z.string().min(1).optional(),
    /** The user's password (`AUTH`); best given as `CDC__REDIS__PASSWORD_FILE`. */
    password: secretText.optional(),
    /** TLS settings (CA, client certificate); giving them turns TLS on, as a `rediss://` URL does. */
    tls: tlsFilesSchema.optional(),
  })
  .strict()
  .refine((config) => config.username === undefined || config.password !== undefined, {
    message: 'an ACL username needs a password',
    path: ['password'],
  });

export type RedisConfig = z.infer<typeof redisConfigSchema>;

/** ioredis settings for `config`, besides the URL: credentials, TLS, RESP2, reconnect backoff. */
export function redisClientOptions(config: RedisConfig): RedisOptions {
  const tls = config.tls ? tlsOptions(config.tls) : config.url.startsWith('rediss://') ? {} : undefined;
  return {
    ...(config.username ? { username: config.username } : {}),
    ...(config.password ? { password: config.password } : {}),
    ...(tls ? { tls } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(2_000, 50 * 2 ** attempt),
    lazyConnect: true,
  };
}

/**
 * The fleet's one Redis client construction: RESP2 (scripts return plain integers and nil stays nil),
 * reconnect with capped backoff, connection state as readiness, errors into our logs.
 */
export function createRedis(config: RedisConfig, logger: Logger, readiness: Readiness): Redis {
  const redis = new Redis(config.url, redisClientOptions(config));
  redis.on('ready', () => readiness.set('redis', true, 'connected'));
  redis.on('end', () => readiness.set('redis', false, 'disconnected'));
  redis.on('reconnecting', () => readiness.set('redis', false, 'reconnecting'));
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis error'));
  return redis;
}

/**
 * Eviction policies under which Redis may drop keys the read model needs. A least-privilege ACL user may
 * not run CONFIG (it would reveal other users' settings); the policy is then reported as unknown.
 */
export async function evictionRisk(redis: Redis): Promise<string | undefined> {
  let reply: string[];
  try {
    reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  } catch (error) {
    if ((error as Error).message.startsWith('NOPERM')) return 'unknown (this user may not run CONFIG GET)';
    throw error;
  }
  const policy = reply[1];
  return policy && policy !== 'noeviction' && !policy.startsWith('volatile-') ? policy : undefined;
}
