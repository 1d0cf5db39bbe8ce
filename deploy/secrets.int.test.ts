import {
  FleetFixture,
  ManagedProcess,
  type WorkerProcess,
  buildWorkspace,
  restock,
  uniqueName,
  waitFor,
  warehouses,
} from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Pool } from 'pg';
import { readCounts } from './receivers/receiver-store';
import { dropReaderRole, ensureReaderRole } from './security/reader-role';
import { dropRedisUser, ensureRedisCacheUser } from './security/redis-acl';

/** A planted secret: long, random, and recognisable in any output that leaks it. */
const plant = (name: string): string => `${name}-${randomBytes(12).toString('hex')}`;
const secrets = {
  postgres: plant('pg'),
  redis: plant('redis'),
  wmsToken: plant('wmstoken'),
  wmsHmac: plant('wmshmac'),
  erpToken: plant('erptoken'),
  erpHmac: plant('erphmac'),
  kafkaSasl: plant('sasl'),
  wrongPostgres: plant('wrongpg'),
};
const secretDir = mkdtempSync(join(tmpdir(), 'fleet-secrets-'));
const secretFile = (name: keyof typeof secrets): string => {
  const file = join(secretDir, name);
  writeFileSync(file, `${secrets[name]}\n`, { mode: 0o600 });
  return file;
};

/** A process's command line as the kernel shows it to every user (`ps`), arguments joined by spaces. */
function commandLineOf(pid: number | undefined): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** A reference receiver run as compose runs it: its own process, every secret from a file. */
function receiverProcess(kind: 'wms' | 'erp', port: number, databaseUrl: URL, name: string): ManagedProcess {
  const withoutPassword = new URL(databaseUrl);
  withoutPassword.password = '';
  return new ManagedProcess(
    name,
    [
      resolve(__dirname, '..', 'dist', 'deploy', 'receivers', 'receiver-cli.js'),
      kind,
      '--port',
      String(port),
      `--database-url=${withoutPassword.toString()}`,
      `--database-password-file=${secretFile('postgres')}`,
      `--token-file=${secretFile(kind === 'wms' ? 'wmsToken' : 'erpToken')}`,
      `--hmac-secret-file=${secretFile(kind === 'wms' ? 'wmsHmac' : 'erpHmac')}`,
    ],
    {},
  );
}

async function receiverReady(process: ManagedProcess, port: number): Promise<void> {
  await waitFor(`${process.name} answering`, async () => {
    if (!process.isRunning()) throw new Error(`${process.name} exited (see ${process.logFile})`);
    return (await fetch(`http://127.0.0.1:${port}/admin/state`).catch(() => undefined))?.status === 200;
  });
}

function leaksIn(text: string): string[] {
  return Object.entries(secrets)
    .filter(([, value]) => text.includes(value))
    .map(([name]) => name);
}

describe('secrets are never printed (every worker, real credentials)', () => {
  let fleet: FleetFixture;
  let admin: Client;
  let redisAdmin: Redis;
  let receiverDb: Pool;
  let database: string;
  const receivers: { process: ManagedProcess; port: number }[] = [];
  const role = uniqueName('cdc_reader');
  const redisUser = uniqueName('cdc_cache');
  const workers: { process: WorkerProcess; port: number }[] = [];
  const skus = Array.from({ length: 6 }, (_, index) => `${uniqueName('SKU')}-${index}`);

  beforeAll(async () => {
    fleet = await FleetFixture.create('secrets', 1);
    const shard = fleet.shards[0]!;
    admin = fleet.clients[0]!;
    // SKUs of its own: the local Redis is shared, and the cache keeps the newest position per SKU.
    // The ERP posts deltas, which need before images.
    await admin.query(`alter table ${fleet.schema}.stock replica identity full`);
    await admin.query(
      `insert into ${fleet.schema}.stock (sku, warehouse, on_hand) select s, w, 50 from unnest($1::text[]) s, unnest($2::text[]) w`,
      [skus, warehouses],
    );
    await ensureReaderRole(admin, {
      role,
      password: secrets.postgres,
      tables: [`${fleet.schema}.stock`],
      publication: `cdc_${fleet.prefix}_shard${shard.id}`,
    });
    redisAdmin = new Redis(fleet.stack.redisUrl);
    await ensureRedisCacheUser(redisAdmin, redisUser, secrets.redis);

    database = uniqueName('secrets');
    await admin.query(`create database ${database}`);
    const databaseUrl = new URL(shard.url);
    databaseUrl.pathname = `/${database}`;
    receiverDb = new Pool({ connectionString: databaseUrl.toString(), max: 2 });
    buildWorkspace();
    for (const kind of ['wms', 'erp'] as const) {
      const port = await freePort();
      const process = receiverProcess(kind, port, databaseUrl, `${database}-${kind}-receiver`);
      process.start();
      receivers.push({ process, port });
    }
    await Promise.all(receivers.map(({ process, port }) => receiverReady(process, port)));
    const [wms, erp] = receivers as [(typeof receivers)[0], (typeof receivers)[0]];

    const connection = { host: shard.host, port: shard.port, database: shard.database, user: role };
    const sinkTopics = { CDC__TOPICS__PREFIX: fleet.prefix, CDC__TOPICS__STOCK_SCHEMA: fleet.schema, CDC__LOG__LEVEL: 'debug' };
    const start = (kind: string, env: Record<string, string>): void => {
      const worker = fleet.worker(kind, env);
      worker.process.start();
      workers.push(worker);
    };
    start('wal-reader', {
      CDC__LOG__LEVEL: 'debug',
      CDC__SHARD__ID: String(shard.id),
      CDC__SHARD__CONNECTION__HOST: shard.host,
      CDC__SHARD__CONNECTION__PORT: String(shard.port),
      CDC__SHARD__CONNECTION__DATABASE: shard.database,
      CDC__SHARD__CONNECTION__USER: role,
      CDC__SHARD__CONNECTION__PASSWORD_FILE: secretFile('postgres'),
      CDC__CAPTURE__TABLES: `[${fleet.schema}.stock]`,
      CDC__TOPICS__PREFIX: fleet.prefix,
      CDC__TOPICS__PARTITIONS: '2',
    });
    await workers[0]!.process.waitReady(workers[0]!.port);
    start('redis-cache', {
      ...sinkTopics,
      CDC__REDIS__URL: fleet.stack.redisUrl,
      CDC__REDIS__USERNAME: redisUser,
      CDC__REDIS__PASSWORD_FILE: secretFile('redis'),
      CDC__REBUILD__SHARDS: JSON.stringify([{ id: shard.id, connection: { ...connection, passwordFile: secretFile('postgres') } }]),
    });
    start('wms-adapter', {
      ...sinkTopics,
      CDC__WMS__BASE_URL: `http://127.0.0.1:${wms.port}`,
      CDC__WMS__TOKEN_FILE: secretFile('wmsToken'),
      CDC__WMS__HMAC_SECRET_FILE: secretFile('wmsHmac'),
    });
    start('erp-adapter', {
      ...sinkTopics,
      CDC__ERP__BASE_URL: `http://127.0.0.1:${erp.port}`,
      CDC__ERP__TOKEN_FILE: secretFile('erpToken'),
      CDC__ERP__HMAC_SECRET_FILE: secretFile('erpHmac'),
      CDC__ERP__WINDOW__MAX_AGE_MS: '200',
    });
    await Promise.all(workers.map((worker) => worker.process.waitReady(worker.port)));
  });

  afterAll(async () => {
    await fleet?.cleanup();
    await Promise.all(receivers.map(({ process }) => process.terminate()));
    await receiverDb?.end();
    await admin?.query(`drop database if exists ${database} with (force)`).catch(() => undefined);
    await redisAdmin?.del(...skus.map((sku) => `cdc:stock:{${sku}}`));
    if (redisAdmin) await dropRedisUser(redisAdmin, redisUser);
    redisAdmin?.disconnect();
    // The fixture's clients are closed by cleanup; the role goes last, after its slot.
    const closing = new Client({ connectionString: fleet.shards[0]!.url });
    await closing.connect();
    await dropReaderRole(closing, role);
    await closing.end();
  });

  it('delivers with the planted credentials: snapshot and a streamed change reach Redis, the WMS and the ERP', async () => {
    await restock(admin, fleet.schema, skus[0]!, 'WH-A', 7);
    await waitFor(
      'the snapshot and the restock in Redis',
      async () =>
        (await redisAdmin.hget(`cdc:stock:{${skus[0]}}`, 'oh:WH-A')) === '57' && (await redisAdmin.exists(`cdc:stock:{${skus[5]}}`)) === 1,
      60_000,
    );
    await waitFor('changes at the WMS', async () => (await readCounts(receiverDb, 'wms')).applied > skus.length, 60_000);
    await waitFor('postings at the ERP', async () => (await readCounts(receiverDb, 'erp')).applied > 0, 60_000);
    const rejected = (await readCounts(receiverDb, 'wms')).rejected + (await readCounts(receiverDb, 'erp')).rejected;
    expect(rejected).toBe(0);
  });

  it('no worker or receiver command line (what `ps` shows every user) contains a planted secret', () => {
    const running = [...workers, ...receivers];
    expect(running.map(({ process }) => process.isRunning())).toEqual(running.map(() => true));
    for (const { process } of running) {
      const commandLine = commandLineOf(process.pid);
      expect(commandLine).toContain('.js');
      expect({ process: process.name, leaks: leaksIn(commandLine) }).toEqual({ process: process.name, leaks: [] });
    }
  });

  it('no worker log, no receiver log and no /metrics output contains a planted secret', async () => {
    for (const { process, port } of workers) {
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect({ worker: process.name, leaks: leaksIn(metrics) }).toEqual({ worker: process.name, leaks: [] });
    }
    await Promise.all([...workers, ...receivers].map(({ process }) => process.terminate()));
    for (const { process } of workers) {
      const log = readFileSync(process.logFile, 'utf8');
      expect(log).toContain('"msg":"starting"');
      expect({ worker: process.name, leaks: leaksIn(log) }).toEqual({ worker: process.name, leaks: [] });
    }
    for (const { process } of receivers) {
      const log = readFileSync(process.logFile, 'utf8');
      expect(log).toContain('receiver listening');
      expect({ receiver: process.name, leaks: leaksIn(log) }).toEqual({ receiver: process.name, leaks: [] });
    }
  });

  it('a refused Postgres login is reported without the password tried', async () => {
    const shard = fleet.shards[0]!;
    const wrongFile = secretFile('wrongPostgres');
    const { process } = fleet.worker('wal-reader', {
      CDC__SHARD__ID: String(shard.id),
      CDC__SHARD__CONNECTION__HOST: shard.host,
      CDC__SHARD__CONNECTION__PORT: String(shard.port),
      CDC__SHARD__CONNECTION__DATABASE: shard.database,
      CDC__SHARD__CONNECTION__USER: role,
      CDC__SHARD__CONNECTION__PASSWORD_FILE: wrongFile,
      CDC__CAPTURE__TABLES: `[${fleet.schema}.stock]`,
      CDC__TOPICS__PREFIX: `${fleet.prefix}_wrong`,
    });
    process.start();
    expect(leaksIn(commandLineOf(process.pid))).toEqual([]);
    await waitFor(
      'the refused login in the log',
      () => readFileSync(process.logFile, 'utf8').includes('password authentication failed'),
      30_000,
    );
    await process.terminate();
    const output = readFileSync(process.logFile, 'utf8');
    expect(leaksIn(output)).toEqual([]);
  });

  it('a config file that fails to parse on the line of a secret is reported by line, without the line', async () => {
    const file = join(secretDir, 'broken-wms-adapter.yaml');
    writeFileSync(
      file,
      `serviceName: broken\nwms:\n  baseUrl: http://127.0.0.1:1\n  token: "${secrets.wmsToken}\n  hmacSecret: ${secrets.wmsHmac}\n`,
    );
    const { process } = fleet.worker('wms-adapter', { CDC_CONFIG_FILE: file });
    process.start();
    expect(await process.exitCode()).toBe(2);
    const output = readFileSync(process.logFile, 'utf8');
    expect(output).toMatch(/YAML syntax error \w+ at line \d+/);
    expect(leaksIn(output)).toEqual([]);
  });

  it.each([
    [
      'wms-adapter',
      'wms.baseUrl',
      { CDC__WMS__BASE_URL: 'not a url', CDC__WMS__TOKEN: secrets.wmsToken, CDC__WMS__HMAC_SECRET: secrets.wmsHmac },
    ],
    [
      'erp-adapter',
      'erp.baseUrl',
      { CDC__ERP__BASE_URL: '', CDC__ERP__TOKEN: secrets.erpToken, CDC__ERP__HMAC_SECRET_FILE: secretFile('erpHmac') },
    ],
    [
      'wal-reader',
      'kafka.sasl.mechanism',
      {
        CDC__KAFKA__SASL__MECHANISM: 'kerberos',
        CDC__KAFKA__SASL__USERNAME: 'cdc',
        CDC__KAFKA__SASL__PASSWORD: secrets.kafkaSasl,
        CDC__SHARD__CONNECTION__PASSWORD: secrets.postgres,
      },
    ],
    [
      'redis-cache',
      'redis.url',
      { CDC__REDIS__URL: `redis://${redisUser}:${secrets.redis}@127.0.0.1:1`, CDC__REDIS__PASSWORD: secrets.redis },
    ],
  ])('a config error of %s names %s and prints no secret', async (kind, key, env) => {
    const { process } = fleet.worker(kind, { CDC__TOPICS__PREFIX: fleet.prefix, ...env });
    process.start();
    expect(await process.exitCode()).toBe(2);
    const output = readFileSync(process.logFile, 'utf8');
    expect(output).toContain(`${key}:`);
    expect(leaksIn(output)).toEqual([]);
  });
});
