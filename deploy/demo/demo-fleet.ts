import type { LocalStackEndpoints } from '@inventory-cdc/shared/testing';
import { ManagedProcess, WaitAbandoned, WorkerProcess, waitFor } from '@inventory-cdc/shared/testing';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const repositoryRoot = resolve(__dirname, '../..');
const demoDirectory = join(repositoryRoot, '.local', 'demo');
/** What a running demo fleet is made of: the `fleet` CLI and `--stop` read it. */
export const fleetFile = join(demoDirectory, 'fleet.json');

/** The demo's fixed loopback ports: readers 19100+shard, sinks 19120.., receivers 19130... */
export const demoPorts = {
  reader: (shard: number) => 19_100 + shard,
  redisCache: 19_120,
  wmsAdapter: 19_121,
  erpAdapter: 19_122,
  wms: 19_130,
  erp: 19_131,
};

export interface FleetMember {
  name: string;
  kind: 'wal-reader' | 'redis-cache' | 'wms-adapter' | 'erp-adapter' | 'wms-receiver' | 'erp-receiver';
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
  rmSync(fleetFile);
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
  /** Secrets of this run, shared by each adapter and its receiver. */
  private readonly secrets = {
    wmsToken: randomBytes(16).toString('hex'),
    wmsHmac: randomBytes(32).toString('hex'),
    erpToken: randomBytes(16).toString('hex'),
    erpHmac: randomBytes(32).toString('hex'),
  };

  constructor(
    private readonly stack: LocalStackEndpoints,
    readonly prefix: string,
    readonly schema: string,
    private readonly receiversDatabaseUrl: string,
    private readonly redisUrl: string,
  ) {}

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
    return { ...this.common(service, port), CDC__TOPICS__PREFIX: this.prefix, CDC__TOPICS__STOCK_SCHEMA: this.schema };
  }

  private add(kind: FleetMember['kind'], name: string, port: number, process: ManagedProcess): void {
    this.members.push({ process, member: { name, kind, url: `http://127.0.0.1:${port}`, logFile: process.logFile } });
  }

  /** Refuses to start over a port something else holds, naming it. */
  async checkPorts(): Promise<void> {
    const wanted = [
      ...this.shards.map((shard) => demoPorts.reader(shard.id)),
      demoPorts.redisCache,
      demoPorts.wmsAdapter,
      demoPorts.erpAdapter,
      demoPorts.wms,
      demoPorts.erp,
    ];
    for (const port of wanted)
      if (!(await portFree(port)))
        throw new Error(`port 127.0.0.1:${port} is taken; the demo fleet needs it (is another demo running? npm run demo -- --stop)`);
  }

  private receiver(kind: 'wms' | 'erp', port: number, token: string, hmac: string): void {
    const process = new ManagedProcess(
      `${kind}-receiver`,
      [
        join(repositoryRoot, 'dist', 'deploy', 'receivers', 'receiver-cli.js'),
        kind,
        '--port',
        String(port),
        '--database-url',
        this.receiversDatabaseUrl,
        '--token',
        token,
        '--hmac-secret',
        hmac,
        '--log-level',
        'warn',
      ],
      {},
      'demo/logs',
    );
    this.add(`${kind}-receiver`, `${kind}-receiver`, port, process);
  }

  /** Starts the receivers and the readers; sinks come with `startSinks` (after the readers created the topics). */
  async startReceiversAndReaders(): Promise<void> {
    this.receiver('wms', demoPorts.wms, this.secrets.wmsToken, this.secrets.wmsHmac);
    this.receiver('erp', demoPorts.erp, this.secrets.erpToken, this.secrets.erpHmac);
    for (const shard of this.shards) {
      const port = demoPorts.reader(shard.id);
      const process = new WorkerProcess(
        'wal-reader',
        {
          ...this.common(`wal-reader-${shard.id}`, port),
          CDC__SHARD__ID: String(shard.id),
          CDC__SHARD__CONNECTION__HOST: shard.host,
          CDC__SHARD__CONNECTION__PORT: String(shard.port),
          CDC__SHARD__CONNECTION__DATABASE: shard.database,
          CDC__SHARD__CONNECTION__USER: shard.user,
          CDC__CAPTURE__SCHEMAS: `[${this.schema}]`,
          CDC__TOPICS__PREFIX: this.prefix,
          CDC__TOPICS__PARTITIONS: '6',
        },
        `wal-reader-${shard.id}`,
        'demo/logs',
      );
      this.add('wal-reader', `wal-reader-${shard.id}`, port, process);
    }
    await this.startAndWait(this.members.map((entry) => entry.process));
  }

  async startSinks(): Promise<void> {
    const rebuildShards = this.shards.map((shard) => ({
      id: shard.id,
      connection: { host: shard.host, port: shard.port, database: shard.database, user: shard.user },
    }));
    const sinks = [
      new WorkerProcess(
        'redis-cache',
        {
          ...this.sinkEnv('redis-cache', demoPorts.redisCache),
          CDC__REDIS__URL: this.redisUrl,
          CDC__REBUILD__SHARDS: JSON.stringify(rebuildShards),
        },
        'redis-cache',
        'demo/logs',
      ),
      new WorkerProcess(
        'wms-adapter',
        {
          ...this.sinkEnv('wms-adapter', demoPorts.wmsAdapter),
          CDC__WMS__BASE_URL: `http://127.0.0.1:${demoPorts.wms}`,
          CDC__WMS__TOKEN: this.secrets.wmsToken,
          CDC__WMS__HMAC_SECRET: this.secrets.wmsHmac,
        },
        'wms-adapter',
        'demo/logs',
      ),
      new WorkerProcess(
        'erp-adapter',
        {
          ...this.sinkEnv('erp-adapter', demoPorts.erpAdapter),
          CDC__ERP__BASE_URL: `http://127.0.0.1:${demoPorts.erp}`,
          CDC__ERP__TOKEN: this.secrets.erpToken,
          CDC__ERP__HMAC_SECRET: this.secrets.erpHmac,
        },
        'erp-adapter',
        'demo/logs',
      ),
    ];
    this.add('redis-cache', 'redis-cache', demoPorts.redisCache, sinks[0]!);
    this.add('wms-adapter', 'wms-adapter', demoPorts.wmsAdapter, sinks[1]!);
    this.add('erp-adapter', 'erp-adapter', demoPorts.erpAdapter, sinks[2]!);
    await this.startAndWait(sinks);
    this.record();
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
      redisUrl: this.redisUrl,
      shards: this.shards.map((shard) => ({ id: shard.id, url: shard.url, slot: `cdc_${this.prefix}_shard${shard.id}` })),
      sinks: ['redis-cache', 'wms-adapter', 'erp-adapter'].map((name) => ({
        name,
        groupId: `${this.prefix}.${name}`,
        dlqTopic: `${this.prefix}.dlq.${name}`,
      })),
      members: this.members.map(({ process, member }) => ({ ...member, pid: process.pid ?? 0 })),
    };
    writeFileSync(fleetFile, `${JSON.stringify(description, null, 2)}\n`);
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
  }

  /** SIGTERM to every member; resolves with the members that did not exit 0. */
  async stop(): Promise<string[]> {
    const codes = await Promise.all(this.members.map(async ({ process, member }) => ({ member, code: await process.terminate() })));
    if (existsSync(fleetFile)) rmSync(fleetFile);
    return codes.filter(({ code }) => code !== 0).map(({ member, code }) => `${member.name} exited ${code}`);
  }
}
