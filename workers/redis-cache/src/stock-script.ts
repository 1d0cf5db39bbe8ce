import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

/** lua/apply-stock.lua: applies the stream's changes, the rebuild's rows and the sweeps (TRUNCATE, rebuild). */
const applyStockLua = readFileSync(join(__dirname, '..', 'lua', 'apply-stock.lua'), 'utf8');

export type ApplyStock = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<number | [number, number]>;

/** Registers the script on a client (EVALSHA with a fallback to EVAL, as ioredis does for defined commands). */
export function stockScript(redis: Redis): ApplyStock {
  if (!('applyStock' in redis)) redis.defineCommand('applyStock', { lua: applyStockLua });
  return (redis as unknown as { applyStock: ApplyStock }).applyStock.bind(redis);
}
