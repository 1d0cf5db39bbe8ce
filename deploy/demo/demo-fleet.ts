import { dlqTopicOf } from '@inventory-cdc/shared';
import type { LocalStackEndpoints } from '@inventory-cdc/shared/testing';
import { ManagedProcess, WaitAbandoned, WorkerProcess, waitFor } from '@inventory-cdc/shared/testing';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalPrometheus, type ScrapeTarget } from '../local/local-prometheus';
import { portOffset } from '../local/stack-plan';

const repositoryRoot = resolve(__dirname, '../..');
const demoDirectory = join(repositoryRoot, '.local', 'demo');
/** What a running demo fleet is made of (members with pids, logs): `--stop` reads it. */
export const fleetFile = join(demoDirectory, 'fleet.json');
/** The `fleet` CLI's config for the running demo: `npm run fleet -- status --config .local/demo/fleet-config.json`. */
export const fleetConfigFile = join(demoDirectory, 'fleet-config.json');

/** Loopback ports of a fleet from its base: readers base+shard, sinks base+20.., receivers base+30... */
export function fleetPorts(base: number) {
  return {
    reader: (shard: number) => base + shard,
    redisCache: base + 20,
    wmsAdapter: base + 21,
    erpAdapter: base + 22,
    wms: base + 30,
    erp: base + 31,
    prometheus: base + 40,
  };
}

/** Partitions of the fleet's topics. */
const topicPartitions = 6;

/** The ERP's posting window (`erp.window.maxAgeMs`) in the demo fleet: the ERP's latency target is one window. */
export const erpPostingWindowMs = 1_000;

export type SinkName = 'redis-cache' | 'wms-adapter' | 'erp-adapter';
export const sinkNames: SinkName[] = ['redis-cache', 'wms-adapter', 'erp-adapter'];

export interface DemoFleetOptions {
  stack: LocalStackEndpoints;
  prefix: string;
  schema: string;
  redisUrl: string;
  /** Database of the reference receivers; without one no receivers are started (and no WMS/ERP adapters). */
  receiversDatabaseUrl?: string;
  /** First loopback port; default 19100 (the demo), shifted like the stack's by `CDC_STACK_PORT_BASE`. */
  portBase?: number;
  /** Under `.local/`; default `demo/logs`. */
  logDirectory?: string;
  /** Write `.local/demo/fleet.json` (the demo's fleet; not a benchmark's). Default true. */
  record?: boolean;
  /**
   * The readers' (and the redis-cache rebuild's) Postgres login, e.g. the least-privilege role of
   * deploy/security/reader-role.ts, and the tables it may capture; default: the stack's superuser
   * capturing the whole schema.
   */
  reader?: { user: string; password: string; tables: string[] };
}

export interface FleetMember {
  name: string;
  kind: 'wal-reader' | 'redis-cache' | 'wms-adapter' | 'erp-adapter' | 'wms-receiver' | 'erp-receiver' | 'prometheus';
  url: string;
  pid: number;
  logFile: string;
}

export interface FleetDescription {
  prefix: string;
  schema: string;
  kafkaBrokers: string[];
  registryUrl: string;
  redisUrl: string;
  shards: { id: number; url: string; slot: string }[];
  sinks: { name: string; groupId: string; dlqTopic: string }[];
  members: FleetMember[];
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the fleet an earlier `--keep` run left running (by the pids it recorded). Returns how many were stopped. */
export async function stopKeptFleet(say: (line: string) => void): Promise<number> {
  if (!existsSync(fleetFile)) return 0;
  const fleet = JSON.parse(readFileSync(fleetFile, 'utf8')) as FleetDescription;
  const running = fleet.members.filter((member) => alive(member.pid));
  for (const member of running) process.kill(member.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (running.some((member) => alive(member.pid)) && Date.now() < deadline) await sleep(200);
  for (const member of running.filter((m) => alive(m.pid))) {
    say(`  ${member.name} (pid ${member.pid}) did not stop in 30 s: kill -9`);
    process.kill(member.pid, 'SIGKILL');
  }
  for (const file of [fleetFile, fleetConfigFile]) if (existsSync(file)) rmSync(file);
  if (running.length > 0)
    say(`stopped the earlier demo fleet: ${running.map((member) => `${member.name} (pid ${member.pid})`).join(', ')}`);
  return running.length;
}

/**
 * The demo's fleet as separate processes, as operators run it: one wal-reader per shard, the three sinks
 * and the reference WMS and ERP receivers, all on loopback, logs under `.local/demo/logs`.
 */
export class DemoFleet {
  readonly members: Array<{ process: ManagedProcess; member: Omit<FleetMember, 'pid'> }> = [];
  /** The Prometheus of `--observe`, when started. */
  private prometheus: LocalPrometheus | undefined;
  /** Files of this run's secrets (0600), shared by each adapter and its receiver; never on a command line. */
  private secretFiles: Record<'wmsToken' | 'wmsHmac' | 'erpToken' | 'erpHmac' | 'pgPassword', string> | undefined;

  private secrets(): NonNullable<DemoFleet['secretFiles']> {
    if (this.secretFiles) return this.secretFiles;
    const directory = join(repositoryRoot, '.local', this.logDirectory, '..', 'secrets');
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const write = (name: string, value: string): string => {
      const file = join(directory, name);
      writeFileSync(file, `${value}\n`, { mode: 0o600 });
      return file;
    };
    this.secretFiles = {
      wmsToken: write('wms-token', randomBytes(16).toString('hex')),
      wmsHmac: write('wms-hmac-secret', randomBytes(32).toString('hex')),
      erpToken: write('erp-token', randomBytes(16).toString('hex')),
      erpHmac: write('erp-hmac-secret', randomBytes(32).toString('hex')),
      pgPassword: write('postgres-reader-password', this.options.reader?.password ?? ''),
    };
    return this.secretFiles;
  }

  /** Connection settings of the readers and the rebuild, under `prefix` (e.g. `CDC__SHARD__CONNECTION__`). */
  private loginEnv(prefix: string): Record<string, string> {
    const reader = this.options.reader;
    return reader ? { [`${prefix}USER`]: reader.user, [`${prefix}PASSWORD_FILE`]: this.secrets().pgPassword } : {};
  }

  readonly prefix: string;
  readonly schema: string;
  private readonly stack: LocalStackEndpoints;
  private readonly ports: ReturnType<typeof fleetPorts>;
  private readonly logDirectory: string;

  constructor(private readonly options: DemoFleetOptions) {
    this.stack = options.stack;
    this.prefix = options.prefix;
    this.schema = options.schema;
    this.ports = fleetPorts(options.portBase ?? 19_100 + portOffset());
    this.logDirectory = options.logDirectory ?? 'demo/logs';
  }

  get shards(): LocalStackEndpoints['shards'] {
    return this.stack.shards;
  }

  private common(service: string, port: number): Record<string, string> {
    return {
      CDC__SERVICE_NAME: service,
      CDC__HTTP__PORT: String(port),
      CDC__KAFKA__BROKERS: this.stack.kafkaBrokers.join(','),
      CDC__REGISTRY__URL: this.stack.registryUrl,
      CDC__SHUTDOWN__GRACE_MS: '15000',
    };
  }

  private sinkEnv(service: string, port: number): Record<string, string> {
    return {
      ...this.common(service, port),
      CDC__TOPICS__PREFIX: this.prefix,
      CDC__TOPICS__STOCK_SCHEMA: this.schema,
      // Each sink is one member holding every partition: all of them at once, so a partition busy with a
      // hot SKU never makes another wait for a turn.
      CDC__CONSUMER__PARTITIONS_CONSUMED_CONCURRENTLY: String(topicPartitions),
    };
  }

  private add(kind: FleetMember['kind'], name: string, port: number, process: ManagedProcess): void {
    this.members.push({ process, member: { name, kind, url: `http://127.0.0.1:${port}`, logFile: process.logFile } });
  }

  /** Refuses to start over a port something else holds, naming it. */
  async checkPorts(): Promise<void> {
    const { ports } = this;
    const wanted = [
      ...this.shards.map((shard) => ports.reader(shard.id)),
      ports.redisCache,
      ports.wmsAdapter,
      ports.erpAdapter,
      ports.wms,
      ports.erp,
      ports.prometheus,
    ];
    for (const port of wanted)
      if (!(await portFree(port)))
        throw new Error(`port 127.0.0.1:${port} is taken; the demo fleet needs it (is another demo running? npm run demo -- --stop)`);
  }

  private receiver(kind: 'wms' | 'erp', port: number, tokenFile: string, hmacFile: string, databaseUrl: string): void {
    const process = new ManagedProcess(
      `${kind}-receiver`,
      [
        join(repositoryRoot, 'dist', 'deploy', 'receivers', 'receiver-cli.js'),
        kind,
        '--port',
        String(port),
        '--database-url',
        databaseUrl,
        '--token-file',
        tokenFile,
        '--hmac-secret-file',
        hmacFile,
        '--log-level',
        'warn',
      ],
      {},
      this.logDirectory,
    );
    this.add(`${kind}-receiver`, `${kind}-receiver`, port, process);
  }

  /** Starts the receivers (if any) and the readers; sinks come with `startSinks` (after the readers created the topics). */
  async startReceiversAndReaders(readerEnv: Record<string, string> = {}): Promise<void> {
    const { receiversDatabaseUrl } = this.options;
    if (receiversDatabaseUrl) {
      const secrets = this.secrets();
      this.receiver('wms', this.ports.wms, secrets.wmsToken, secrets.wmsHmac, receiversDatabaseUrl);
      this.receiver('erp', this.ports.erp, secrets.erpToken, secrets.erpHmac, receiversDatabaseUrl);
    }
    for (const shard of this.shards) this.addReader(shard, readerEnv);
    await this.startAndWait(this.members.map((entry) => entry.process));
  }

  private addReader(shard: LocalStackEndpoints['shards'][number], readerEnv: Record<string, string>): WorkerProcess {
    const port = this.ports.reader(shard.id);
    const process = new WorkerProcess(
      'wal-reader',
      {
        ...this.common(`wal-reader-${shard.id}`, port),
        CDC__SHARD__ID: String(shard.id),
        CDC__SHARD__CONNECTION__HOST: shard.host,
        CDC__SHARD__CONNECTION__PORT: String(shard.port),
        CDC__SHARD__CONNECTION__DATABASE: shard.database,
        CDC__SHARD__CONNECTION__USER: shard.user,
        ...this.loginEnv('CDC__SHARD__CONNECTION__'),
        ...(this.options.reader
          ? { CDC__CAPTURE__TABLES: `[${this.options.reader.tables.join(', ')}]` }
          : { CDC__CAPTURE__SCHEMAS: `[${this.schema}]` }),
        CDC__TOPICS__PREFIX: this.prefix,
        CDC__TOPICS__PARTITIONS: String(topicPartitions),
        ...readerEnv,
      },
      `wal-reader-${shard.id}`,
      this.logDirectory,
    );
    this.add('wal-reader', `wal-reader-${shard.id}`, port, process);
    return process;
  }

  /**
   * Replaces a shard's reader with one started with `readerEnv` added to its settings (an operator's config
   * change and restart) and waits until it streams.
   */
  async replaceReader(shard: number, readerEnv: Record<string, string>): Promise<void> {
    const endpoint = this.shards.find((candidate) => candidate.id === shard);
    if (!endpoint) throw new Error(`no shard ${shard} in the fleet`);
    await this.stopMember(`wal-reader-${shard}`);
    await this.startAndWait([this.addReader(endpoint, readerEnv)]);
  }

  /** Starts the given sinks (default all three) and waits until each is ready; `env` adds settings per sink. */
  async startSinks(sinks: SinkName[] = sinkNames, env: Partial<Record<SinkName, Record<string, string>>> = {}): Promise<void> {
    const reader = this.options.reader;
    const rebuildShards = this.shards.map((shard) => ({
      id: shard.id,
      connection: {
        host: shard.host,
        port: shard.port,
        database: shard.database,
        user: reader?.user ?? shard.user,
        ...(reader ? { passwordFile: this.secrets().pgPassword } : {}),
      },
    }));
    const settings: Record<SinkName, () => Record<string, string>> = {
      'redis-cache': () => ({
        ...this.sinkEnv('redis-cache', this.ports.redisCache),
        CDC__REDIS__URL: this.options.redisUrl,
        CDC__REBUILD__SHARDS: JSON.stringify(rebuildShards),
        // The shadow audit watches the read model for drift while the demo runs (fleet overview, alerts).
        CDC__AUDIT__ENABLED: 'true',
      }),
      'wms-adapter': () => ({
        ...this.sinkEnv('wms-adapter', this.ports.wmsAdapter),
        CDC__WMS__BASE_URL: `http://127.0.0.1:${this.ports.wms}`,
        CDC__WMS__TOKEN_FILE: this.secrets().wmsToken,
        CDC__WMS__HMAC_SECRET_FILE: this.secrets().wmsHmac,
      }),
      'erp-adapter': () => ({
        ...this.sinkEnv('erp-adapter', this.ports.erpAdapter),
        CDC__ERP__BASE_URL: `http://127.0.0.1:${this.ports.erp}`,
        CDC__ERP__TOKEN_FILE: this.secrets().erpToken,
        CDC__ERP__HMAC_SECRET_FILE: this.secrets().erpHmac,
        CDC__ERP__WINDOW__MAX_AGE_MS: String(erpPostingWindowMs),
      }),
    };
    const ports: Record<SinkName, number> = {
      'redis-cache': this.ports.redisCache,
      'wms-adapter': this.ports.wmsAdapter,
      'erp-adapter': this.ports.erpAdapter,
    };
    const started = sinks.map((sink) => {
      if (sink !== 'redis-cache' && !this.options.receiversDatabaseUrl)
        throw new Error(`${sink} needs the reference receivers (receiversDatabaseUrl)`);
      const process = new WorkerProcess(sink, { ...settings[sink](), ...env[sink] }, sink, this.logDirectory);
      this.add(sink, sink, ports[sink], process);
      return process;
    });
    await this.startAndWait(started);
    if (this.options.record !== false) this.record();
  }

  /**
   * Starts a Prometheus on loopback scraping every worker of the fleet with the project's alert rules
   * (`--observe`); answers its URL. It stops with the fleet, or is recorded with it under `--keep`.
   */
  async observe(): Promise<string> {
    const targets: ScrapeTarget[] = this.members
      .filter(({ member }) => !member.kind.endsWith('receiver'))
      .map(({ member }) => {
        const shard = /^wal-reader-(\d+)$/.exec(member.name)?.[1];
        return shard === undefined
          ? { job: member.kind as ScrapeTarget['job'], url: member.url }
          : { job: 'wal-reader', url: member.url, labels: { shard } };
      });
    this.prometheus = await LocalPrometheus.start({
      port: this.ports.prometheus,
      directory: join(repositoryRoot, '.local', this.logDirectory, '..', 'prometheus'),
      targets,
    });
    if (this.options.record !== false) this.record();
    return this.prometheus.url;
  }

  /** Stops one member (SIGTERM) and forgets it; answers its exit code. */
  async stopMember(name: string): Promise<number | null> {
    const index = this.members.findIndex((entry) => entry.member.name === name);
    if (index < 0) throw new Error(`no ${name} in the fleet`);
    const [entry] = this.members.splice(index, 1);
    return entry!.process.terminate();
  }

  private async startAndWait(processes: ManagedProcess[]): Promise<void> {
    for (const process of processes) process.start();
    await Promise.all(
      processes.map((process) => {
        const entry = this.members.find((candidate) => candidate.process === process)!;
        const path = entry.member.kind.endsWith('receiver') ? '/admin/state' : '/readyz';
        return waitFor(
          `${entry.member.name} ready`,
          async () => {
            if (!process.isRunning()) throw new WaitAbandoned(`${entry.member.name} exited; see ${process.logFile}`);
            const response = await fetch(`${entry.member.url}${path}`).catch(() => undefined);
            return response?.status === 200;
          },
          120_000,
          250,
        );
      }),
    );
  }

  /** Writes `.local/demo/fleet.json`: members with pids and URLs, shards, sinks (the `fleet` CLI reads it). */
  record(): void {
    mkdirSync(demoDirectory, { recursive: true });
    const description: FleetDescription = {
      prefix: this.prefix,
      schema: this.schema,
      kafkaBrokers: this.stack.kafkaBrokers,
      registryUrl: this.stack.registryUrl,
      redisUrl: this.options.redisUrl,
      shards: this.shards.map((shard) => ({ id: shard.id, url: shard.url, slot: `cdc_${this.prefix}_shard${shard.id}` })),
      sinks: sinkNames.map((name) => ({
        name,
        groupId: `${this.prefix}.${name}`,
        dlqTopic: dlqTopicOf({ prefix: this.prefix }, name),
      })),
      members: [
        ...this.members.map(({ process, member }) => ({ ...member, pid: process.pid ?? 0 })),
        ...(this.prometheus
          ? [
              {
                name: 'prometheus',
                kind: 'prometheus' as const,
                url: this.prometheus.url,
                pid: this.prometheus.pid ?? 0,
                logFile: this.prometheus.logFile,
              },
            ]
          : []),
      ],
    };
    writeFileSync(fleetFile, `${JSON.stringify(description, null, 2)}\n`);
    const fleetConfig = {
      kafka: { brokers: this.stack.kafkaBrokers },
      registry: { url: this.stack.registryUrl },
      topics: { prefix: this.prefix, stockSchema: this.schema },
      shards: this.shards.map((shard) => ({
        id: shard.id,
        connection: { host: shard.host, port: shard.port, database: shard.database, user: shard.user },
      })),
      sinks: sinkNames.filter((name) => this.members.some((entry) => entry.member.name === name)).map((name) => ({ name })),
      reconcile: {
        redisUrl: this.options.redisUrl,
        ...(this.options.receiversDatabaseUrl
          ? { wmsStateUrl: `http://127.0.0.1:${this.ports.wms}`, erpStateUrl: `http://127.0.0.1:${this.ports.erp}` }
          : {}),
      },
      workers: this.members
        .filter(({ member }) => !member.kind.endsWith('receiver'))
        .map(({ member }) => ({ name: member.name, url: member.url })),
    };
    writeFileSync(fleetConfigFile, `${JSON.stringify(fleetConfig, null, 2)}\n`);
  }

  url(kind: FleetMember['kind'], shard?: number): string {
    const name = kind === 'wal-reader' ? `wal-reader-${shard}` : kind;
    const entry = this.members.find((candidate) => candidate.member.name === name);
    if (!entry) throw new Error(`no ${name} in the demo fleet`);
    return entry.member.url;
  }

  /** Lets the demo end while the fleet keeps running. */
  detach(): void {
    for (const { process } of this.members) process.detach();
    this.prometheus?.detach();
  }

  /** SIGTERM to every member; resolves with the members that did not exit 0. */
  async stop(): Promise<string[]> {
    await this.prometheus?.stop();
    const codes = await Promise.all(this.members.map(async ({ process, member }) => ({ member, code: await process.terminate() })));
    if (this.options.record !== false) for (const file of [fleetFile, fleetConfigFile]) if (existsSync(file)) rmSync(file);
    return codes.filter(({ code }) => code !== 0).map(({ member, code }) => `${member.name} exited ${code}`);
  }
}
