import { MetricNames } from '@inventory-cdc/shared';
import { waitFor } from '@inventory-cdc/shared/testing';
import type { SinkName } from '../deploy/demo/demo-fleet';
import { median, printTable, saveResults } from './bench-report';
import { BenchWorld } from './bench-world';
import { counter, sinkReached } from './pipeline-probe';

export interface SinkThroughputBenchOptions {
  runs: number;
  /** Change events on the pre-filled topic. */
  events: number;
}

const sinks: SinkName[] = ['redis-cache', 'wms-adapter', 'erp-adapter'];

/**
 * Each sink alone on a pre-filled stock topic: the readers snapshot a seeded table (one `r` event per
 * stock row) and stop; then each sink, started alone with a fresh consumer group, takes the whole topic.
 * Events/s from its first applied event to its last, its receiving side included (Redis, the reference
 * WMS and ERP writing to Postgres).
 */
export async function sinkThroughputBench(options: SinkThroughputBenchOptions): Promise<void> {
  const results: Array<{ run: number; sink: SinkName; seconds: number; eventsPerSecond: number }> = [];
  const skus = Math.ceil(options.events / 3);
  for (let run = 1; run <= options.runs; run++) {
    const world = await BenchWorld.create('sinks', 1, skus, { receivers: true });
    try {
      await world.markReadModelPresent();
      await world.fleet.startReceiversAndReaders();
      const reader = world.fleet.url('wal-reader', 0);
      const events = skus * 3;
      await waitFor(
        'the snapshot on the topic',
        async () => (await counter(reader, MetricNames.readerSnapshotRows)) >= events,
        300_000,
        200,
      );
      await world.fleet.stopMember('wal-reader-0');
      for (const sink of sinks) {
        await world.fleet.startSinks([sink]);
        const url = world.fleet.url(sink);
        const firstAt = await waitFor(
          'the first applied event',
          async () => (await counter(url, MetricNames.sinkApplied)) > 0 && Date.now(),
          120_000,
          20,
        );
        const firstCount = await counter(url, MetricNames.sinkApplied);
        const doneAt = await sinkReached(url, events, 900_000);
        const seconds = Math.max(0.001, (doneAt - firstAt) / 1000);
        results.push({ run, sink, seconds, eventsPerSecond: (events - firstCount) / seconds });
        process.stdout.write(
          `run ${run}, ${sink}: ${events.toLocaleString('en')} events, ${((events - firstCount) / seconds).toFixed(0)} events/s\n`,
        );
        await world.fleet.stopMember(sink);
      }
    } finally {
      await world.close();
    }
  }
  const rows = sinks.map((sink) => {
    const mine = results.filter((result) => result.sink === sink);
    return {
      sink,
      'events/s': Math.round(median(mine.map((result) => result.eventsPerSecond))),
      'seconds for the topic': median(mine.map((result) => result.seconds)),
    };
  });
  printTable(
    `sink throughput, each sink alone on a pre-filled topic of ${options.events.toLocaleString('en')} events (median of ${options.runs} runs)`,
    rows,
  );
  saveResults('sinks', { options, runs: results, medians: rows });
}
