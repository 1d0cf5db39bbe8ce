import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from './logger';
import type { Readiness } from './readiness';

export const redisConfigSchema = z
  .object({
    /** `redis://host:port/db` (or `rediss://` for TLS). */
    url: z.string().url(),
    /** ACL user; default the `default` user. */
    username: z.string().optional(),
    /** Best given as `…__PASSWORD_FILE`. */
    password: z.string().optional(),
  })
  .strict();

export type RedisConfig = z.infer<typeof redisConfigSchema>;

/**
 * The fleet's one Redis client construction: RESP2 (scripts return plain integers and nil stays nil),
 * reconnect with capped backoff, connection state as readiness, errors into our logs.
 */
export function createRedis(config: RedisConfig, logger: Logger, readiness: Readiness): Redis {
  const redis = new Redis(config.url, {
    ...(config.username ? { username: config.username } : {}),
    ...(config.password ? { password: config.password } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(2_000, 50 * 2 ** attempt),
    lazyConnect: true,
  });
  redis.on('ready', () => readiness.set('redis', true, 'connected'));
  redis.on('end', () => readiness.set('redis', false, 'disconnected'));
  redis.on('reconnecting', () => readiness.set('redis', false, 'reconnecting'));
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis error'));
  return redis;
}

/** Eviction policies under which Redis may drop keys the read model needs. */
export async function evictionRisk(redis: Redis): Promise<string | undefined> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1];
  return policy && policy !== 'noeviction' && !policy.startsWith('volatile-') ? policy : undefined;
}
