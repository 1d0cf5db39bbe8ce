import { parseArgs } from 'node:util';

/** What `npm run demo -- …` was asked for. */
export interface DemoOptions {
  /** Leave the fleet running after the report (stop it later with --stop). */
  keep: boolean;
  /** Start a Prometheus scraping the fleet (`--observe`). */
  observe: boolean;
  /** Only stop a fleet an earlier `--keep` run left running, then exit. */
  stop: boolean;
  /** Length of the flash sale, seconds. */
  durationSeconds: number;
  /** Concurrent buyers during the sale. */
  buyers: number;
  /** Postgres shards (servers) of the local stack to use. */
  shards: number;
  /** Catalogue size: SKUs, each in every warehouse. */
  skus: number;
  /** SKUs the sale is about (most purchases go to them). */
  hotSkus: number;
}

export class UsageError extends Error {}

export const demoUsage = `usage: npm run demo -- [--duration S] [--buyers N] [--shards N] [--skus N] [--hot N] [--observe] [--keep] | --stop

  --duration S   length of the flash sale in seconds (default 30)
  --buyers N     concurrent buyers (default 300)
  --shards N     Postgres shards (default 2, at most 8)
  --skus N       catalogue size, each SKU in 3 warehouses (default 10000)
  --hot N        hot SKUs of the sale (default 3)
  --observe      also start a Prometheus (Debian's package) on loopback scraping the fleet, alert rules
                 loaded, and print its URL
  --keep         leave the fleet running after the report
  --stop         stop the fleet a --keep run left running`;

function positiveInteger(values: Record<string, string | boolean | undefined>, name: string, fallback: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new UsageError(`--${name} needs an integer from 1 to ${max}, got "${String(raw)}"`);
  return value;
}

export function parseDemoArgs(argv: string[]): DemoOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        keep: { type: 'boolean' },
        observe: { type: 'boolean' },
        stop: { type: 'boolean' },
        duration: { type: 'string' },
        buyers: { type: 'string' },
        shards: { type: 'string' },
        skus: { type: 'string' },
        hot: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const options: DemoOptions = {
    keep: values.keep === true,
    observe: values.observe === true,
    stop: values.stop === true,
    durationSeconds: positiveInteger(values, 'duration', 30, 24 * 3600),
    buyers: positiveInteger(values, 'buyers', 300, 5_000),
    shards: positiveInteger(values, 'shards', 2, 8),
    skus: positiveInteger(values, 'skus', 10_000, 1_000_000),
    hotSkus: positiveInteger(values, 'hot', 3, 100),
  };
  if (options.hotSkus >= options.skus) throw new UsageError(`--hot (${options.hotSkus}) must be below --skus (${options.skus})`);
  if (options.keep && options.stop) throw new UsageError('--keep and --stop exclude each other');
  return options;
}
