import { latencyBench } from './latency-bench';
import { memoryBench } from './memory-bench';
import { readerBench } from './reader-bench';
import { scalingBench } from './scaling-bench';
import { sustainedBench } from './sustained-bench';
import { sinkThroughputBench } from './sink-throughput-bench';

/**
 * `npm run bench [-- <scenario>…] [--runs N] [options]`: runs benchmark scenarios on the local stack, prints
 * a table per scenario (medians over the runs) and saves the figures under bench/results/. Without a
 * scenario, all six run in this order:
 *   reader   wal-reader vs pg_recvlogical on the same backlog, two workloads (--workload single-row|mixed):
 *            single-row (200,000 one-row UPDATE transactions on one shard, --single-row) and mixed
 *            (--shards 2 × (--single 100,000 one-row + --bulk 300,000 rows in 50,000-row transactions))
 *   sustained  a writer at full speed (--clients 8) for --seconds 60 on one shard while the reader streams;
 *            the slot's confirmed lag every 5 s
 *   latency  Postgres commit → Redis at fixed offered loads (--rates 500,2000,5000, --seconds 15)
 *   scaling  events/s end to end with 1, 2 and 4 shards (--events per run)
 *   memory   reader and redis-cache peak RSS while a 1,000,000-row transaction passes (--rows)
 *   sinks    each sink alone on a pre-filled topic (--events)
 */
const scenarios = ['reader', 'sustained', 'latency', 'scaling', 'memory', 'sinks'] as const;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => {
    const index = args.indexOf(name);
    if (index < 0) return fallback;
    const value = Number(args[index + 1]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
    return value;
  };
  const list = (name: string, fallback: number[]): number[] => {
    const index = args.indexOf(name);
    return index < 0 ? fallback : (args[index + 1] ?? '').split(',').map(Number);
  };
  const chosen = args.filter((arg, index) => !arg.startsWith('--') && !args[index - 1]?.startsWith('--'));
  for (const scenario of chosen)
    if (!(scenarios as readonly string[]).includes(scenario))
      throw new Error(`unknown scenario ${scenario} (known: ${scenarios.join(', ')})`);
  const runs = option('--runs', 3);
  for (const scenario of chosen.length > 0 ? chosen : scenarios) {
    process.stdout.write(`\n== ${scenario} ==\n`);
    if (scenario === 'reader') {
      const singleRow = {
        name: 'single-row',
        shards: 1,
        singleTransactions: option('--single-row', 200_000),
        bulkRows: 0,
        bulkTransactionRows: 1,
        clients: 4,
      };
      const mixed = {
        name: 'mixed',
        shards: option('--shards', 2),
        singleTransactions: option('--single', 100_000),
        bulkRows: option('--bulk', 300_000),
        bulkTransactionRows: option('--bulk-transaction-rows', 50_000),
        clients: 4,
      };
      const wanted = args.includes('--workload') ? args[args.indexOf('--workload') + 1] : undefined;
      await readerBench({ runs, workloads: [singleRow, mixed].filter((workload) => !wanted || workload.name === wanted) });
    }
    if (scenario === 'sustained') await sustainedBench({ seconds: option('--seconds', 60), clients: option('--clients', 8) });
    if (scenario === 'latency')
      await latencyBench({
        runs,
        rates: list('--rates', [500, 2_000, 5_000]),
        secondsPerRate: option('--seconds', 15),
        shards: option('--shards', 2),
      });
    if (scenario === 'scaling')
      await scalingBench({ runs, shardCounts: list('--shard-counts', [1, 2, 4]), events: option('--events', 200_000) });
    if (scenario === 'memory') await memoryBench({ runs, rows: option('--rows', 1_000_000) });
    if (scenario === 'sinks') await sinkThroughputBench({ runs, events: option('--events', 30_000) });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
