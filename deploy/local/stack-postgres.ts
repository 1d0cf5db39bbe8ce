/**
 * One Postgres cluster per shard, from the machine's installed PostgreSQL server binaries.
 *
 * Each shard owns `<stack dir>/pg-<i>/` (data directory, log, unix socket), so it never meets the machine's
 * own Postgres (port 5432, sockets in /var/run/postgresql). Postgres refuses to run as root; as root we run
 * initdb and pg_ctl as the `postgres` OS user and hand it the shard directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { SHARD_DATABASE, SHARD_USER, STACK_HOST, type StackSite, defaultStackSite, portPlan } from './stack-plan';
import { type LogFn, StackError, findExecutable, isExecutable, logSizes, logTail, readPidFile, runCommand } from './stack-process';
import type { StackService } from './stack-service';
import { ensureLocalStackTls } from './stack-tls';

const INSTALL_HINT = 'apt-get install postgresql';

/** Settings the CDC needs (logical decoding, many slots) plus dev-speed durability trade-offs. */
function stackConf(port: number, socketDir: string): string {
  return [
    '# Written by deploy/local/stack-postgres.ts on every start; edits are overwritten.',
    `listen_addresses = '${STACK_HOST}'`,
    `port = ${port}`,
    `unix_socket_directories = '${socketDir}'`,
    'wal_level = logical',
    'max_replication_slots = 20',
    'max_wal_senders = 20',
    'max_connections = 200',
    "wal_sender_timeout = '60s'",
    'fsync = off',
    // synchronous_commit stays on (as in production): with fsync off a commit's flush is only a write, and
    // the walsender decodes no further than the flushed WAL — off, it lags a commit by up to wal_writer_delay.
    'full_page_writes = off',
    // Benchmarks time their outside observers from a transaction's own commit time, as the sinks do.
    'track_commit_timestamp = on',
    "shared_buffers = '128MB'",
    'logging_collector = off',
    // TLS on offer (not required: pg_hba's host lines take both), with the stack's development CA.
    'ssl = on',
    "ssl_cert_file = 'server.crt'",
    "ssl_key_file = 'server.key'",
    '',
  ].join('\n');
}

/**
 * The superuser `postgres` is trusted from 127.0.0.1 (tests, tools) and on the private socket; every other
 * role logs in over TCP with its SCRAM password, as in production, so a least-privilege reader role
 * (deploy/security/reader-role.ts) is tested with a password that really counts. Only `postgres` may open
 * physical replication connections (base backups); logical ones match the database lines.
 */
const PG_HBA = [
  '# Written by deploy/local/stack-postgres.ts: local development stack, loopback only.',
  'local all all trust',
  'local replication all trust',
  `host all ${SHARD_USER} 127.0.0.1/32 trust`,
  `host replication ${SHARD_USER} 127.0.0.1/32 trust`,
  'host all all 127.0.0.1/32 scram-sha-256',
  '',
].join('\n');

let binDirPromise: Promise<string> | undefined;

/** `pg_config --bindir` when it points at a server install, else the newest /usr/lib/postgresql/<n>/bin. */
export function postgresBinDir(): Promise<string> {
  binDirPromise ??= (async () => {
    const hasServer = (dir: string): boolean => ['initdb', 'pg_ctl', 'postgres'].every((b) => isExecutable(path.join(dir, b)));
    const pgConfig = findExecutable('pg_config');
    if (pgConfig) {
      const dir = (await runCommand(pgConfig, ['--bindir']).catch(() => ({ stdout: '' }))).stdout.trim();
      if (dir && hasServer(dir)) return dir;
    }
    const root = '/usr/lib/postgresql';
    const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)) : [];
    versions.sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const dir = path.join(root, version, 'bin');
      if (hasServer(dir)) return dir;
    }
    throw new StackError(`PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: ${INSTALL_HINT}`);
  })().catch((error: unknown) => {
    binDirPromise = undefined; // a library caller may install and retry in the same process
    throw error;
  });
  return binDirPromise;
}

interface OsUser {
  uid: number;
  gid: number;
}

let postgresUserPromise: Promise<OsUser | undefined> | undefined;

/** The `postgres` OS user when we are root (Postgres will not run as root), undefined otherwise. */
function postgresOsUser(): Promise<OsUser | undefined> {
  postgresUserPromise ??= (async () => {
    if (process.getuid?.() !== 0) return undefined;
    if (!findExecutable('runuser')) throw new StackError('running as root needs runuser to start Postgres: apt-get install util-linux');
    try {
      const uid = Number((await runCommand('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await runCommand('id', ['-g', 'postgres'])).stdout.trim());
      return { uid, gid };
    } catch {
      throw new StackError(`running as root, but there is no 'postgres' OS user to run Postgres as: ${INSTALL_HINT}`);
    }
  })().catch((error: unknown) => {
    postgresUserPromise = undefined;
    throw error;
  });
  return postgresUserPromise;
}

/** Runs a Postgres tool, as the `postgres` OS user when we are root. */
async function runPgTool(tool: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<{ stdout: string }> {
  const file = path.join(await postgresBinDir(), tool);
  const env = { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };
  if (await postgresOsUser()) return runCommand('runuser', ['-u', 'postgres', '--', file, ...args], { cwd, env, timeoutMs });
  return runCommand(file, args, { cwd, env, timeoutMs });
}

async function giveToPostgres(file: string): Promise<void> {
  const user = await postgresOsUser();
  if (user) fs.chownSync(file, user.uid, user.gid);
}

/** Unix sockets have a ~107 byte path limit; a deep checkout falls back to a per-port dir under /tmp. */
function socketDirFor(shardDir: string, port: number): string {
  return `${shardDir}/.s.PGSQL.${port}`.length <= 100 ? shardDir : `/tmp/inventory-cdc-pg-${port}`;
}

async function withClient<T>(port: number, database: string, action: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ host: STACK_HOST, port, user: SHARD_USER, database, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined); // a server shutting down mid-probe must not crash the CLI
  await client.connect();
  try {
    return await action(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function postgresShardDir(shard: number, site: StackSite = defaultStackSite()): string {
  return path.join(site.dir, `pg-${shard}`);
}

export function postgresService(shard: number, site: StackSite = defaultStackSite()): StackService {
  const port = portPlan(site.portOffset).postgres(shard);
  const shardDir = postgresShardDir(shard, site);
  const dataDir = path.join(shardDir, 'data');
  const logFile = path.join(shardDir, 'postgres.log');
  const name = `postgres-${shard}`;

  return {
    name,
    ports: [port],
    marker: dataDir,
    logFiles: [logFile],
    readyTimeoutMs: 30_000,
    stopGraceMs: 30_000,
    stopSignal: 'SIGINT',
    pidFile: path.join(dataDir, 'postmaster.pid'),
    serverWritesPidFile: true,

    async prepare(log) {
      await postgresBinDir();
      fs.mkdirSync(shardDir, { recursive: true, mode: 0o755 });
      // The postgres OS user must be able to traverse down to its shard directory whatever our umask.
      for (const dir of [path.dirname(site.dir), site.dir]) fs.chmodSync(dir, 0o755);
      await giveToPostgres(shardDir);
      if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) await initCluster(shardDir, dataDir, log, name);
      const socketDir = socketDirFor(shardDir, port);
      if (socketDir !== shardDir) {
        fs.mkdirSync(socketDir, { recursive: true, mode: 0o755 });
        await giveToPostgres(socketDir);
      }
      // Postgres reads its key only when owned by its user and not readable by others.
      const tls = await ensureLocalStackTls(log, site);
      for (const [source, target, mode] of [
        [tls.certFile, 'server.crt', 0o644],
        [tls.keyFile, 'server.key', 0o600],
      ] as const) {
        const file = path.join(dataDir, target);
        fs.copyFileSync(source, file);
        fs.chmodSync(file, mode);
        await giveToPostgres(file);
      }
      const confFile = path.join(dataDir, 'stack.conf');
      fs.writeFileSync(confFile, stackConf(port, socketDir));
      await giveToPostgres(confFile);
      fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), PG_HBA);
      const mainConf = path.join(dataDir, 'postgresql.conf');
      if (!fs.readFileSync(mainConf, 'utf8').includes("include = 'stack.conf'")) {
        fs.appendFileSync(mainConf, "\n# Local stack settings (last, so they win):\ninclude = 'stack.conf'\n");
      }
    },

    async start() {
      const logsSince = logSizes([logFile]);
      // -w: pg_ctl itself waits for "ready" in postmaster.pid and notices a postmaster that died at start.
      await runPgTool('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '30', '-s'], shardDir, 40_000).catch((error: Error) => {
        throw new StackError(`pg_ctl start failed (${error.message.split('\n')[0]})\n${logTail([logFile], logsSince)}`);
      });
      const pid = readPidFile(path.join(dataDir, 'postmaster.pid'));
      if (pid === undefined) throw new StackError(`${name}: pg_ctl reported a start but wrote no postmaster.pid`);
      return pid;
    },

    isReady: () => withClient(port, 'postgres', async (client) => (await client.query('SELECT 1')).rowCount === 1),

    async afterReady(log) {
      // A server started from an older data directory layout gets the current pg_hba without a restart.
      const hbaFile = path.join(dataDir, 'pg_hba.conf');
      if (fs.readFileSync(hbaFile, 'utf8') !== PG_HBA) {
        fs.writeFileSync(hbaFile, PG_HBA);
        await withClient(port, 'postgres', (client) => client.query('SELECT pg_reload_conf()'));
        log(`${name}: rewrote pg_hba.conf and reloaded it`);
      }
      await withClient(port, 'postgres', async (client) => {
        const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [SHARD_DATABASE]);
        if (found.rowCount === 0) {
          await client.query(`CREATE DATABASE ${SHARD_DATABASE}`);
          log(`${name}: created database ${SHARD_DATABASE}`);
        }
      });
    },

    async stop() {
      await runPgTool('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30', '-s'], shardDir, 40_000);
    },
  };
}

/**
 * initdb into a scratch directory, then rename: a data directory either is complete or does not exist, so
 * an interrupted first start is simply redone. `--no-sync` because this is throwaway dev data.
 */
async function initCluster(shardDir: string, dataDir: string, log: LogFn, name: string): Promise<void> {
  const scratch = path.join(shardDir, 'data.initdb');
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
  log(`${name}: initdb`);
  const base = ['-D', scratch, '-U', SHARD_USER, '--auth=trust', '-E', 'UTF8', '--no-sync'];
  try {
    await runPgTool('initdb', [...base, '--locale=C.UTF-8'], shardDir);
  } catch {
    fs.rmSync(scratch, { recursive: true, force: true });
    await runPgTool('initdb', [...base, '--locale=C'], shardDir);
  }
  fs.renameSync(scratch, dataDir);
}
