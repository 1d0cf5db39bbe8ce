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

  /** Rebuilds, or joins the rebuild in progress; each rebuild is logged once, at its start and its end. */
  rebuild(reason = 'requested'): Promise<number> {
    if (this.running) return this.running;
    if (reason === 'requested') this.logger.info('rebuilding the read model from Postgres');
    else this.logger.warn({ reason }, 'read model missing (cold start or flushed Redis): rebuilding from Postgres');
    const started = Date.now();
    this.running = rebuildStock(this.redis, this.shards, this.stockTable, this.logger)
      .then((rows) => {
        this.logger.info({ rows, durationMs: Date.now() - started }, 'read model rebuilt');
        return rows;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async check(): Promise<void> {
    if (this.running) return;
    if ((await this.redis.exists(cacheKeys.sentinel)) === 0) await this.rebuild('sentinel missing');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
