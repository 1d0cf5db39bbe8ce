import {
  AvroCodec,
  createKafka,
  createRegistryClient,
  ensureTopics,
  kafkaConfigSchema,
  pgClientConfig,
  postgresConnectionSchema,
} from '@inventory-cdc/shared';
import { WorkerProcess, readTopics, testStackEndpoints, uniqueName } from '@inventory-cdc/shared/testing';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { Client } from 'pg';
import pino from 'pino';
import { localKafkaTls } from '../local/stack-kafka';
import { localStackTls } from '../local/stack-tls';

const stack = testStackEndpoints();
const shard = stack.shards[0]!;
const tls = localStackTls();
const kafkaTls = localKafkaTls();
const logger = pino({ level: 'silent' });

/** A CA of its own, which signed nothing the stack presents. */
function strangerCa(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'stranger-ca-')), 'ca.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${file}.key`, '-out', file, '-days', '1', '-subj', '/CN=stranger'],
    {
      stdio: 'ignore',
    },
  );
  return file;
}

async function sessionOver(settings: Record<string, unknown>): Promise<{ ssl: boolean; version: string }> {
  const connection = postgresConnectionSchema.parse({ port: shard.port, database: shard.database, user: 'postgres', ...settings });
  const client = new Client(pgClientConfig(connection, 'tls-test'));
  await client.connect();
  try {
    return (await client.query<{ ssl: boolean; version: string }>('select ssl, version from pg_stat_ssl where pid = pg_backend_pid()'))
      .rows[0]!;
  } finally {
    await client.end();
  }
}

function kafkaOver(ssl: unknown): Kafka {
  return createKafka(
    kafkaConfigSchema.parse({ brokers: [kafkaTls.broker], ssl, connectionTimeoutMs: 3_000, requestTimeoutMs: 10_000 }),
    'tls-test',
    logger,
  );
}

describe('TLS on the local stack, verified against its CA', () => {
  it('Postgres: sslmode verify-full with the CA gets an encrypted session, by host name and by address', async () => {
    expect(await sessionOver({ host: 'localhost', sslmode: 'verify-full', sslRootCert: tls.caFile })).toEqual({
      ssl: true,
      version: 'TLSv1.3',
    });
    expect((await sessionOver({ host: '127.0.0.1', sslmode: 'verify-full', sslRootCert: tls.caFile })).ssl).toBe(true);
    expect((await sessionOver({ host: '127.0.0.1', sslmode: 'disable' })).ssl).toBe(false);
  });

  it('Postgres: verify-full refuses a server whose certificate another CA signed', async () => {
    await expect(sessionOver({ host: 'localhost', sslmode: 'verify-full', sslRootCert: strangerCa() })).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it('Kafka: a client with ssl.ca produces and consumes over the SSL listener; one without the CA is refused', async () => {
    const kafka = kafkaOver({ ca: tls.caFile });
    const topic = uniqueName('tls');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'over TLS' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: uniqueName('tls_group') });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const value = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing consumed from ${topic}`)), 30_000);
        void consumer.run({
          eachMessage: ({ message }) => {
            clearTimeout(timer);
            resolve(message.value?.toString() ?? '');
            return Promise.resolve();
          },
        });
      });
      expect(value).toBe('over TLS');
    } finally {
      await consumer.disconnect();
    }
    const untrusting = kafkaOver({ ca: strangerCa() }).admin();
    await expect(untrusting.connect()).rejects.toThrow();
    await untrusting.disconnect();
  });

  describe('a wal-reader on TLS at both ends', () => {
    const schema = uniqueName('tls_reader');
    const admin = new Client({ connectionString: shard.url });
    const kafka = kafkaOver({ ca: tls.caFile });
    const codec = new AvroCodec(createRegistryClient({ url: stack.registryUrl, compatibility: 'BACKWARD' }));
    const port = 23500 + (process.pid % 40) * 10;
    let reader: WorkerProcess | undefined;

    beforeAll(async () => {
      await admin.connect();
      await admin.query(`create schema ${schema}; create table ${schema}.stock (sku text primary key, on_hand int not null);
        insert into ${schema}.stock values ('SKU-1', 10)`);
    });

    afterAll(async () => {
      await reader?.kill();
      await admin
        .query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like $1 and not active', [
          `%${schema}%`,
        ])
        .catch(() => undefined);
      await admin
        .query(`select format('drop publication %I', pubname) from pg_publication where pubname like $1`, [`%${schema}%`])
        .then(async (found) => {
          for (const row of found.rows as { format: string }[]) await admin.query(row.format);
        });
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
      await codec.close();
    });

    it('streams a change from Postgres (verify-full) into Kafka (ssl with the CA), every session of it encrypted', async () => {
      reader = new WorkerProcess(
        'wal-reader',
        {
          CDC__SERVICE_NAME: `wal-reader-${schema}`,
          CDC__HTTP__PORT: String(port),
          CDC__KAFKA__BROKERS: kafkaTls.broker,
          CDC__KAFKA__SSL__CA_FILE: tls.caFile,
          CDC__REGISTRY__URL: stack.registryUrl,
          CDC__SHARD__ID: String(shard.id),
          CDC__SHARD__CONNECTION__HOST: 'localhost',
          CDC__SHARD__CONNECTION__PORT: String(shard.port),
          CDC__SHARD__CONNECTION__DATABASE: shard.database,
          CDC__SHARD__CONNECTION__USER: 'postgres',
          CDC__SHARD__CONNECTION__SSLMODE: 'verify-full',
          CDC__SHARD__CONNECTION__SSL_ROOT_CERT: tls.caFile,
          CDC__CAPTURE__TABLES: `[${schema}.stock]`,
          CDC__TOPICS__PREFIX: schema,
          CDC__TOPICS__PARTITIONS: '1',
          CDC__HEARTBEAT__INTERVAL_MS: '1000',
          CDC__SHUTDOWN__GRACE_MS: '5000',
        },
        `${schema}-reader-${port}`,
      );
      reader.start();
      await reader.waitReady(port);
      await admin.query(`update ${schema}.stock set on_hand = 9 where sku = 'SKU-1'`);

      const records = await readTopics(kafka, codec, [`${schema}.${schema}.stock`], (seen) => seen.length >= 2, 60_000);
      expect(records.map((record) => (record.value as { op: string }).op)).toEqual(['r', 'u']);
      const sessions = await admin.query<{ application_name: string; ssl: boolean }>(
        `select a.application_name, s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid) where a.application_name like $1`,
        [`wal-reader-${schema}%`],
      );
      expect(sessions.rows.length).toBeGreaterThan(0);
      expect(sessions.rows.filter((session) => !session.ssl)).toEqual([]);
    });
  });
});
