import { MetricNames } from '@inventory-cdc/shared';
import { bucketsOf, bucketsSince, histogramQuantile, scrapeSamples, waitFor, type Bucket } from '@inventory-cdc/shared/testing';
import type { Pool } from 'pg';
import { quantile } from './bench-world';

/** The three sinks the latency benchmark measures side by side. */
export const measuredSinks = ['redis-cache', 'wms-adapter', 'erp-adapter'] as const;
export type MeasuredSink = (typeof measuredSinks)[number];

export interface SinkLatency {
  p50: number | undefined;
  p99: number | undefined;
  /** Events the histogram observed over the level. */
  events: number;
}

/** Each sink's commit → applied histogram, as buckets. */
export async function sinkHistograms(urls: Record<MeasuredSink, string>): Promise<Record<MeasuredSink, Bucket[]>> {
  const entries = await Promise.all(
    measuredSinks.map(
      async (sink) => [sink, bucketsOf(await scrapeSamples(`${urls[sink]}/metrics`), MetricNames.sinkCommitToApplied)] as const,
    ),
  );
  return Object.fromEntries(entries) as Record<MeasuredSink, Bucket[]>;
}

/** Quantiles of what each sink's histogram observed between two snapshots. */
export function sinkLatencies(
  now: Record<MeasuredSink, Bucket[]>,
  before: Record<MeasuredSink, Bucket[]>,
): Record<MeasuredSink, SinkLatency> {
  const result = {} as Record<MeasuredSink, SinkLatency>;
  for (const sink of measuredSinks) {
    const since = bucketsSince(now[sink], before[sink]);
    result[sink] = { p50: histogramQuantile(0.5, since), p99: histogramQuantile(0.99, since), events: since.at(-1)?.count ?? 0 };
  }
  return result;
}

/**
 * Waits (at most `timeoutMs`, without failing) until every sink's histogram has observed `events` more
 * events than in `before`: each of the level's committed changes is then applied in every sink.
 */
export async function waitForSinks(
  urls: Record<MeasuredSink, string>,
  before: Record<MeasuredSink, Bucket[]>,
  events: number,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    'every sink to apply the level’s changes',
    async () => Object.values(sinkLatencies(await sinkHistograms(urls), before)).every((latency) => latency.events >= events),
    timeoutMs,
    100,
  ).catch(() => undefined);
}

/**
 * For each committed value of a row that only grows during a level, the first time an outside observer saw
 * a state at least that new, minus the commit's time, in seconds. Coalescing means most values are never
 * sent on their own: what counts is when the sink held a state that includes them. This is what the sinks'
 * own histograms count too (every change of an applied batch), so the two can be compared.
 */
export function firstAtLeastLatencies(arrivals: { value: number; at: number }[], committedAt: Map<number, number>): number[] {
  const earliest = [...arrivals].sort((a, b) => a.value - b.value);
  // From the highest value down: the earliest arrival of any state at least as new.
  for (let index = earliest.length - 2; index >= 0; index--)
    earliest[index] = { value: earliest[index]!.value, at: Math.min(earliest[index]!.at, earliest[index + 1]!.at) };
  const latencies: number[] = [];
  let next = 0;
  for (const [value, committed] of [...committedAt].sort((a, b) => a[0] - b[0])) {
    while (next < earliest.length && earliest[next]!.value < value) next++;
    const arrival = earliest[next];
    if (arrival) latencies.push(Math.max(0, arrival.at - committed) / 1000);
  }
  return latencies;
}

/**
 * Postgres's own commit times (epoch ms) of the given transaction ids, the instant the sinks' histograms
 * start from (pgoutput's commit time); undefined when the server does not track them
 * (`track_commit_timestamp`, on in the local stack since its last start).
 */
export async function commitTimestamps(pool: Pool, xids: string[]): Promise<Map<string, number> | undefined> {
  const tracked = await pool.query<{ on: string }>(`select current_setting('track_commit_timestamp') as on`);
  if (tracked.rows[0]?.on !== 'on') return undefined;
  const { rows } = await pool.query<{ xid: string; at: string }>(
    `select xid, (extract(epoch from pg_xact_commit_timestamp(xid::xid)) * 1000)::text as at from unnest($1::text[]) as xid`,
    [xids],
  );
  return new Map(rows.map((row) => [row.xid, Number(row.at)]));
}

/** The WMS seen from outside: `firstAtLeastLatencies` of the hot row's on-hand over the reference WMS's arrivals. */
export async function wmsObservedLatencies(
  receivers: Pool,
  sku: string,
  warehouse: string,
  committedAt: Map<number, number>,
  sinceMs: number,
): Promise<{ p50: number | undefined; p99: number | undefined; matched: number }> {
  const { rows } = await receivers.query<{ onHand: string; at: number }>(
    `select on_hand::text as "onHand", extract(epoch from received_at) * 1000 as at
       from wms.wms_changes where sku = $1 and warehouse = $2 and received_at >= to_timestamp($3 / 1000.0)`,
    [sku, warehouse, sinceMs],
  );
  const latencies = firstAtLeastLatencies(
    rows.map((row) => ({ value: Number(row.onHand), at: Number(row.at) })),
    committedAt,
  );
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), matched: latencies.length };
}
