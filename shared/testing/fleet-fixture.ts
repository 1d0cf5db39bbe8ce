import { Client } from 'pg';
import { sqlIdentifier } from '@inventory-cdc/shared';
import { inventoryDdl } from './inventory-workload';
import { testStackEndpoints, type LocalStackEndpoints } from './stack-endpoints';
import { uniqueName } from './unique-name';
import { WorkerProcess } from './worker-process';

let nextPort = 21000 + (process.pid % 40) * 25;

/**
 * A test's private fleet on the local stack: its own inventory schema on every shard (the captured tables),
 * its own topic prefix, one wal-reader per shard, and whatever sinks the test starts. `cleanup()` kills
 * every worker and drops the slots, publications and schemas.
 */
export class FleetFixture {
  readonly schema: string;
  readonly stack: LocalStackEndpoints;
  readonly clients: Client[];
  /** The registry the fleet's workers use: the stack's, unless the test brings its own. */
  readonly registryUrl: string;
  private readonly workers: WorkerProcess[] = [];

  private constructor(name: string, shards: number, registryUrl: string | undefined) {
    this.stack = testStackEndpoints();
    this.registryUrl = registryUrl ?? this.stack.registryUrl;
    this.schema = uniqueName(name);
    this.clients = this.stack.shards.slice(0, shards).map((shard) => new Client({ connectionString: shard.url }));
  }

  static async create(name: string, shards = 2, options: { registryUrl?: string } = {}): Promise<FleetFixture> {
    const fixture = new FleetFixture(name, shards, options.registryUrl);
    await Promise.all(
      fixture.clients.map(async (client) => {
        await client.connect();
        await client.query(inventoryDdl(fixture.schema));
      }),
    );
    return fixture;
  }

  get prefix(): string {
    return this.schema;
  }

  get shards(): LocalStackEndpoints['shards'] {
    return this.stack.shards.slice(0, this.clients.length);
  }

  /** Common `CDC__…` settings of every worker of this fleet. */
  baseEnv(service: string, port: number): Record<string, string> {
    return {
      CDC__SERVICE_NAME: service,
      CDC__HTTP__PORT: String(port),
      CDC__KAFKA__BROKERS: this.stack.kafkaBrokers.join(','),
      CDC__REGISTRY__URL: this.registryUrl,
      CDC__SHUTDOWN__GRACE_MS: '10000',
    };
  }

  /** Starts one wal-reader per shard and waits until each streams. */
  async startReaders(): Promise<void> {
    await Promise.all(
      this.shards.map((shard) => {
        const { process, port } = this.worker('wal-reader', {
          CDC__SHARD__ID: String(shard.id),
          CDC__SHARD__CONNECTION__HOST: shard.host,
          CDC__SHARD__CONNECTION__PORT: String(shard.port),
          CDC__SHARD__CONNECTION__DATABASE: shard.database,
          CDC__SHARD__CONNECTION__USER: shard.user,
          CDC__CAPTURE__SCHEMAS: `[${this.schema}]`,
          CDC__TOPICS__PREFIX: this.prefix,
          CDC__TOPICS__PARTITIONS: '4',
        });
        process.start();
        return process.waitReady(port);
      }),
    );
  }

  /** A worker process of this fleet (not started); `env` adds or overrides settings. */
  worker(kind: string, env: Record<string, string>): { process: WorkerProcess; port: number } {
    const port = nextPort++;
    const process = new WorkerProcess(kind, { ...this.baseEnv(`${kind}-${this.schema}`, port), ...env }, `${this.schema}-${kind}-${port}`);
    this.workers.push(process);
    return { process, port };
  }

  /** `CDC__REBUILD__SHARDS` for sinks that re-seed from Postgres. */
  rebuildShardsEnv(): string {
    return JSON.stringify(
      this.shards.map((shard) => ({
        id: shard.id,
        connection: { host: shard.host, port: shard.port, database: shard.database, user: shard.user },
      })),
    );
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.kill()));
    await Promise.all(
      this.clients.map(async (client, index) => {
        const slot = `cdc_${this.prefix}_shard${this.shards[index]!.id}`;
        await client
          .query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [slot])
          .catch(() => undefined);
        await client.query(`drop publication if exists ${sqlIdentifier(slot)}`).catch(() => undefined);
        await client.query(`drop schema if exists ${sqlIdentifier(this.schema)} cascade`).catch(() => undefined);
        await client.end();
      }),
    );
  }
}
