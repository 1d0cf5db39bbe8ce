import { MetricNames } from '@inventory-cdc/shared';
import { scrapeSamples, sumOf, waitFor } from '@inventory-cdc/shared/testing';

/** A counter of one worker, read from its /metrics (0 when absent or unreachable). */
export async function counter(workerUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sumOf(await scrapeSamples(`${workerUrl}/metrics`), name, labels) ?? 0;
}

/** Waits until the sink at `workerUrl` has taken `target` events (applied or skipped as stale); answers when. */
export async function sinkReached(workerUrl: string, target: number, timeoutMs: number): Promise<number> {
  return waitFor(
    `the sink to take ${target} events`,
    async () => {
      const samples = await scrapeSamples(`${workerUrl}/metrics`);
      const taken = (sumOf(samples, MetricNames.sinkApplied) ?? 0) + (sumOf(samples, MetricNames.sinkSkippedStale) ?? 0);
      return taken >= target && Date.now();
    },
    timeoutMs,
    50,
  );
}
