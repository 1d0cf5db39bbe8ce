import { MetricNames, sqlIdentifier } from '@inventory-cdc/shared';
import {
  bucketsOf,
  bucketsSince,
  histogramQuantile,
  hostCpuBetween,
  sampleHostCpu,
  scrapeSamples,
  waitFor,
  type Bucket,
} from '@inventory-cdc/shared/testing';
import { shardOf } from '@inventory-cdc/shared';
import Redis from 'ioredis';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, printTable, saveResults } from './bench-report';
import { BenchWorld, quantile } from './bench-world';
import { sinkReached } from './pipeline-probe';
import {
  measuredSinks,
  sinkHistograms,
  sinkLatencies,
  waitForSinks,
  wmsObservedLatencies,
  commitTimestamps,
  firstAtLeastLatencies,
  type MeasuredSink,
  type SinkLatency,
} from './sink-latency';

export interface LatencyBenchOptions {
  runs: number;
  /** Offered loads, transactions per second. */
  rates: number[];
  secondsPerRate: number;
  shards: number;
}

const epochMs = (): number => performance.timeOrigin + performance.now();

interface LevelResult {
  offered: number;
  achieved: number;
  /** The readers' share: source commit → Kafka commit. */
  readerP50: number | undefined;
  readerP99: number | undefined;
  /** Of the readers' share, the part before a reader took the commit message: source commit → received. */
  readerReceivedP50: number | undefined;
  readerReceivedP99: number | undefined;
  sinkP50: number | undefined;
  sinkP99: number | undefined;
  sinkMaxBound: number | undefined;
  observerP50: number | undefined;
  observerP99: number | undefined;
  observerMax: number | undefined;
  /** Hot-SKU commits the observer saw in Redis (in their own notification or a later one). */
  observed: number;
  /** Notifications the observer received (several values can share one, when a batch coalesces them). */
  notifications: number;
  /** Every sink's own commit → applied histogram over the level. */
  sinks: Record<MeasuredSink, SinkLatency>;
  /** The WMS seen from outside: hot-row commit → the reference WMS holding that state or a newer one. */
  wmsObserverP50: number | undefined;
  wmsObserverP99: number | undefined;
  /** Share of the host's CPU time busy while the load ran (0..1): near 1, latencies measure the run queue. */
  hostCpuBusy: number | undefined;
}

/**
 * End-to-end latency, Postgres commit → visible in Redis, the WMS and the ERP, at fixed offered loads. An open-loop generator
 * starts single-row stock updates at the offered rate (half of them on one hot SKU, the rest spread over
 * the catalogue) through a pool per shard, and records each hot-SKU commit's on-hand value and transaction
 * id (Postgres's commit time is looked up after the load). Two measurements must agree:
 * - the sink's own histogram (source.commitTs → applied), scraped before and after the load;
 * - an external observer subscribed to the hot SKU's change channel, timestamping each new value; each
 *   commit counts from its Postgres commit time to the first notification of a value at least as new.
 * The WMS and ERP adapters run beside the redis-cache against the reference receivers: their own
 * histograms, and for the WMS the receiver's arrival times of the hot row's states (`wmsObservedLatencies`).
 */
export async function latencyBench(options: LatencyBenchOptions): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  const all: Array<LevelResult & { run: number }> = [];
  for (let run = 1; run <= options.runs; run++) {
    const world = await BenchWorld.create('latency', options.shards, 2_000, { receivers: true });
    try {
      await world.markReadModelPresent();
      await world.fleet.startReceiversAndReaders();
      await world.fleet.startSinks();
      // The catalogue's snapshot events first, so they are not counted as the load's latency.
      for (const sink of measuredSinks) await sinkReached(world.fleet.url(sink), world.skus.length * 3, 300_000);
      for (const rate of options.rates) {
        const result = await measureLevel(world, rate, options.secondsPerRate);
        all.push({ run, ...result });
        process.stdout.write(
          `run ${run}, ${rate}/s offered: achieved ${result.achieved.toFixed(0)}/s, redis sink p99 ${fmt(result.sinkP99)}, observer p99 ${fmt(result.observerP99)} (${result.observed} hot commits seen through ${result.notifications} notifications); wms p99 ${fmt(result.sinks['wms-adapter'].p99)}, observed ${fmt(result.wmsObserverP99)}; erp p99 ${fmt(result.sinks['erp-adapter'].p99)}; host cpu ${result.hostCpuBusy === undefined ? '–' : `${(result.hostCpuBusy * 100).toFixed(0)}%`} busy\n`,
        );
      }
    } finally {
      await world.close();
    }
  }
  for (const rate of options.rates) {
    const levels = all.filter((level) => level.offered === rate);
    const med = (pick: (level: LevelResult) => number | undefined): number =>
      median(levels.map(pick).filter((v): v is number => v !== undefined));
    rows.push({
      'offered tx/s': rate,
      'achieved tx/s': Math.round(med((l) => l.achieved)),
      'reader p50 ms': med((l) => l.readerP50) * 1000,
      'reader p99 ms': med((l) => l.readerP99) * 1000,
      'received p50 ms': med((l) => l.readerReceivedP50) * 1000,
      'received p99 ms': med((l) => l.readerReceivedP99) * 1000,
      'sink p50 ms': med((l) => l.sinkP50) * 1000,
      'sink p99 ms': med((l) => l.sinkP99) * 1000,
      'sink max ≤ ms': med((l) => l.sinkMaxBound) * 1000,
      'observer p50 ms': med((l) => l.observerP50) * 1000,
      'observer p99 ms': med((l) => l.observerP99) * 1000,
      'observer max ms': med((l) => l.observerMax) * 1000,
      'hot commits seen': Math.round(med((l) => l.observed)),
      'wms p50 ms': med((l) => l.sinks['wms-adapter'].p50) * 1000,
      'wms p99 ms': med((l) => l.sinks['wms-adapter'].p99) * 1000,
      'wms observed p99 ms': med((l) => l.wmsObserverP99) * 1000,
      'erp p50 ms': med((l) => l.sinks['erp-adapter'].p50) * 1000,
      'erp p99 ms': med((l) => l.sinks['erp-adapter'].p99) * 1000,
      'host cpu busy %': med((l) => l.hostCpuBusy) * 100,
    });
  }
  printTable(
    `end-to-end latency, Postgres commit → Redis, WMS, ERP (median of ${options.runs} runs, ${options.shards} shards, half the load on one hot SKU)`,
    rows,
  );
  saveResults('latency', { options, runs: all, medians: rows });
}

const fmt = (seconds: number | undefined): string => (seconds === undefined ? '–' : `${(seconds * 1000).toFixed(0)} ms`);

async function measureLevel(world: BenchWorld, rate: number, seconds: number): Promise<LevelResult> {
  const hot = world.skus[7]!;
  const hotPool = world.pools[shardOf(hot, world.pools.length)]!;
  const cacheUrl = `${world.fleet.url('redis-cache')}/metrics`;
  // Connected before subscribing: a subscription sent while connecting fails ioredis's ready check.
  const observer = new Redis({ ...world.redis.options, lazyConnect: true });
  await observer.connect();
  const others = world.skus.filter((sku) => sku !== hot);
  const otherWarehouses = Number(
    (
      await hotPool.query<{ total: string }>(
        `select sum(on_hand)::text as total from ${sqlIdentifier(world.schema)}.stock where sku = $1 and warehouse <> 'WH-A'`,
        [hot],
      )
    ).rows[0]!.total,
  );
  const seenAt = new Map<number, number>();
  let notifications = 0;
  observer.on('message', (_channel: string, message: string) => {
    const at = epochMs();
    notifications++;
    const onHand = (JSON.parse(message) as { onHand: number }).onHand;
    if (!seenAt.has(onHand)) seenAt.set(onHand, at);
  });
  await observer.subscribe(`cdc:stock-changed:${hot}`);
  const before = bucketsOf(await scrapeSamples(cacheUrl), MetricNames.sinkCommitToApplied);
  const readerUrls = world.stack.shards.map((shard) => `${world.fleet.url('wal-reader', shard.id)}/metrics`);
  const readerBuckets = async (histogram: string): Promise<Bucket[]> =>
    mergeBuckets(await Promise.all(readerUrls.map(async (url) => bucketsOf(await scrapeSamples(url), histogram))));
  const readerBefore = await readerBuckets(MetricNames.readerCommitLag);
  const receivedBefore = await readerBuckets(MetricNames.readerSourceToReceived);
  const sinkUrls = Object.fromEntries(measuredSinks.map((sink) => [sink, world.fleet.url(sink)])) as Record<MeasuredSink, string>;
  const sinksBefore = await sinkHistograms(sinkUrls);
  // The hot row's commits: its new on-hand, the transaction id, and when the commit returned to the client.
  const hotCommits: { onHand: number; xid: string; returnedAt: number }[] = [];

  let completed = 0;
  let inFlight = 0;
  let lastHotValue = 0;
  const maxInFlight = 64;
  const cpuBefore = sampleHostCpu();
  const started = epochMs();
  const deadline = started + seconds * 1000;
  let issued = 0;
  const pending = new Set<Promise<void>>();
  while (epochMs() < deadline) {
    const due = Math.floor(((epochMs() - started) * rate) / 1000);
    while (issued < due && inFlight < maxInFlight) {
      issued++;
      inFlight++;
      const isHot = issued % 2 === 0;
      const sku = isHot ? hot : others[Math.floor(Math.random() * others.length)]!;
      const pool = isHot ? hotPool : world.pools[shardOf(sku, world.pools.length)]!;
      const work = pool
        .query<{ onHand: number; xid: string }>(
          `update ${sqlIdentifier(world.schema)}.stock set on_hand = on_hand ${isHot ? '+' : '-'} 1 where sku = $1 and warehouse = $2
           returning on_hand as "onHand", (pg_current_xact_id()::text::bigint % 4294967296)::text as xid`,
          [sku, isHot ? 'WH-A' : 'WH-B'],
        )
        .then((result) => {
          const at = epochMs();
          completed++;
          if (isHot) {
            const { onHand, xid } = result.rows[0]!;
            hotCommits.push({ onHand, xid, returnedAt: at });
            // Only WH-A of the hot SKU changes, so its new on-hand identifies the SKU total Redis will show.
            lastHotValue = Math.max(lastHotValue, otherWarehouses + onHand);
          }
        })
        .finally(() => {
          inFlight--;
          pending.delete(work);
        });
      pending.add(work);
    }
    await sleep(1);
  }
  await Promise.all(pending);
  const hostCpu = hostCpuBetween(cpuBefore, sampleHostCpu());
  const achieved = completed / seconds;
  await waitFor("the hot SKU's last value in Redis", () => seenAt.has(lastHotValue), 60_000, 20).catch(() => undefined);
  await waitForSinks(sinkUrls, sinksBefore, completed, 60_000);
  await sleep(500);
  observer.disconnect();
  const sinks = sinkLatencies(await sinkHistograms(sinkUrls), sinksBefore);
  // The observers start where the sinks' histograms do, at Postgres's commit time; the commit's return to
  // the client comes later (by the run queue's delay at full load), which would flatter them.
  const commitTimes = await commitTimestamps(
    hotPool,
    hotCommits.map((commit) => commit.xid),
  );
  if (!commitTimes) process.stdout.write('  (track_commit_timestamp is off: observers count from the commit returning to the client)\n');
  const hotRowCommittedAt = new Map(hotCommits.map((commit) => [commit.onHand, commitTimes?.get(commit.xid) ?? commit.returnedAt]));
  const wmsObserved = await wmsObservedLatencies(world.receivers!, hot, 'WH-A', hotRowCommittedAt, started);
  const readerSince = bucketsSince(await readerBuckets(MetricNames.readerCommitLag), readerBefore);
  const receivedSince = bucketsSince(await readerBuckets(MetricNames.readerSourceToReceived), receivedBefore);
  const since = bucketsSince(bucketsOf(await scrapeSamples(cacheUrl), MetricNames.sinkCommitToApplied), before);
  const latencies = firstAtLeastLatencies(
    [...seenAt].map(([value, at]) => ({ value, at })),
    new Map([...hotRowCommittedAt].map(([onHand, at]) => [otherWarehouses + onHand, at])),
  );
  const highest = [...since].reverse().find((bucket, index, reversed) => bucket.count > (reversed[index + 1]?.count ?? 0));
  return {
    offered: rate,
    achieved,
    readerP50: histogramQuantile(0.5, readerSince),
    readerP99: histogramQuantile(0.99, readerSince),
    readerReceivedP50: histogramQuantile(0.5, receivedSince),
    readerReceivedP99: histogramQuantile(0.99, receivedSince),
    sinkP50: histogramQuantile(0.5, since),
    sinkP99: histogramQuantile(0.99, since),
    sinkMaxBound: highest?.le === Infinity ? undefined : highest?.le,
    observerP50: quantile(latencies, 0.5),
    observerP99: quantile(latencies, 0.99),
    observerMax: quantile(latencies, 1),
    observed: latencies.length,
    notifications,
    sinks,
    wmsObserverP50: wmsObserved.p50,
    wmsObserverP99: wmsObserved.p99,
    hostCpuBusy: hostCpu?.busy,
  };
}

/** Buckets of several histograms with the same bounds, added up. */
function mergeBuckets(histograms: Bucket[][]): Bucket[] {
  const byBound = new Map<number, number>();
  for (const buckets of histograms) for (const { le, count } of buckets) byBound.set(le, (byBound.get(le) ?? 0) + count);
  return [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}
