import { AvroCodec, createKafka, createRegistryClient, snapshotRequestTable } from '@inventory-cdc/shared';
import { WorkerProcess, readTopics, testStackEndpoints, uniqueName } from '@inventory-cdc/shared/testing';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { dropReaderRole, ensureReaderRole } from './reader-role';

const stack = testStackEndpoints();
const shard = stack.shards[0]!;
let nextPort = 22000 + (process.pid % 40) * 10;

describe('the wal-reader as a least-privilege role (LOGIN REPLICATION, SELECT on captured tables)', () => {
  const schema = uniqueName('reader_role');
  const role = uniqueName('cdc_reader');
  const slot = `cdc_${schema}_shard${shard.id}`;
  const password = randomBytes(18).toString('base64url');
  const passwordFile = join(mkdtempSync(join(tmpdir(), 'reader-role-')), 'pg-password');
  const admin = new Client({ connectionString: shard.url });
  const kafka = createKafka(
    { brokers: stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
    'role-test',
    pino({ level: 'silent' }),
  );
  const codec = new AvroCodec(createRegistryClient({ url: stack.registryUrl, compatibility: 'BACKWARD' }));
  let reader: WorkerProcess | undefined;

  const asRole = async <T>(secret: string, action: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ host: shard.host, port: shard.port, database: shard.database, user: role, password: secret });
    await client.connect();
    try {
      return await action(client);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    writeFileSync(passwordFile, `${password}\n`);
    await admin.connect();
    await admin.query(`create schema ${schema};
      create table ${schema}.stock (sku text primary key, on_hand int not null);
      create table ${schema}.supplier_prices (sku text primary key, cost numeric not null);
      insert into ${schema}.stock values ('SKU-1', 10);
      insert into ${schema}.supplier_prices values ('SKU-1', 4.20);`);
    await ensureReaderRole(admin, { role, password, tables: [`${schema}.stock`], publication: slot });
  });

  afterAll(async () => {
    await reader?.kill();
    await admin
      .query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [slot])
      .catch(() => undefined);
    await admin.query(`drop publication if exists ${slot}`);
    await admin.query(`drop schema if exists ${schema} cascade`);
    await dropReaderRole(admin, role);
    await admin.end();
    await codec.close();
  });

  it('may read the ad-hoc snapshot requests but not record one: only the admin asks for snapshots', async () => {
    await admin.query(`insert into ${snapshotRequestTable} (id, table_name) values ($1, $2)`, [`${schema}-request`, `${schema}.stock`]);

    const seen = await asRole(password, (client) =>
      client.query(`select table_name from ${snapshotRequestTable} where id = $1`, [`${schema}-request`]),
    );
    expect(seen.rows).toEqual([{ table_name: `${schema}.stock` }]);
    await expect(
      asRole(password, (client) => client.query(`insert into ${snapshotRequestTable} (id, table_name) values ('forged', 'a.b')`)),
    ).rejects.toThrow(/permission denied/);
  });

  it('streams the captured table end to end, logging in with its password from a _FILE variable', async () => {
    const port = nextPort++;
    reader = new WorkerProcess(
      'wal-reader',
      {
        CDC__SERVICE_NAME: `wal-reader-${schema}`,
        CDC__HTTP__PORT: String(port),
        CDC__KAFKA__BROKERS: stack.kafkaBrokers.join(','),
        CDC__REGISTRY__URL: stack.registryUrl,
        CDC__SHARD__ID: String(shard.id),
        CDC__SHARD__CONNECTION__HOST: shard.host,
        CDC__SHARD__CONNECTION__PORT: String(shard.port),
        CDC__SHARD__CONNECTION__DATABASE: shard.database,
        CDC__SHARD__CONNECTION__USER: role,
        CDC__SHARD__CONNECTION__PASSWORD_FILE: passwordFile,
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
    const ops = records.map((record) => (record.value as { op: string; after: { on_hand: number } }).op);
    expect(ops).toEqual(['r', 'u']);
    expect((records[1]!.value as { after: { on_hand: number } }).after.on_hand).toBe(9);
  });

  it('cannot read a table that is not captured', async () => {
    await expect(asRole(password, (client) => client.query(`select * from ${schema}.supplier_prices`))).rejects.toThrow(
      /permission denied for table supplier_prices/,
    );
  });

  it('cannot write the captured table, nor create anything in its schema', async () => {
    await asRole(password, async (client) => {
      await expect(client.query(`update ${schema}.stock set on_hand = 0`)).rejects.toThrow(/permission denied for table stock/);
      await expect(client.query(`create table ${schema}.extra (id int)`)).rejects.toThrow(/permission denied for schema/);
    });
  });

  it('is refused with a wrong password (pg_hba asks every role but postgres for its SCRAM password)', async () => {
    await expect(asRole('not-the-password', (client) => client.query('select 1'))).rejects.toThrow(/password authentication failed/);
  });

  it('loses SELECT on a table that is no longer captured when the role is ensured again', async () => {
    await ensureReaderRole(admin, { role, password, tables: [`${schema}.supplier_prices`], publication: `${slot}_b` });
    await ensureReaderRole(admin, { role, password, tables: [`${schema}.stock`], publication: `${slot}_b` });
    await expect(asRole(password, (client) => client.query(`select * from ${schema}.supplier_prices`))).rejects.toThrow(
      /permission denied/,
    );
    const listed = await admin.query<{ tablename: string }>('select tablename from pg_publication_tables where pubname = $1', [
      `${slot}_b`,
    ]);
    expect(listed.rows.map((row) => row.tablename)).toEqual(['stock']);
    await admin.query(`drop publication ${slot}_b`);
  });
});

describe('ensureReaderRole with hostile names in the catalogue', () => {
  const schema = uniqueName('hostile');
  const role = uniqueName('cdc_reader');
  const owner = uniqueName('app');
  const password = randomBytes(18).toString('base64url');
  // Closes the quoted table name, ends the REVOKE and makes the table's owner superuser, if spliced in.
  const hostile = `x" from public;alter role ${owner} superuser;--`;
  const admin = new Client({ connectionString: shard.url });

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`create schema ${schema}; create table ${schema}.stock (sku text primary key, on_hand int not null)`);
    await ensureReaderRole(admin, { role, password, tables: [`${schema}.stock`], publication: `${schema}_pub` });
    // An ordinary role with CREATE on a schema: it may name its tables as it likes and grant SELECT on them.
    await admin.query(
      `create role ${owner} login nosuperuser password 'app-owner-password'; grant usage, create on schema ${schema} to ${owner}`,
    );
  });

  afterAll(async () => {
    await admin.query(`drop publication if exists ${schema}_pub`);
    await admin.query(`drop schema if exists ${schema} cascade`);
    await dropReaderRole(admin, role);
    await admin.query(`drop role if exists ${owner}`);
    await admin.end();
  });

  it('revokes a grant on a table named to inject SQL without running the injected statement', async () => {
    const app = new Client({ host: shard.host, port: shard.port, database: shard.database, user: owner, password: 'app-owner-password' });
    await app.connect();
    try {
      await app.query(`set search_path = ${schema}; create table x (id int); create table "${hostile.replace(/"/g, '""')}" (id int)`);
      await app.query(`grant select on "${hostile.replace(/"/g, '""')}" to ${role}`);
    } finally {
      await app.end();
    }

    await ensureReaderRole(admin, { role, password, tables: [`${schema}.stock`], publication: `${schema}_pub` });

    const attributes = await admin.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = $1', [owner]);
    expect(attributes.rows[0]?.rolsuper).toBe(false);
    const left = await admin.query<{ table_name: string }>(
      `select table_name from information_schema.role_table_grants where grantee = $1 and privilege_type = 'SELECT' order by table_name`,
      [role],
    );
    expect(left.rows.map((row) => row.table_name).sort()).toEqual(['snapshot_requests', 'stock']);
  });
});
