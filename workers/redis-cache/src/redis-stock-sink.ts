import {
  cacheKeys,
  dispositionOf,
  type ChangeSink,
  type ConsumedChange,
  type DeadLetter,
  type Logger,
  type SinkMetrics,
  type TopicPartitionOffset,
} from '@inventory-cdc/shared';
import type { Redis } from 'ioredis';
import { stockChangeOf, type StockChange } from './stock-change';
import { stockScript, type ApplyStock } from './stock-script';
import { sweepShard } from './stock-sweep';

/** Changes per script call: bounds the time Redis spends in one atomic script. */
const changesPerCall = 500;

/**
 * Applies stock changes to the storefront's read model. Idempotent twice over: each change is applied only
 * when its source position is newer than the one stored for that SKU and warehouse, and the partition's
 * next offset is stored by the same script, atomically with the effect, so a restarted member resumes
 * exactly after the last applied batch (`resumePositions`) whatever Kafka's committed offset says.
 */
export class RedisStockSink implements ChangeSink {
  private readonly applyStock: ApplyStock;

  constructor(
    private readonly redis: Redis,
    private readonly group: string,
    private readonly metrics: SinkMetrics,
    private readonly logger: Logger,
    /** Called when the script finds Redis flushed; resolves once the read model is rebuilt. */
    private readonly onFlushed: () => Promise<void>,
  ) {
    this.applyStock = stockScript(redis);
  }

  /**
   * Applies one batch in order. The batch-end offset is stored with the last effect, so the batch's dead
   * letters are sent first: a crash in between repeats them (at least once), never skips them. A TRUNCATE of
   * the stock table empties the truncated shard's warehouses at its position, between the changes before
   * and after it.
   */
  async apply(
    changes: ConsumedChange[],
    _signal: AbortSignal,
    deadLetter: (letters: DeadLetter[]) => Promise<void>,
  ): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    const steps: ({ kind: 'stock'; change: StockChange; offset: string } | { kind: 'truncate'; position: string; offset: string })[] = [];
    for (const change of changes) {
      if (change.envelope?.op === 't' && change.positionText) {
        steps.push({ kind: 'truncate', position: change.positionText, offset: change.offset });
        continue;
      }
      try {
        const parsed = stockChangeOf(change);
        if (parsed) steps.push({ kind: 'stock', change: parsed, offset: change.offset });
      } catch (error) {
        if (dispositionOf(error) !== 'poison') throw error;
        letters.push({ record: change, reason: 'malformed', detail: (error as Error).message });
      }
    }
    await deadLetter(letters);
    const last = changes[changes.length - 1];
    if (!last) return [];
    const progressKey = cacheKeys.progress(this.group, last.topic, last.partition);
    let pending: { change: StockChange; offset: string }[] = [];
    for (const step of steps) {
      if (step.kind === 'stock') {
        pending.push(step);
        continue;
      }
      // Progress up to the truncate (not past it): a crash during the sweep repeats the sweep, which is idempotent.
      await this.applyChanges(pending, progressKey, BigInt(step.offset));
      pending = [];
      const removed = await sweepShard(this.redis, step.position, true);
      this.logger.info({ position: step.position, removed }, 'stock truncated: the shard’s warehouses removed from the read model');
    }
    await this.applyChanges(pending, progressKey, BigInt(last.offset) + 1n);
    return [];
  }

  /** Applies changes in script-sized chunks; the last chunk (or an empty call) stores `nextOffset`. */
  private async applyChanges(stock: { change: StockChange; offset: string }[], progressKey: string, nextOffset: bigint): Promise<void> {
    for (let start = 0; start < stock.length || start === 0; start += changesPerCall) {
      const chunk = stock.slice(start, start + changesPerCall);
      const isLast = start + changesPerCall >= stock.length;
      // Intermediate chunks store the offset after their own last change; the last one the given end.
      const offset = isLast ? nextOffset : BigInt(chunk[chunk.length - 1]!.offset) + 1n;
      await this.applyChunk(
        chunk.map((entry) => entry.change),
        progressKey,
        offset,
      );
      if (isLast) break;
    }
  }

  private async applyChunk(chunk: StockChange[], progressKey: string, nextOffset: bigint): Promise<void> {
    const keys = [cacheKeys.sentinel, progressKey, ...chunk.map((change) => cacheKeys.stock(change.sku))];
    const args: (string | number)[] = [nextOffset.toString(), 1];
    for (const change of chunk) args.push(change.warehouse, change.op, change.onHand, change.reserved, change.position, change.sku);
    let result = await this.applyStock(keys.length, ...keys, ...args);
    if (result === -1) {
      await this.onFlushed();
      result = await this.applyStock(keys.length, ...keys, ...args);
      if (result === -1) throw new Error('read model still missing after the rebuild');
    }
    const [applied, stale] = result as [number, number];
    this.metrics.skippedStale.inc({ sink: this.metrics.sink }, stale);
    this.metrics.applied.inc({ sink: this.metrics.sink }, applied);
    const nowMicros = Date.now() * 1000;
    if (applied > 0)
      for (const change of chunk)
        this.metrics.commitToApplied.observe({ sink: this.metrics.sink }, Math.max(0, (nowMicros - Number(change.commitTsMicros)) / 1e6));
  }

  async resumePositions(assigned: { topic: string; partition: number }[]): Promise<TopicPartitionOffset[]> {
    if (assigned.length === 0) return [];
    const stored = await this.redis.mget(...assigned.map(({ topic, partition }) => cacheKeys.progress(this.group, topic, partition)));
    return assigned.flatMap(({ topic, partition }, index) => (stored[index] ? [{ topic, partition, offset: stored[index] }] : []));
  }
}
