import { MetricNames, sqlIdentifier } from '@inventory-cdc/shared';
import {
  bucketsOf,
  bucketsSince,
  histogramQuantile,
  maxOf,
  scrapeSamples,
  sumOf,
  type Bucket,
  type Sample,
} from '@inventory-cdc/shared/testing';
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { sinkNames, type DemoFleet } from './demo-fleet';
import type { FlashSale } from './flash-sale';
import { renderLiveView, renderSinkLine, type LiveModel, type ReaderSaleLatency, type SaleLatency } from './live-view-render';

interface Observation {
  at: number;
  purchases: number;
  metrics: Map<string, Sample[]>;
}

/** Latency quantiles over this window, so the figures follow the sale instead of averaging the whole run. */
const quantileWindowMs = 5_000;

/**
 * The p99 of commit → applied each sink must keep to during a flash sale, seconds: the storefront's Redis
 * within 50 ms, the WMS within a second, the ERP within one posting window (`erpPostingWindowMs`).
 */
export function sinkTargets(erpPostingWindowMs: number): Record<string, number> {
  return { 'redis-cache': 0.05, 'wms-adapter': 1, 'erp-adapter': erpPostingWindowMs / 1000 };
}

/**
 * The demo's live terminal view: every second it scrapes every worker's /metrics, reads the hot SKUs'
 * availability from Postgres and from Redis, and redraws in place (ANSI cursor movement) when stdout is
 * a terminal, or prints a compact line every 5 s when it is not (CI logs, pipes).
 */
export class LiveView {
  private readonly history: Observation[] = [];
  /** Each worker's first samples scraped once the sale has started: the whole-sale figures count from them. */
  private readonly first = new Map<string, Sample[]>();
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastPlainAt = 0;
  phase: LiveModel['phase'] = 'flash sale';

  constructor(
    private readonly fleet: DemoFleet,
    private readonly sale: FlashSale,
    private readonly pools: Pool[],
    private readonly redis: Redis,
    private readonly schema: string,
    private readonly hotSkus: string[],
    private readonly shardOfSku: (sku: string) => number,
    private readonly durationSeconds: number,
    private readonly targets: Record<string, number>,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {}

  start(): void {
    const tick = (): void => {
      void this.refresh()
        .catch((error: unknown) => this.out.write(`live view: ${error instanceof Error ? error.message : String(error)}\n`))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, 1_000);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /**
   * Draws the last frame; answers each sink's commit → applied, and each reader's share of it, over the
   * whole sale and its drain.
   */
  async stop(): Promise<{ sinks: SaleLatency[]; readers: ReaderSaleLatency[] }> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.phase = 'done';
    const last = await this.refresh(true);
    const since = (worker: string, histogram: string): Bucket[] =>
      bucketsSince(bucketsOf(last.metrics.get(worker) ?? [], histogram), bucketsOf(this.first.get(worker) ?? [], histogram));
    const sinks = sinkNames.map((sink) => {
      const applied = since(sink, MetricNames.sinkCommitToApplied);
      return {
        sink,
        events: applied.at(-1)?.count ?? 0,
        p50: histogramQuantile(0.5, applied),
        p99: histogramQuantile(0.99, applied),
        targetP99: this.targets[sink] ?? Infinity,
      };
    });
    const readers = this.fleet.shards.map((shard) => {
      const worker = `wal-reader-${shard.id}`;
      const received = since(worker, MetricNames.readerSourceToReceived);
      const inKafka = since(worker, MetricNames.readerCommitLag);
      const kafkaTransaction = since(worker, MetricNames.readerKafkaTransactionDuration);
      return {
        shard: shard.id,
        transactions: inKafka.at(-1)?.count ?? 0,
        receivedP50: histogramQuantile(0.5, received),
        receivedP99: histogramQuantile(0.99, received),
        kafkaP50: histogramQuantile(0.5, inKafka),
        kafkaP99: histogramQuantile(0.99, inKafka),
        kafkaTransactionP50: histogramQuantile(0.5, kafkaTransaction),
        kafkaTransactionP99: histogramQuantile(0.99, kafkaTransaction),
      };
    });
    return { sinks, readers };
  }

  private async observe(): Promise<Observation> {
    const metrics = new Map<string, Sample[]>();
    await Promise.all(
      this.fleet.members
        .filter(({ member }) => !member.kind.endsWith('receiver'))
        .map(async ({ member }) => metrics.set(member.name, await scrapeSamples(`${member.url}/metrics`))),
    );
    return { at: Date.now(), purchases: this.sale.counters.purchases, metrics };
  }

  private async hotStock(): Promise<LiveModel['hot']> {
    return Promise.all(
      this.hotSkus.map(async (sku) => {
        const [truth, cached] = await Promise.all([
          this.pools[this.shardOfSku(sku)]!.query<{ available: string | null }>(
            `select sum(on_hand - reserved)::text as available from ${sqlIdentifier(this.schema)}.stock where sku = $1`,
            [sku],
          ),
          this.redis.hget(`cdc:stock:{${sku}}`, 'av'),
        ]);
        const available = truth.rows[0]?.available;
        return { sku, postgres: available == null ? undefined : Number(available), redis: cached === null ? undefined : Number(cached) };
      }),
    );
  }

  private model(now: Observation, previous: Observation | undefined, window: Observation[], hot: LiveModel['hot']): LiveModel {
    const seconds = previous ? Math.max(0.001, (now.at - previous.at) / 1000) : 1;
    const rate = (worker: string, name: string): number => {
      const current = sumOf(now.metrics.get(worker) ?? [], name) ?? 0;
      const before = previous ? (sumOf(previous.metrics.get(worker) ?? [], name) ?? current) : current;
      return Math.max(0, current - before) / seconds;
    };
    const quantile = (worker: string, histogram: string, q: number): number | undefined => {
      // Only over the window, from its oldest scrape of the worker that answered (one that timed out on a
      // busy machine has no samples): from nothing, the histogram would count since the process started,
      // the catalogue's load included.
      const before = window.map((observation) => observation.metrics.get(worker) ?? []).find((samples) => samples.length > 0);
      if (!before) return undefined;
      return histogramQuantile(q, bucketsSince(bucketsOf(now.metrics.get(worker) ?? [], histogram), bucketsOf(before, histogram)));
    };
    const ready = (worker: string): boolean => sumOf(now.metrics.get(worker) ?? [], MetricNames.workerReady) === 1;
    return {
      phase: this.phase,
      progress: this.sale.progress,
      elapsedSeconds: this.sale.elapsedMs / 1000,
      durationSeconds: this.durationSeconds,
      sale: { ...this.sale.counters, purchasesPerSecond: previous ? Math.max(0, now.purchases - previous.purchases) / seconds : 0 },
      shards: this.fleet.shards.map((shard) => {
        const worker = `wal-reader-${shard.id}`;
        const samples = now.metrics.get(worker) ?? [];
        return {
          id: shard.id,
          ready: ready(worker),
          eventsPerSecond: rate(worker, MetricNames.readerEvents),
          slotLagBytes: maxOf(samples, MetricNames.readerSlotConfirmedLag),
          retainedWalBytes: maxOf(samples, MetricNames.readerSlotRetainedWal),
          sourceToKafkaP99: quantile(worker, MetricNames.readerCommitLag, 0.99),
        };
      }),
      sinks: sinkNames.map((sink) => {
        const samples = now.metrics.get(sink) ?? [];
        return {
          name: sink,
          ready: ready(sink),
          eventsPerSecond: rate(sink, MetricNames.sinkApplied),
          lagMessages: sumOf(samples, MetricNames.sinkLagMessages),
          lagSeconds: maxOf(samples, MetricNames.sinkLagSeconds),
          p50: quantile(sink, MetricNames.sinkCommitToApplied, 0.5),
          p99: quantile(sink, MetricNames.sinkCommitToApplied, 0.99),
          targetP99: this.targets[sink] ?? Infinity,
        };
      }),
      hot,
    };
  }

  private async refresh(final = false): Promise<Observation> {
    const [now, hot] = await Promise.all([this.observe(), this.hotStock()]);
    // A scrape that failed (a busy machine) answers no samples: the first real one counts.
    for (const [worker, samples] of now.metrics) if (samples.length > 0 && !this.first.has(worker)) this.first.set(worker, samples);
    const previous = this.history.at(-1);
    const recent = this.history.filter((observation) => now.at - observation.at <= quantileWindowMs);
    // A refresh slower than the window (a busy machine) leaves it empty: then since the previous one.
    const window = recent.length > 0 ? recent : previous ? [previous] : [];
    this.history.push(now);
    while (this.history.length > 0 && now.at - this.history[0]!.at > quantileWindowMs + 2_000) this.history.shift();
    const model = this.model(now, previous, window, hot);
    const lines = renderLiveView(model);
    if (this.out.isTTY) {
      // Back to the first line of the previous frame, clear to the end of the screen, draw the new frame.
      const rewind = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F\x1b[0J` : '';
      this.out.write(`${rewind}${lines.join('\n')}\n`);
      this.drawnLines = lines.length;
    } else if (final || now.at - this.lastPlainAt >= 5_000) {
      this.lastPlainAt = now.at;
      this.out.write(final ? `${lines.join('\n')}\n` : `${lines[0]}\n${lines[1]}\n${renderSinkLine(model)}\n`);
    }
    return now;
  }
}
