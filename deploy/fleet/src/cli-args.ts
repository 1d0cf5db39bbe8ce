import { parseArgs } from 'node:util';

/** What the operator asked for; each command's options are already checked. */
export type FleetCommand =
  | { kind: 'help' }
  | { kind: 'status' }
  | { kind: 'slots-drop'; shard: number; force: boolean }
  | { kind: 'slots-reset'; shard: number; force: boolean }
  | { kind: 'dlq-list'; sink: string | undefined; limit: number }
  | { kind: 'dlq-replay'; sink: string; target: { kind: 'all' } | { kind: 'offset'; partition: number; offset: bigint } }
  | { kind: 'rebuild-redis'; workerConfig: string | undefined }
  | { kind: 'snapshot'; table: string; shard: number | undefined }
  | { kind: 'reconcile'; sink: string | undefined };

export interface GlobalOptions {
  /** The fleet config file (`--config`, else `FLEET_CONFIG_FILE`). */
  configFile: string | undefined;
  json: boolean;
  verbose: boolean;
  /** `--workers name=url,…`: replaces the config's `workers`. */
  workers: { name: string; url: string }[] | undefined;
}

export interface ParsedArgs {
  command: FleetCommand;
  options: GlobalOptions;
}

/** A command line that cannot be run as given (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const usage = `Usage: fleet <command> [options]

Commands:
  status                                   slots, readers, sink lag and every worker's readiness
  slots drop  --shard N [--force]          drop the shard's replication slot
  slots reset --shard N [--force]          drop the slot and the reader's progress: the reader re-snapshots
  dlq list [--sink S] [--limit N]          the latest dead letters (default 20 per sink)
  dlq replay --sink S (--offset O [--partition P] | --all)
                                           re-publish dead letters to their original topic, once each
  rebuild redis [--worker-config FILE]     re-seed the redis-cache read model from Postgres
  snapshot <schema.table> [--shard N]      ask the readers for an ad-hoc snapshot of one table
  reconcile [--sink S]                     compare Redis, the WMS and the ERP (or sink S) with Postgres;
                                           exit 1 naming every drifting key and by how much

Options:
  --config FILE        fleet config (default: $FLEET_CONFIG_FILE)
  --workers LIST       worker endpoints, name=url,… (wal-reader-<shard>, <sink>, or any name)
  --force              drop an active slot: terminate the walsender that holds it
  --json               machine-readable output on stdout
  --verbose            client logs on stderr

Exit codes: 0 done / healthy, 1 the operation failed or something is unhealthy, 2 usage or config error.`;

const optionSpec = {
  config: { type: 'string' },
  workers: { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  shard: { type: 'string' },
  sink: { type: 'string' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  partition: { type: 'string' },
  all: { type: 'boolean', default: false },
  'worker-config': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof optionSpec; allowPositionals: true }>>['values'];

export function parseFleetArgs(argv: string[], env: Record<string, string | undefined>): ParsedArgs {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: optionSpec, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const options: GlobalOptions = {
    configFile: values.config ?? env.FLEET_CONFIG_FILE,
    json: values.json === true,
    verbose: values.verbose === true,
    workers: values.workers === undefined ? undefined : parseWorkerList(values.workers),
  };
  const command = values.help || positionals.length === 0 ? { kind: 'help' as const } : commandOf(positionals, values);
  return { command, options };
}

function commandOf(positionals: string[], values: Values): FleetCommand {
  const [name, sub, ...rest] = positionals;
  const words = positionals.join(' ');
  const allowOnly = (...allowed: (keyof Values)[]) => {
    const given = (Object.keys(values) as (keyof Values)[]).filter(
      (key) => values[key] !== undefined && values[key] !== false && !['config', 'workers', 'json', 'verbose', 'help'].includes(key),
    );
    const extra = given.filter((key) => !allowed.includes(key));
    if (extra.length > 0) throw new UsageError(`${words}: unexpected option ${extra.map((key) => `--${key}`).join(', ')}`);
  };
  const noMoreWords = (count: number) => {
    if (positionals.length > count) throw new UsageError(`${words}: unexpected argument ${positionals[count]}`);
  };
  switch (name) {
    case 'status':
      noMoreWords(1);
      allowOnly();
      return { kind: 'status' };
    case 'slots': {
      if (sub !== 'drop' && sub !== 'reset') throw new UsageError(`slots: expected drop or reset, got ${sub ?? 'nothing'}`);
      noMoreWords(2);
      allowOnly('shard', 'force');
      const shard = integerOption('--shard', values.shard, 0, 0xffff);
      if (shard === undefined) throw new UsageError(`slots ${sub}: --shard is required`);
      return { kind: sub === 'drop' ? 'slots-drop' : 'slots-reset', shard, force: values.force === true };
    }
    case 'dlq':
      if (sub === 'list') {
        noMoreWords(2);
        allowOnly('sink', 'limit');
        return { kind: 'dlq-list', sink: values.sink, limit: integerOption('--limit', values.limit, 1, 10_000) ?? 20 };
      }
      if (sub === 'replay') {
        noMoreWords(2);
        allowOnly('sink', 'offset', 'partition', 'all');
        if (!values.sink) throw new UsageError('dlq replay: --sink is required');
        if (values.all === (values.offset !== undefined)) throw new UsageError('dlq replay: give exactly one of --offset O or --all');
        if (values.all && values.partition !== undefined) throw new UsageError('dlq replay: --partition goes with --offset');
        const target = values.all
          ? { kind: 'all' as const }
          : {
              kind: 'offset' as const,
              partition: integerOption('--partition', values.partition, 0, 1_000_000) ?? 0,
              offset: offsetOption(values.offset ?? ''),
            };
        return { kind: 'dlq-replay', sink: values.sink, target };
      }
      throw new UsageError(`dlq: expected list or replay, got ${sub ?? 'nothing'}`);
    case 'rebuild':
      if (sub !== 'redis') throw new UsageError(`rebuild: expected redis, got ${sub ?? 'nothing'}`);
      noMoreWords(2);
      allowOnly('worker-config');
      return { kind: 'rebuild-redis', workerConfig: values['worker-config'] };
    case 'snapshot': {
      if (!sub) throw new UsageError('snapshot: name the table as schema.table');
      if (rest.length > 0) throw new UsageError(`snapshot: unexpected argument ${rest[0]}`);
      if (!/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/.test(sub)) throw new UsageError(`snapshot: ${sub} is not a lower-case schema.table`);
      allowOnly('shard');
      return { kind: 'snapshot', table: sub, shard: integerOption('--shard', values.shard, 0, 0xffff) };
    }
    case 'reconcile':
      noMoreWords(1);
      allowOnly('sink');
      return { kind: 'reconcile', sink: values.sink };
    default:
      throw new UsageError(`unknown command ${name}`);
  }
}

/** `name=url,name=url`; a name may repeat (a shard's leader and standbys). */
export function parseWorkerList(text: string): { name: string; url: string }[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const at = item.indexOf('=');
      const name = item.slice(0, at).trim();
      const url = item.slice(at + 1).trim();
      if (at <= 0 || !/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--workers: expected name=http://host:port, got ${item}`);
      return { name, url: url.replace(/\/+$/, '') };
    });
}

function integerOption(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new UsageError(`${flag}: expected an integer from ${min} to ${max}, got ${text}`);
  return value;
}

function offsetOption(text: string): bigint {
  if (!/^\d+$/.test(text)) throw new UsageError(`--offset: expected a non-negative integer, got ${text}`);
  return BigInt(text);
}
