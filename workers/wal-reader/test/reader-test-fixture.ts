import { AvroCodec, createKafka, createRegistryClient } from '@inventory-cdc/shared';
import {
  WorkerProcess,
  readTopics,
  testStackEndpoints,
  uniqueName,
  type LocalStackEndpoints,
  type ReadRecord,
} from '@inventory-cdc/shared/testing';
import type { Kafka } from 'kafkajs';
import { Client } from 'pg';
import pino from 'pino';

let nextPort = 19700 + (process.pid % 50) * 20;

/**
 * One integration test's private world on a local shard: its own schema (the captured tables), topic
 * prefix and slot, reader processes started from `workers/wal-reader/src/main.ts`, and a read_committed
 * view of its topics. `cleanup()` stops the readers and drops the slot, publication and schema.
 */
export class ReaderFixture {
  readonly schema: string;
  readonly prefix: string;
  readonly slot: string;
  readonly stack: LocalStackEndpoints;
  readonly kafka: Kafka;
  readonly codec: AvroCodec;
  readonly db: Client;
  private readonly readers: WorkerProcess[] = [];

  private constructor(
    readonly shardIndex: number,
    name: string,
  ) {
    this.stack = testStackEndpoints();
    this.schema = uniqueName(name);
    this.prefix = this.schema;
    this.slot = `cdc_${this.prefix}_shard${shardIndex}`;
    this.kafka = createKafka(
      { brokers: this.stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'reader-test',
      pino({ level: 'silent' }),
    );
    this.codec = new AvroCodec(createRegistryClient({ url: this.stack.registryUrl, compatibility: 'BACKWARD' }));
    this.db = new Client({ connectionString: this.shard.url, options: '-c TimeZone=UTC' });
  }

  static async create(name: string, ddl: string, shardIndex = 0): Promise<ReaderFixture> {
    const fixture = new ReaderFixture(shardIndex, name);
    await fixture.db.connect();
    await fixture.db.query(`create schema ${fixture.schema}; set search_path = ${fixture.schema}; ${ddl}`);
    return fixture;
  }

  get shard(): LocalStackEndpoints['shards'][number] {
    const shard = this.stack.shards[this.shardIndex];
    if (!shard) throw new Error(`no shard ${this.shardIndex} in the local stack`);
    return shard;
  }

  topic(table: string): string {
    return `${this.prefix}.${this.schema}.${table}`;
  }

  /** A reader process for this fixture's shard; `env` overrides or adds `CDC__…` settings. */
  reader(env: Record<string, string> = {}): { process: WorkerProcess; port: number } {
    const port = nextPort++;
    const shard = this.shard;
    const process = new WorkerProcess(
      'wal-reader',
      {
        CDC__SERVICE_NAME: `wal-reader-${this.schema}`,
        CDC__LOG__LEVEL: 'info',
        CDC__HTTP__PORT: String(port),
        CDC__KAFKA__BROKERS: this.stack.kafkaBrokers.join(','),
        CDC__REGISTRY__URL: this.stack.registryUrl,
        CDC__SHARD__ID: String(shard.id),
        CDC__SHARD__CONNECTION__HOST: shard.host,
        CDC__SHARD__CONNECTION__PORT: String(shard.port),
        CDC__SHARD__CONNECTION__DATABASE: shard.database,
        CDC__SHARD__CONNECTION__USER: shard.user,
        CDC__CAPTURE__SCHEMAS: `[${this.schema}]`,
        CDC__TOPICS__PREFIX: this.prefix,
        CDC__TOPICS__PARTITIONS: '3',
        CDC__HEARTBEAT__INTERVAL_MS: '1000',
        CDC__SLOT_MONITOR__INTERVAL_MS: '1000',
        CDC__SHUTDOWN__GRACE_MS: '10000',
        ...env,
      },
      `${this.schema}-reader-${port}`,
    );
    this.readers.push(process);
    return { process, port };
  }

  /** Every record of the given tables' topics, read_committed, once `until` holds (or after the timeout). */
  read(tables: string[], until: (records: ReadRecord[]) => boolean, timeoutMs = 60_000): Promise<ReadRecord[]> {
    return readTopics(
      this.kafka,
      this.codec,
      tables.map((table) => this.topic(table)),
      until,
      timeoutMs,
    );
  }

  async slotConfirmedFlush(): Promise<string | undefined> {
    const result = await this.db.query<{ lsn: string }>(
      'select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1',
      [this.slot],
    );
    return result.rows[0]?.lsn;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.readers.map((reader) => reader.kill()));
    await this.db
      .query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [this.slot])
      .catch(() => undefined);
    await this.db.query(`drop publication if exists ${this.slot}`).catch(() => undefined);
    await this.db.query(`drop schema if exists ${this.schema} cascade`).catch(() => undefined);
    await this.db.end();
    await this.codec.close();
  }
}

/** The change events (not tombstones) among `records`, as envelopes. */
export function envelopes(records: ReadRecord[]): Envelope[] {
  return records.filter((record) => record.value !== null).map((record) => record.value as Envelope);
}

/** Kafka orders a topic per partition only; the source position orders events across partitions. */
export function inSourceOrder(events: Envelope[]): Envelope[] {
  const compare = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
  return [...events].sort((a, b) => compare(a.source.lsn, b.source.lsn) || compare(a.source.seq, b.source.seq));
}

export interface Envelope {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  op: string;
  source: { shard: number; lsn: bigint; seq: bigint; txId: bigint; snapshot: boolean; table: string; commitTs: bigint };
  unchangedToast: string[];
}
