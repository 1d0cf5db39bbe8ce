/**
 * `tsx deploy/local/stack-cli.ts up|down|status [--shards N] [--wipe] [--name NAME]` (also `npm run stack:up|down|status`).
 * `--name` (down and status) addresses a stack a test ran beside the default one (`namedStackSite`), at
 * the port offset its state file recorded.
 *
 * Progress goes to stderr with elapsed seconds, results (endpoints, status table) to stdout, so scripts can
 * capture the table. `status` exits 3 when a service is down. Known failures (StackError) print their message only: it already says what to do.
 */
import { StackError, stackDown, stackStatus, stackUp } from './stack';
import { type StackEndpoints, type StackSite, defaultStackSite, namedStackSite } from './stack-plan';
import { readState } from './stack-state';

const USAGE = 'usage: tsx deploy/local/stack-cli.ts up|down|status [--shards N] [--wipe] [--name NAME]';

interface CliArgs {
  command: 'up' | 'down' | 'status';
  shards?: number;
  wipe: boolean;
  name?: string;
}

function parseArgs(argv: string[]): CliArgs {
  const [command, ...rest] = argv;
  if (command !== 'up' && command !== 'down' && command !== 'status') throw new StackError(USAGE);
  const args: CliArgs = { command, wipe: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--wipe' && command === 'down') args.wipe = true;
    else if (arg === '--name' && command !== 'up' && rest[i + 1]) args.name = rest[++i];
    else if ((arg === '--shards' || arg?.startsWith('--shards=')) && command === 'up') {
      const value = Number(arg === '--shards' ? rest[++i] : arg.slice('--shards='.length));
      if (!Number.isInteger(value) || value < 1) throw new StackError(`--shards needs a positive integer\n${USAGE}`);
      args.shards = value;
    } else throw new StackError(`unexpected argument "${arg ?? ''}"\n${USAGE}`);
  }
  return args;
}

/** Left-aligned columns; good enough for a dozen rows in a terminal. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function endpointsTable(endpoints: StackEndpoints): string {
  return table(
    ['service', 'endpoint'],
    [
      ...endpoints.shards.map((s) => [`postgres-${s.id}`, s.url]),
      ['kafka', endpoints.kafkaBrokers.join(',')],
      ['registry', endpoints.registryUrl],
      ['redis', endpoints.redisUrl],
    ],
  );
}

/** The named stack at the offset its state file recorded (its servers are found by pid, not by port). */
function siteOf(args: CliArgs): StackSite {
  if (args.name === undefined) return defaultStackSite();
  const recorded = readState(namedStackSite(args.name, 0))?.portOffset ?? 0;
  return namedStackSite(args.name, recorded);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const site = siteOf(args);
  const started = Date.now();
  const elapsed = (): string => ((Date.now() - started) / 1000).toFixed(1);
  const log = (line: string): void => {
    process.stderr.write(`[${elapsed().padStart(5)} s] ${line}\n`);
  };

  switch (args.command) {
    case 'up': {
      const endpoints = await stackUp({ log, ...(args.shards === undefined ? {} : { shards: args.shards }) });
      process.stdout.write(`${endpointsTable(endpoints)}\n\nstack up in ${elapsed()} s\n`);
      return 0;
    }
    case 'down':
      await stackDown({ log, wipe: args.wipe, site });
      process.stdout.write(`stack down in ${elapsed()} s${args.wipe ? ' (data wiped)' : ''}\n`);
      return 0;
    case 'status': {
      const rows = await stackStatus(site);
      const mb = (bytes: number | undefined): string => (bytes === undefined ? '-' : (bytes / 1024 / 1024).toFixed(1));
      process.stdout.write(
        `${table(
          ['service', 'pid', 'port', 'up', 'RSS MB'],
          rows.map((r) => [r.service, r.pid === undefined ? '-' : String(r.pid), String(r.port), r.up ? 'yes' : 'no', mb(r.rssBytes)]),
        )}\n`,
      );
      const down = rows.filter((r) => !r.up).length;
      const total = rows.reduce((sum, r) => sum + (r.rssBytes ?? 0), 0);
      process.stdout.write(
        down === 0 ? `\nall ${rows.length} services up, ${mb(total)} MB RSS in total\n` : `\n${down} of ${rows.length} services down\n`,
      );
      // Like `systemctl status`: 3 when something is down, so scripts can gate on it.
      return down === 0 ? 0 : 3;
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof StackError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`stack ${process.argv[2] ?? ''} failed: ${message}\n`);
    process.exitCode = 1;
  },
);
