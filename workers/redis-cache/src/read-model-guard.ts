import { cacheKeys, type Logger } from '@inventory-cdc/shared';
import type { Redis } from 'ioredis';
import { rebuildStock, type RebuildShard } from './stock-rebuild';

/**
 * Keeps the read model complete without relying on Redis persistence: on start and every
 * `checkIntervalMs` it checks the sentinel key, and when it is gone (a flush, a restart without
 * persistence) it rebuilds from Postgres. Concurrent requests share one rebuild.
 */
export class ReadModelGuard {
  private running: Promise<number> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly shards: RebuildShard[],
    private readonly stockTable: { schema: string; table: string },
    private readonly logger: Logger,
    private readonly checkIntervalMs: number,
  ) {}

  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(
      () => void this.check().catch((error: unknown) => this.logger.error({ err: error }, 'read-model check failed')),
      this.checkIntervalMs,
    );
  }

  rebuild(): Promise<number> {
    this.running ??= rebuildStock(this.redis, this.shards, this.stockTable, this.logger).finally(() => (this.running = undefined));
    return this.running;
  }

  private async check(): Promise<void> {
    if ((await this.redis.exists(cacheKeys.sentinel)) === 0) {
      this.logger.warn('read model missing (cold start or flushed Redis): rebuilding from Postgres');
      await this.rebuild();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
