import { MetricNames, shardOf, sqlIdentifier } from '@inventory-cdc/shared';
import { median, printTable, saveResults } from './bench-report';
import { BenchWorld } from './bench-world';
import { counter, sinkReached } from './pipeline-probe';

export interface ScalingBenchOptions {
  runs: number;
  shardCounts: number[];
  /** Stock changes written per run, spread evenly over the shards. */
  events: number;
}

const rowsPerTransaction = 300;

/**
 * Shard scaling: the same number of stock changes written as fast as the shards take them (300-row update
 * transactions, one writer per shard) through readers and the redis-cache; events/s from the first write
 * to the last change applied in Redis, with 1, 2 and 4 shards.
 */
export async function scalingBench(options: ScalingBenchOptions): Promise<void> {
  const results: Array<{ run: number; shards: number; seconds: number; eventsPerSecond: number }> = [];
  for (let run = 1; run <= options.runs; run++) {
    for (const shards of options.shardCounts) {
      const skus = 3_000 * shards;
      const world = await BenchWorld.create('scaling', shards, skus);
      try {
        await world.markReadModelPresent();
        await world.fleet.startReceiversAndReaders();
        await world.fleet.startSinks(['redis-cache']);
        const cache = world.fleet.url('redis-cache');
        await sinkReached(cache, skus * 3, 300_000);
        const baseline = (await counter(cache, MetricNames.sinkApplied)) + (await counter(cache, MetricNames.sinkSkippedStale));
        const started = Date.now();
        const written = await Promise.all(
          world.pools.map(async (pool, shard) => {
            const mine = world.skus.filter((sku) => shardOf(sku, shards) === shard);
            const target = Math.ceil(options.events / shards);
            let rows = 0;
            for (let offset = 0; rows < target; offset = (offset + rowsPerTransaction / 3) % mine.length) {
              const batch = mine.slice(offset, offset + rowsPerTransaction / 3);
              const result = await pool.query(`update ${sqlIdentifier(world.schema)}.stock set on_hand = on_hand - 1 where sku = any($1)`, [
                batch,
              ]);
              rows += result.rowCount ?? 0;
            }
            return rows;
          }),
        );
        const events = written.reduce((sum, rows) => sum + rows, 0);
        const doneAt = await sinkReached(cache, baseline + events, 600_000);
        const seconds = (doneAt - started) / 1000;
        results.push({ run, shards, seconds, eventsPerSecond: events / seconds });
        process.stdout.write(`run ${run}, ${shards} shard(s): ${events.toLocaleString('en')} events in ${seconds.toFixed(1)} s\n`);
      } finally {
        await world.close();
      }
    }
  }
  const base = median(results.filter((result) => result.shards === options.shardCounts[0]).map((result) => result.eventsPerSecond));
  const rows = options.shardCounts.map((shards) => {
    const rate = median(results.filter((result) => result.shards === shards).map((result) => result.eventsPerSecond));
    return { shards, 'events/s end to end': Math.round(rate), [`× vs ${options.shardCounts[0]} shard(s)`]: rate / base };
  });
  printTable(
    `shard scaling: Postgres → readers → Kafka → redis-cache (median of ${options.runs} runs, ${options.events.toLocaleString('en')} changes each)`,
    rows,
  );
  saveResults('scaling', { options, runs: results, medians: rows });
}
