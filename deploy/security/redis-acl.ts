import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * What the redis-cache worker needs, and no more: its keys (`cdc:*`: stock hashes, progress, sentinel), its
 * notification channels, the commands its client and its Lua script (workers/redis-cache/lua) run, and
 * INFO for ioredis' ready check, and SCAN for the rare sweeps (a rebuild or a TRUNCATE removes the rows
 * Postgres no longer has; stock hashes are not indexed by shard). No CONFIG (it would reveal other users'
 * settings), no KEYS/FLUSH*.
 */
export const redisCacheAclRules = [
  'resetkeys',
  '~cdc:*',
  // The empty key name: the stock script's placeholder for "no sentinel / no progress key" (rebuilds).
  '~',
  'resetchannels',
  '&cdc:stock-changed:*',
  '-@all',
  '+ping',
  '+info',
  '+evalsha',
  '+eval',
  '+exists',
  '+get',
  '+mget',
  '+set',
  '+hget',
  '+hgetall',
  '+hset',
  '+hdel',
  '+publish',
  '+scan',
] as const;

/**
 * Creates or resets the redis-cache's ACL user with `password` (run as an admin user). The password is sent
 * as its SHA-256 (`#<hex>`), so it never appears in Redis' command stream.
 */
export async function ensureRedisCacheUser(admin: Redis, username: string, password: string): Promise<void> {
  const hash = createHash('sha256').update(password).digest('hex');
  await admin.call('ACL', 'SETUSER', username, 'reset', 'on', `#${hash}`, ...redisCacheAclRules);
}

export async function dropRedisUser(admin: Redis, username: string): Promise<void> {
  await admin.call('ACL', 'DELUSER', username);
}
