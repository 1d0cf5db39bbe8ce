import { Readiness, createRedis, evictionRisk, redisConfigSchema } from '@inventory-cdc/shared';
import { testStackEndpoints, uniqueName, waitFor } from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { dropRedisUser, ensureRedisCacheUser } from './redis-acl';

const applyStockLua = readFileSync(join(__dirname, '..', '..', 'workers', 'redis-cache', 'lua', 'apply-stock.lua'), 'utf8');

describe('the redis-cache ACL user on the local Redis', () => {
  const url = testStackEndpoints().redisUrl;
  const username = uniqueName('cdc_cache');
  const password = randomBytes(18).toString('base64url');
  const sku = uniqueName('SKU');
  const admin = new Redis(url, { lazyConnect: true });
  let cache: Redis;
  const readiness = new Readiness();

  beforeAll(async () => {
    await admin.connect();
    await ensureRedisCacheUser(admin, username, password);
    cache = createRedis(redisConfigSchema.parse({ url, username, password }), pino({ level: 'silent' }), readiness);
    await cache.connect();
  });

  afterAll(async () => {
    cache?.disconnect();
    await admin.del(`cdc:stock:{${sku}}`, `cdc:progress:{${username}}:t:0`);
    await dropRedisUser(admin, username);
    admin.disconnect();
  });

  it('connects through the fleet client and becomes ready', () => {
    expect(cache.status).toBe('ready');
  });

  it('runs the stock script (EVALSHA/EVAL, HSET, PUBLISH) and its notification reaches a subscriber', async () => {
    const subscriber = new Redis(url);
    const received: string[] = [];
    subscriber.on('pmessage', (_pattern, _channel, message: string) => received.push(message));
    await subscriber.psubscribe('cdc:stock-changed:*');
    try {
      cache.defineCommand('applyStock', { lua: applyStockLua });
      const apply = (cache as unknown as { applyStock: (...args: (string | number)[]) => Promise<unknown> }).applyStock.bind(cache);
      const keys = ['', `cdc:progress:{${username}}:t:0`, `cdc:stock:{${sku}}`];
      await expect(apply(keys.length, ...keys, '1', '1', 'WH-A', 'c', 10, 2, '00000001', sku)).resolves.toEqual([1, 0]);
      // The rebuild's call: no progress key either.
      const rebuildKeys = ['', '', `cdc:stock:{${sku}}`];
      await expect(apply(rebuildKeys.length, ...rebuildKeys, '0', '0', 'WH-B', 'r', 5, 0, '00000002', sku)).resolves.toEqual([1, 0]);
      expect(await cache.mget(`cdc:progress:{${username}}:t:0`)).toEqual(['1']);
      expect(await admin.hget(`cdc:stock:{${sku}}`, 'av')).toBe('13');
      await waitFor('stock notification', () => received.some((message) => message.includes(sku)), 5_000);
    } finally {
      subscriber.disconnect();
    }
  });

  it.each([
    ['a key outside cdc:*', (redis: Redis) => redis.get('other:secret')],
    ['CONFIG GET', (redis: Redis) => redis.config('GET', 'requirepass')],
    ['KEYS', (redis: Redis) => redis.keys('*')],
    ['FLUSHALL', (redis: Redis) => redis.flushall()],
    ['a script touching a key outside cdc:*', (redis: Redis) => redis.eval("return redis.call('GET', KEYS[1])", 1, 'other:secret')],
    ['publishing outside cdc:stock-changed:*', (redis: Redis) => redis.publish('orders', 'x')],
  ])('is refused %s', async (_what, command) => {
    await expect(command(cache)).rejects.toThrow(/NOPERM/);
  });

  it('reports the eviction policy as unknown instead of failing the worker', async () => {
    await expect(evictionRisk(cache)).resolves.toMatch(/^unknown/);
  });

  it('is refused with a wrong password', async () => {
    const wrong = new Redis(url, { username, password: 'not-the-password', lazyConnect: true, retryStrategy: () => null });
    const errors: string[] = [];
    wrong.on('error', (error: Error) => errors.push(error.message));
    await wrong.connect().catch(() => undefined);
    wrong.disconnect();
    expect(errors.join('\n')).toMatch(/WRONGPASS/);
    expect(errors.join('\n')).not.toContain('not-the-password');
  });
});
