import { sqlIdentifier } from '@inventory-cdc/shared';
import { printTable, median, saveResults } from './bench-report';
import { BenchWorld, peakRssBytes } from './bench-world';
import { sinkReached } from './pipeline-probe';

export interface MemoryBenchOptions {
  runs: number;
  rows: number;
}

/**
 * Memory under one huge transaction: `rows` new stock rows inserted in one Postgres transaction on one
 * shard pass through the reader (one Kafka transaction) and the redis-cache; peak RSS (VmHWM) of both
 * once the last row is in Redis, and the time it took.
 */
export async function memoryBench(options: MemoryBenchOptions): Promise<void> {
  const results: Array<{ run: number; seconds: number; readerPeakMiB: number; cachePeakMiB: number }> = [];
  for (let run = 1; run <= options.runs; run++) {
    const world = await BenchWorld.create('memory', 1, 100);
    try {
      await world.markReadModelPresent();
      await world.fleet.startReceiversAndReaders({ CDC__KAFKA_TRANSACTION__TIMEOUT_MS: '600000' });
      await world.fleet.startSinks(['redis-cache']);
      const cache = world.fleet.url('redis-cache');
      await sinkReached(cache, 300, 120_000);
      const started = Date.now();
      await world.pools[0]!.query(
        `insert into ${sqlIdentifier(world.schema)}.stock (sku, warehouse, on_hand) select 'BIG-' || lpad(g::text, 8, '0'), 'WH-A', g % 1000 from generate_series(1, $1::int) g`,
        [options.rows],
      );
      const doneAt = await sinkReached(cache, 300 + options.rows, 900_000);
      const pid = (name: string): number => world.fleet.members.find((entry) => entry.member.name === name)!.process.pid!;
      const result = {
        run,
        seconds: (doneAt - started) / 1000,
        readerPeakMiB: peakRssBytes(pid('wal-reader-0')) / 2 ** 20,
        cachePeakMiB: peakRssBytes(pid('redis-cache')) / 2 ** 20,
      };
      results.push(result);
      process.stdout.write(
        `run ${run}: ${result.seconds.toFixed(1)} s, reader ${result.readerPeakMiB.toFixed(0)} MiB, redis-cache ${result.cachePeakMiB.toFixed(0)} MiB\n`,
      );
    } finally {
      await world.close();
    }
  }
  const rows = [
    {
      rows: options.rows,
      'commit → all in Redis s': median(results.map((result) => result.seconds)),
      'events/s': Math.round(options.rows / median(results.map((result) => result.seconds))),
      'reader peak RSS MiB': Math.round(median(results.map((result) => result.readerPeakMiB))),
      'redis-cache peak RSS MiB': Math.round(median(results.map((result) => result.cachePeakMiB))),
    },
  ];
  printTable(`memory: one ${options.rows.toLocaleString('en')}-row transaction (median of ${options.runs} runs)`, rows);
  saveResults('memory', { options, runs: results, medians: rows });
}
