import { readerBench } from './reader-bench';

/**
 * `npm run bench [-- <scenario>…] [--runs N]`: runs the benchmark scenarios on the local stack, prints a
 * table per scenario and saves the figures under bench/results/. Scenarios: reader.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => {
    const index = args.indexOf(name);
    return index >= 0 ? Number(args[index + 1]) : fallback;
  };
  const scenarios = args.filter((arg, index) => !arg.startsWith('--') && !args[index - 1]?.startsWith('--'));
  const chosen = scenarios.length > 0 ? scenarios : ['reader'];
  const runs = option('--runs', 3);
  for (const scenario of chosen) {
    if (scenario === 'reader') {
      await readerBench({
        runs,
        shards: option('--shards', 2),
        singleTransactions: option('--single', 100_000),
        bulkRows: option('--bulk', 300_000),
        bulkTransactionRows: option('--bulk-transaction-rows', 50_000),
      });
    } else {
      throw new Error(`unknown scenario ${scenario} (known: reader)`);
    }
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
