import { cacheKeys, decodePosition, stockRowKeyProblem, type Logger, type ReconcileMetrics } from '@inventory-cdc/shared';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { compareSlice, type DriftRow } from './audit-compare';
import { stockScript } from './stock-script';
import { withStockSnapshot, type SnapshotShard, type StockRowFigures } from './stock-snapshot';

export interface AuditOptions {
  /** SKUs compared per slice (one snapshot, one round of Redis reads). */
  sliceSkus: number;
  /** Pause between two slices, ms: bounds the audit's share of Postgres and Redis. */
  pauseMs: number;
  /** Wait before comparing a difference again, ms: a change still on its way through Kafka is lag, not drift. */
  graceMs: number;
  /** Write the audit's figures back where Redis drifted (only where the audit's position is still the newer). */
  repair: boolean;
}

/** One slice's outcome. */
export interface SliceAudit {
  shard: number;
  position: string;
  compared: number;
  drift: DriftRow[];
  repaired: number;
}

/** Who holds the audit: one member of the group audits at a time, the others stand by. */
const leaseKey = 'cdc:audit:lease';

/**
 * The shadow audit of the read model: compares Redis with Postgres a slice of SKUs at a time, at a known
 * source position (`withStockSnapshot`), while everything keeps running; reports drift and repairs it.
 *
 * A difference is confirmed only if it is still there after `graceMs` (a change on its way is not drift).
 * A repair goes through the stream's own newer-wins script at the audit's position: a row a newer change
 * has reached in the meantime is left alone, so the audit never overwrites a newer change.
 */
export class StockAudit {
  private readonly applyStock: ReturnType<typeof stockScript>;
  private readonly labels: { sink: string };

  constructor(
    private readonly redis: Redis,
    private readonly shards: SnapshotShard[],
    private readonly stockTable: string,
    private readonly metrics: ReconcileMetrics,
    private readonly logger: Logger,
    private readonly options: AuditOptions,
  ) {
    this.applyStock = stockScript(redis);
    this.labels = { sink: metrics.sink };
  }

  /** Audits passes, one after another, until `signal` aborts; only while holding the lease. */
  async run(signal: AbortSignal): Promise<void> {
    const holder = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    while (!signal.aborted) {
      const leaseMs = Math.max(30_000, (this.options.pauseMs + this.options.graceMs) * 10);
      const held = (await this.redis.get(leaseKey)) === holder || (await this.redis.set(leaseKey, holder, 'PX', leaseMs, 'NX')) === 'OK';
      if (!held) {
        await sleep(this.options.pauseMs * 5, undefined, { signal }).catch(() => undefined);
        continue;
      }
      try {
        await this.pass(signal, () => this.redis.pexpire(leaseKey, leaseMs).then(() => undefined));
      } catch (error) {
        if (signal.aborted) return;
        this.logger.error({ err: error }, 'stock audit pass failed; starting over');
        await sleep(this.options.pauseMs * 5, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /** One full pass over every shard, slice by slice; answers every slice's outcome. */
  async pass(signal?: AbortSignal, between: () => Promise<void> = () => Promise.resolve()): Promise<SliceAudit[]> {
    const slices: SliceAudit[] = [];
    for (const shard of this.shards) {
      let after = '';
      for (;;) {
        signal?.throwIfAborted();
        const { audit, lastSku } = await this.auditSlice(shard, after);
        if (lastSku === undefined) break;
        slices.push(audit);
        after = lastSku;
        await between();
        await sleep(this.options.pauseMs, undefined, signal ? { signal } : {});
      }
    }
    const drift = slices.reduce((sum, slice) => sum + slice.drift.length, 0);
    this.metrics.driftRows.set(this.labels, drift);
    this.metrics.lastPass.set(this.labels, Date.now() / 1000);
    this.logger.info(
      { slices: slices.length, compared: slices.reduce((sum, slice) => sum + slice.compared, 0), drift },
      'stock audit pass done',
    );
    return slices;
  }

  /** Compares (and repairs) the SKUs of `shard` after `after` in SKU order, up to `sliceSkus` of them. */
  async auditSlice(shard: SnapshotShard, after: string): Promise<{ audit: SliceAudit; lastSku: string | undefined }> {
    const { rows, position } = await withStockSnapshot(shard, 'stock-audit', async (query, at) => {
      const result = await query<StockRowFigures>(
        `select sku, warehouse, on_hand, reserved from ${this.stockTable}
          where sku in (select distinct sku from ${this.stockTable} where sku > $1 order by sku limit $2) order by sku, warehouse`,
        [after, this.options.sliceSkus],
      );
      return { rows: result.rows, position: at };
    });
    const audit: SliceAudit = { shard: shard.id, position, compared: 0, drift: [], repaired: 0 };
    const lastSku = rows.at(-1)?.sku;
    if (lastSku === undefined) return { audit, lastSku };
    this.metrics.auditLsn.set({ ...this.labels, shard: String(shard.id) }, Number(decodePosition(position).commitLsn));

    // Rows the stream's sinks refuse are not in the read model: Redis holding one is drift.
    const truth = rows.filter((row) => stockRowKeyProblem(row) === undefined);
    const first = compareSlice(truth, await this.hashes(rows.map((row) => row.sku)), position);
    audit.compared = first.compared;
    this.metrics.comparedRows.inc(this.labels, first.compared);
    if (first.drift.length > 0) {
      // A difference may be a change still on its way; what is still there after the grace is drift.
      await sleep(this.options.graceMs);
      const suspects = new Set(first.drift.map((row) => row.sku));
      const again = compareSlice(
        truth.filter((row) => suspects.has(row.sku)),
        await this.hashes([...suspects]),
        position,
      );
      const firstKeys = new Set(first.drift.map((row) => `${row.sku}|${row.warehouse}`));
      audit.drift = again.drift.filter((row) => firstKeys.has(`${row.sku}|${row.warehouse}`));
    }
    if (audit.drift.length > 0) {
      this.logger.warn({ shard: shard.id, position, drift: audit.drift.slice(0, 20) }, 'Redis drifts from Postgres');
      if (this.options.repair) audit.repaired = await this.repair(audit.drift, position);
    }
    return { audit, lastSku };
  }

  /** Writes the audit's figures at its position through the newer-wins script; answers the rows it changed. */
  private async repair(drift: DriftRow[], position: string): Promise<number> {
    const keys = ['', '', ...drift.map((row) => cacheKeys.stock(row.sku))];
    const args: (string | number)[] = ['0', 1];
    for (const row of drift)
      args.push(row.warehouse, row.expected ? 'r' : 'd', row.expected?.onHand ?? 0, row.expected?.reserved ?? 0, position, row.sku);
    const [applied] = (await this.applyStock(keys.length, ...keys, ...args)) as [number, number];
    this.metrics.repairedRows.inc(this.labels, applied);
    this.logger.info({ position, drift: drift.length, repaired: applied }, 'repaired drifting rows where the audit was still the newer');
    return applied;
  }

  private async hashes(skus: string[]): Promise<Map<string, Record<string, string>>> {
    const pipeline = this.redis.pipeline();
    for (const sku of skus) pipeline.hgetall(cacheKeys.stock(sku));
    const results = (await pipeline.exec()) ?? [];
    const hashes = new Map<string, Record<string, string>>();
    skus.forEach((sku, index) => {
      const [error, hash] = results[index] ?? [];
      if (error) throw error;
      if (hash && Object.keys(hash).length > 0) hashes.set(sku, hash as Record<string, string>);
    });
    return hashes;
  }
}
