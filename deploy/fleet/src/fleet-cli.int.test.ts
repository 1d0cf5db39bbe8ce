import { AvroCodec, cacheKeys, createKafka, createLogger, createRegistryClient, ensureTopics } from '@inventory-cdc/shared';
import { FleetFixture, buildWorkspace, readTopics, seedStock, stockTruth, type WorkerProcess } from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { readRanges } from './topic-range-reader';

const cliPath = resolve(__dirname, '../dist/fleet-cli.js');

interface CliRun {
  code: number | null;
  json: Record<string, unknown>;
}

function runCli(configFile: string, args: string[]): Promise<CliRun> {
  return new Promise((resolveRun) => {
    execFile(process.execPath, [cliPath, ...args, '--json', '--config', configFile], { timeout: 60_000 }, (error, stdout) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolveRun({ code, json: JSON.parse(stdout) as Record<string, unknown> });
    });
  });
}

describe('fleet CLI', () => {
  let fixture: FleetFixture;
  let kafka: Kafka;
  let configFile: string;
  let reader: { process: WorkerProcess; port: number };
  let redis: Redis;
  const dlqTopic = () => `${fixture.prefix}.dlq.redis-cache`;
  const replayTarget = () => `${fixture.prefix}.replay-target`;

  function startReader(): { process: WorkerProcess; port: number } {
    const shard = fixture.shards[0]!;
    const started = fixture.worker('wal-reader', {
      CDC__SHARD__ID: String(shard.id),
      CDC__SHARD__CONNECTION__HOST: shard.host,
      CDC__SHARD__CONNECTION__PORT: String(shard.port),
      CDC__SHARD__CONNECTION__DATABASE: shard.database,
      CDC__SHARD__CONNECTION__USER: shard.user,
      CDC__CAPTURE__SCHEMAS: `[${fixture.schema}]`,
      CDC__TOPICS__PREFIX: fixture.prefix,
      CDC__TOPICS__PARTITIONS: '2',
    });
    started.process.start();
    return started;
  }

  beforeAll(async () => {
    buildWorkspace();
    fixture = await FleetFixture.create('fleet_cli', 1);
    reader = startReader();
    await reader.process.waitReady(reader.port);
    await seedStock(fixture.clients, fixture.schema, 5, 10);
    const shard = fixture.shards[0]!;
    const redisUrl = `${fixture.stack.redisUrl}/${1 + ((process.pid + 11) % 15)}`;
    redis = new Redis(redisUrl);
    configFile = join(mkdtempSync(join(tmpdir(), 'fleet-cli-')), 'fleet.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        kafka: { brokers: fixture.stack.kafkaBrokers },
        registry: { url: fixture.stack.registryUrl },
        topics: { prefix: fixture.prefix, stockSchema: fixture.schema },
        shards: [{ id: shard.id, connection: { host: shard.host, port: shard.port, database: shard.database, user: shard.user } }],
        sinks: [{ name: 'redis-cache' }],
        workers: [{ name: `wal-reader-${shard.id}`, url: `http://127.0.0.1:${reader.port}` }],
        reconcile: { redisUrl, graceMs: 0 },
      }),
    );
    kafka = createKafka(
      { brokers: fixture.stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'fleet-cli-test',
      createLogger({ service: 'fleet-cli-test', level: 'silent' }),
    );
  });

  afterAll(async () => {
    await redis?.flushdb();
    redis?.disconnect();
    await fixture.cleanup();
  });

  it('reconcile exits 1 naming a Redis row that differs from Postgres and by how much, and 0 once it is equal', async () => {
    // Given a read model equal to Postgres but for one row changed behind the fleet's back.
    await redis.flushdb();
    const truth = await stockTruth(fixture.clients, fixture.schema);
    for (const row of truth.values())
      await redis.hset(cacheKeys.stock(row.sku), `oh:${row.warehouse}`, row.onHand, `rs:${row.warehouse}`, row.reserved);
    const [flipped] = [...truth.values()];
    await redis.hset(cacheKeys.stock(flipped!.sku), `oh:${flipped!.warehouse}`, flipped!.onHand + 7);

    const drifted = await runCli(configFile, ['reconcile', '--sink', 'redis-cache']);
    expect(drifted.code).toBe(1);
    expect(drifted.json).toMatchObject({ rows: truth.size, systems: ['Redis'] });
    expect(drifted.json.differences).toEqual([
      {
        key: `${flipped!.sku}|${flipped!.warehouse}`,
        system: 'Redis',
        expected: { onHand: flipped!.onHand, reserved: flipped!.reserved },
        got: { onHand: flipped!.onHand + 7, reserved: flipped!.reserved },
      },
    ]);

    await redis.hset(cacheKeys.stock(flipped!.sku), `oh:${flipped!.warehouse}`, flipped!.onHand);
    const equal = await runCli(configFile, ['reconcile']);
    expect(equal.code).toBe(0);
    expect(equal.json.differences).toEqual([]);
  });

  it('status shows the streaming slot, its leading reader and the sink group lag, and exits 0 when healthy', async () => {
    const { code, json } = await runCli(configFile, ['status']);

    expect(json.problems).toEqual([]);
    expect(code).toBe(0);
    const [shard] = json.shards as {
      slot: string;
      slotFacts: { exists: boolean; active: boolean; walStatus: string };
      readers: { leader: boolean; ready: boolean }[];
    }[];
    expect(shard!.slot).toBe(`cdc_${fixture.prefix}_shard0`);
    expect(shard!.slotFacts).toMatchObject({ exists: true, active: true, walStatus: 'reserved' });
    expect(shard!.readers).toEqual([expect.objectContaining({ leader: true, ready: true })]);
    const [sink] = json.sinks as { groupId: string; partitions: { topic: string; committed: string | null }[] }[];
    expect(sink!.groupId).toBe(`${fixture.prefix}.redis-cache`);
    expect(sink!.partitions.map((partition) => partition.topic)).toEqual([
      `${fixture.prefix}.${fixture.schema}.stock`,
      `${fixture.prefix}.${fixture.schema}.stock`,
    ]);
  });

  it('slots drop refuses an active slot with exit code 1 and leaves it streaming', async () => {
    const refused = await runCli(configFile, ['slots', 'drop', '--shard', '0']);

    expect(refused.code).toBe(1);
    expect((refused.json.error as { message: string }).message).toMatch(/is active/);
    const after = await runCli(configFile, ['status']);
    expect((after.json.shards as { slotFacts: { active: boolean } }[])[0]!.slotFacts.active).toBe(true);
  });

  it('dlq list shows planted dead letters, and replay re-publishes each one exactly once to its original topic', async () => {
    await ensureTopics(kafka, [
      { topic: dlqTopic(), numPartitions: 1 },
      { topic: replayTarget(), numPartitions: 1 },
    ]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: dlqTopic(),
      messages: ['first', 'second'].map((name, index) => ({
        key: Buffer.from(`key-${name}`),
        value: Buffer.from(`value-${name}`),
        headers: {
          'dlq.reason': 'rejected',
          'dlq.detail': `WMS answered 400 for ${name}`,
          'dlq.source.topic': replayTarget(),
          'dlq.source.partition': '0',
          'dlq.source.offset': String(40 + index),
          'dlq.sink': 'redis-cache',
          'dlq.at': new Date().toISOString(),
        },
      })),
    });
    await producer.disconnect();

    const listed = await runCli(configFile, ['dlq', 'list', '--sink', 'redis-cache']);
    expect(listed.code).toBe(0);
    const [list] = listed.json as unknown as {
      entries: { offset: string; reason: string; source: unknown; key: string; replayed: boolean }[];
    }[];
    expect(list!.entries).toEqual([
      expect.objectContaining({
        offset: '0',
        reason: 'rejected',
        source: { topic: replayTarget(), partition: 0, offset: '40' },
        replayed: false,
      }),
      expect.objectContaining({
        offset: '1',
        reason: 'rejected',
        source: { topic: replayTarget(), partition: 0, offset: '41' },
        replayed: false,
      }),
    ]);
    expect(list!.entries[0]!.key).toBe(Buffer.from('key-first').toString('hex'));

    const one = await runCli(configFile, ['dlq', 'replay', '--sink', 'redis-cache', '--offset', '1']);
    const again = await runCli(configFile, ['dlq', 'replay', '--sink', 'redis-cache', '--offset', '1']);
    const all = await runCli(configFile, ['dlq', 'replay', '--sink', 'redis-cache', '--all']);
    const allAgain = await runCli(configFile, ['dlq', 'replay', '--sink', 'redis-cache', '--all']);

    expect([one.code, again.code, all.code, allAgain.code]).toEqual([0, 0, 0, 0]);
    expect(one.json.replayed).toEqual([{ partition: 0, offset: '1', topic: replayTarget() }]);
    expect(again.json).toMatchObject({ replayed: [], alreadyReplayed: [{ partition: 0, offset: '1' }] });
    expect(all.json.replayed).toEqual([{ partition: 0, offset: '0', topic: replayTarget() }]);
    expect(allAgain.json.replayed).toEqual([]);
    const republished = await readRanges(kafka, replayTarget(), [{ partition: 0, from: 0n, to: 10n }], 15_000);
    expect(republished.map((record) => [record.key?.toString(), record.value?.toString(), Object.keys(record.headers)])).toEqual([
      ['key-second', 'value-second', ['fleet.replayed-from']],
      ['key-first', 'value-first', ['fleet.replayed-from']],
    ]);
    const relisted = await runCli(configFile, ['dlq', 'list', '--sink', 'redis-cache']);
    expect((relisted.json as unknown as { entries: { replayed: boolean }[] }[])[0]!.entries.map((entry) => entry.replayed)).toEqual([
      true,
      true,
    ]);
  });

  it('snapshot signals each shard in its WAL for a captured table, and refuses a table the readers do not capture', async () => {
    const signalled = await runCli(configFile, ['snapshot', `${fixture.schema}.stock`]);
    const refused = await runCli(configFile, ['snapshot', 'public.nothing_here']);

    expect(signalled.code).toBe(0);
    expect(signalled.json).toMatchObject({
      table: `${fixture.schema}.stock`,
      shards: [{ shard: 0, lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) }],
    });
    expect(refused.code).toBe(1);
    expect((refused.json.error as { message: string }).message).toMatch(/not captured on shard 0/);
    const status = await runCli(configFile, ['status']);
    expect(status.code).toBe(0);
  });

  it('slots reset --force drops the streaming slot and the reader progress, so the next reader snapshots the shard (its rows were streamed, never snapshotted, before)', async () => {
    const stockRows = Number(
      (await fixture.clients[0]!.query<{ count: string }>(`select count(*) from ${fixture.schema}.stock`)).rows[0]!.count,
    );

    const reset = await runCli(configFile, ['slots', 'reset', '--shard', '0', '--force']);

    expect(reset.code).toBe(0);
    expect(reset.json).toMatchObject({ dropped: true, progressReset: true });
    expect((reset.json.terminatedPids as number[]).length).toBeGreaterThan(0);
    await reader.process.kill();
    reader = startReader();
    await reader.process.waitReady(reader.port);
    const codec = new AvroCodec(createRegistryClient({ url: fixture.stack.registryUrl, compatibility: 'BACKWARD' }));
    const snapshotReads = (records: { value: unknown }[]) =>
      records.filter((record) => (record.value as { op?: string } | null)?.op === 'r').length;
    const records = await readTopics(
      kafka,
      codec,
      [`${fixture.prefix}.${fixture.schema}.stock`],
      (seen) => snapshotReads(seen) >= stockRows,
      30_000,
    );
    await codec.close();
    expect(snapshotReads(records)).toBeGreaterThanOrEqual(stockRows);
  });

  it('status names a slot re-created behind the reader’s back, which the reader refuses (slot_lost), and reset is the way out', async () => {
    expect(await reader.process.terminate()).toBe(0);
    const slot = `cdc_${fixture.prefix}_shard0`;
    await fixture.clients[0]!.query('select pg_drop_replication_slot($1)', [slot]);
    await fixture.clients[0]!.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    reader = startReader();
    expect(await reader.process.exitCode()).toBe(1);

    const status = await runCli(configFile, ['status']);

    expect(status.code).toBe(1);
    expect(status.json.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `^shard 0: replication slot ${slot} confirms .* it is not the slot the progress was made on .*fleet slots reset --shard 0$`,
          ),
        ),
      ]),
    );
    expect((await runCli(configFile, ['slots', 'reset', '--shard', '0'])).code).toBe(0);
    reader = startReader();
    await reader.process.waitReady(reader.port);
  });
});
