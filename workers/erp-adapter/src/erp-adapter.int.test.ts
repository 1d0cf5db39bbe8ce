import {
  FleetFixture,
  purchase,
  readTopics,
  restock,
  rowChainBreaks,
  scrapeMetric,
  seedStock,
  shardOf,
  skuName,
  stockTruth,
  uniqueName,
  waitFor,
  warehouses,
  type ReadRecord,
  type StockRow,
  type WorkerProcess,
} from '@inventory-cdc/shared/testing';
import { AvroCodec, createRegistryClient } from '@inventory-cdc/shared';
import { Kafka, logLevel } from 'kafkajs';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { startErpReceiver } from '../../../deploy/receivers/erp-receiver';
import type { RunningReceiver } from '../../../deploy/receivers/receiver-server';

const skus = 60;
const kills = 20;
const token = 'erp-test-token';
const hmacSecret = 'erp-test-hmac-secret';

interface Erp {
  receiver: RunningReceiver;
  database: string;
  /** Asks the receiver's admin API; JSON in, JSON out. */
  admin(method: string, path: string, body?: unknown): Promise<unknown>;
}

interface ErpStockRow {
  sku: string;
  warehouse: string;
  deltaOnHand: number;
  deltaReserved: number;
}

/** Every (sku, warehouse) where the ERP's booked sums differ from Postgres's stock, `except` left out. */
async function differences(erp: Erp, truth: Map<string, StockRow>, except: string[] = []): Promise<string[]> {
  const booked = new Map(((await erp.admin('GET', 'stock')) as ErpStockRow[]).map((row) => [`${row.sku}|${row.warehouse}`, row]));
  const problems: string[] = [];
  for (const [key, row] of truth) {
    if (except.includes(row.sku)) continue;
    const erpRow = booked.get(key);
    const got = `${erpRow?.deltaOnHand ?? 0}/${erpRow?.deltaReserved ?? 0}`;
    if (got !== `${row.onHand}/${row.reserved}`) problems.push(`${key}: erp ${got}, postgres ${row.onHand}/${row.reserved}`);
  }
  for (const key of booked.keys()) if (!truth.has(key)) problems.push(`${key}: booked but not in postgres`);
  return problems;
}

describe('erp-adapter (real wal-readers upstream, 2 shards, reference ERP)', () => {
  let fleet: FleetFixture;
  let serverUrl: string;
  const erps: Erp[] = [];

  beforeAll(async () => {
    fleet = await FleetFixture.create('erp');
    await seedStock(fleet.clients, fleet.schema, skus, 1_000);
    // Line deltas need whole before images; this must hold before the readers start streaming.
    await Promise.all(fleet.clients.map((client) => client.query(`alter table ${fleet.schema}.stock replica identity full`)));
    await fleet.startReaders();
    serverUrl = fleet.stack.shards[0]!.url;
  });

  afterAll(async () => {
    await fleet.cleanup();
    const client = new Client({ connectionString: serverUrl });
    await client.connect();
    for (const erp of erps) {
      await erp.receiver.close();
      await client.query(`drop database if exists ${erp.database} with (force)`);
    }
    await client.end();
  });

  /** A reference ERP with its own database on shard 0's server. */
  async function startErp(): Promise<Erp> {
    const database = uniqueName('erp');
    const client = new Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(`create database ${database}`);
    await client.end();
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    const receiver = await startErpReceiver({ port: 0, databaseUrl: url.toString(), token, hmacSecret });
    const admin = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const response = await fetch(`http://127.0.0.1:${receiver.port}/admin/${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (!response.ok) throw new Error(`${method} /admin/${path}: ${response.status} ${await response.text()}`);
      return response.json();
    };
    const erp = { receiver, database, admin };
    erps.push(erp);
    return erp;
  }

  /** Settings of an adapter feeding `erp`, each test in its own group (so each replays the topic from the start). */
  function adapterEnv(erp: Erp, group: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      CDC__TOPICS__PREFIX: fleet.prefix,
      CDC__TOPICS__STOCK_SCHEMA: fleet.schema,
      CDC__CONSUMER__GROUP_ID: group,
      CDC__CONSUMER__SESSION_TIMEOUT_MS: '6000',
      CDC__CONSUMER__HEARTBEAT_INTERVAL_MS: '1000',
      CDC__ERP__BASE_URL: `http://127.0.0.1:${erp.receiver.port}`,
      CDC__ERP__TOKEN: token,
      CDC__ERP__HMAC_SECRET: hmacSecret,
      CDC__ERP__REQUEST_TIMEOUT_MS: '2000',
      CDC__ERP__WINDOW__MAX_EVENTS: '40',
      CDC__ERP__WINDOW__MAX_AGE_MS: '300',
      CDC__ERP__CIRCUIT__OPEN_MS: '1000',
      ...extra,
    };
  }

  function startAdapter(env: Record<string, string>): { process: WorkerProcess; port: number } {
    const adapter = fleet.worker('erp-adapter', env);
    adapter.process.start();
    return adapter;
  }

  /** Random purchases and restocks on every shard until `signal` aborts; resolves with the counts of changed rows. */
  async function startWorkload(signal: AbortSignal): Promise<Promise<number>[]> {
    const writers = await Promise.all(
      [0, 1, 2, 3].map(async (index) => {
        const client = new Client({ connectionString: fleet.shards[index % fleet.shards.length]!.url });
        await client.connect();
        return client;
      }),
    );
    return writers.map(async (client, index) => {
      let changes = 0;
      while (!signal.aborted) {
        const sku = skuName(Math.floor(Math.random() * skus));
        if (shardOf(sku, fleet.shards.length) !== index % fleet.shards.length) continue;
        const warehouse = warehouses[Math.floor(Math.random() * warehouses.length)]!;
        if (Math.random() >= 0.8) await restock(client, fleet.schema, sku, warehouse, 5);
        else if (!(await purchase(client, fleet.schema, sku, warehouse, 1 + Math.floor(Math.random() * 3)))) continue;
        changes++;
        await sleep(20);
      }
      await client.end();
      return changes;
    });
  }

  async function convergence(erp: Erp, except: string[] = [], timeoutMs = 60_000): Promise<string[]> {
    const truth = await stockTruth(fleet.clients, fleet.schema);
    return waitFor(
      'the ERP to equal Postgres',
      async () => {
        const problems = await differences(erp, truth, except);
        return problems.length === 0 ? problems : undefined;
      },
      timeoutMs,
      250,
    ).catch(async () => differences(erp, truth, except));
  }

  it(`the ERP's postings add up to Postgres's stock after ${kills} kill -9s mid-stream, a rebalance and dropped answers`, async () => {
    const erp = await startErp();
    // A tenth of the answers are lost after booking: the adapter must retry into a duplicate, not a second booking.
    await erp.admin('PUT', 'faults', { dropAfterProcessingRate: 0.1 });
    const group = uniqueName('erp_kills');
    // Besides the random kills, some runs die exactly between marker and POST, or between POST and commit.
    const crashing = adapterEnv(erp, group, {
      CDC__FAULT_INJECTION__CRASH_POINTS: '{erp-after-window-marked: 0.01, erp-after-posting: 0.01}',
    });
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    const logs: string[] = [];
    let killed = 0;
    // Two members per round (a rebalance each time the second joins), both killed at one random instant once
    // they have joined: every dead member costs the group a session timeout, so two kills share one.
    while (killed < kills) {
      const members = [startAdapter(crashing), startAdapter(crashing)];
      logs.push(...members.map((member) => member.process.logFile));
      // A crash point may end a run before it is ready or before the kill; that is one more crash.
      await Promise.all(members.map((member) => member.process.waitReady(member.port).catch(() => undefined)));
      await sleep(Math.random() * 2_000);
      for (const member of members) if (member.process.isRunning()) killed++;
      await Promise.all(members.map((member) => member.process.kill()));
    }

    // A rebalance: a second member joins, then dies; the first takes its partitions and their marked windows.
    const first = startAdapter(adapterEnv(erp, group));
    const second = startAdapter(crashing);
    logs.push(first.process.logFile, second.process.logFile);
    await Promise.all([first.process.waitReady(first.port), second.process.waitReady(second.port).catch(() => undefined)]);
    await sleep(1_500);
    await second.process.kill();
    await sleep(1_000);
    stop.abort();
    const changes = (await Promise.all(workload)).reduce((sum, count) => sum + count, 0);

    const remaining = await convergence(erp);
    // What every sink reads: the snapshot and each change once, every row's events chaining (a change
    // lost or doubled upstream would show here before it shows as a wrong ERP sum).
    const codec = new AvroCodec(createRegistryClient({ url: fleet.stack.registryUrl, compatibility: 'BACKWARD' }));
    const kafka = new Kafka({ brokers: fleet.stack.kafkaBrokers, logLevel: logLevel.NOTHING });
    const stockTopic = `${fleet.prefix}.${fleet.schema}.stock`;
    const events = skus * warehouses.length + changes;
    const records = await readTopics(kafka, codec, [stockTopic], (seen) => seen.length >= events, 60_000);
    const breaks = rowChainBreaks(records);
    // Were the missing changes' records written and filtered out, or never written? The broken rows' records
    // as read_uncommitted sees them (aborted ones included) go into the failure message.
    const uncommitted =
      breaks.length === 0
        ? []
        : (await readTopics(kafka, codec, [stockTopic], () => false, 20_000, true))
            .filter((record) => breaks.some((entry) => entry.includes(JSON.stringify(record.key))))
            .map(
              (record) =>
                `${record.partition}/${record.offset} ${JSON.stringify(record.value, (_, value: unknown) => (typeof value === 'bigint' ? String(value) : value))}`,
            );
    await codec.close();
    const state = (await erp.admin('GET', 'state')) as { applied: number; duplicates: number; rejected: number };
    const replays = logs
      .map((file) => readFileSync(file, 'utf8').split('replaying a marked window').length - 1)
      .reduce((sum, count) => sum + count, 0);

    expect(changes).toBeGreaterThan(200);
    expect({
      breaks,
      uncommitted,
    }).toEqual({
      breaks: [],
      uncommitted: [],
    });
    expect(records).toHaveLength(events);
    // Nothing here is poison: a letter would be a change the ERP never booked.
    const letters = await readDeadLetters(`${fleet.prefix}.dlq.erp-adapter`);
    expect(letters.map(({ reason, detail }) => `${reason}: ${detail}`)).toEqual([]);
    expect(remaining).toEqual([]);
    expect(state.duplicates).toBeGreaterThan(0);
    expect(state.rejected).toBe(0);
    expect(replays).toBeGreaterThan(0);
    expect(await first.process.terminate()).toBe(0);
  }, 240_000);

  it('retries through 500s and 429s (circuit open meanwhile), then books everything once', async () => {
    const erp = await startErp();
    await erp.admin('PUT', 'faults', { errorRate: 1 });
    const adapter = startAdapter(adapterEnv(erp, uniqueName('erp_faults'), { CDC__ERP__WINDOW__MAX_EVENTS: '200' }));
    await adapter.process.waitReady(adapter.port);
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    await waitFor(
      'retries',
      async () => ((await scrapeMetric(adapter.port, 'cdc_sink_retries_total', { sink: 'erp-adapter' })) ?? 0) > 3,
      20_000,
      200,
    );
    await erp.admin('PUT', 'faults', { rateLimitRate: 1, retryAfterSeconds: 1 });
    await sleep(2_500);
    await erp.admin('DELETE', 'faults');
    stop.abort();
    await Promise.all(workload);

    const remaining = await convergence(erp);
    expect(remaining).toEqual([]);
    expect(await scrapeMetric(adapter.port, 'cdc_sink_retries_total', { sink: 'erp-adapter' })).toBeGreaterThan(3);
    expect(
      await scrapeMetric(adapter.port, 'cdc_sink_dead_lettered_total', { sink: 'erp-adapter', reason: 'retries-exhausted' }),
    ).toBeUndefined();
    expect(await scrapeMetric(adapter.port, 'cdc_sink_circuit_state', { sink: 'erp-adapter' })).toBe(0);
    expect(await adapter.process.terminate()).toBe(0);
  }, 120_000);

  it('dead-letters the window of a SKU the ERP refuses (400) as rejected, and later windows keep flowing', async () => {
    const erp = await startErp();
    const adapter = startAdapter(adapterEnv(erp, uniqueName('erp_reject'), { CDC__ERP__WINDOW__MAX_EVENTS: '200' }));
    await adapter.process.waitReady(adapter.port);
    expect(await convergence(erp)).toEqual([]);

    const bad = skuName(7);
    const badShard = fleet.clients[shardOf(bad, fleet.clients.length)]!;
    await erp.admin('PUT', 'faults', { rejectSkus: [bad] });
    await restock(badShard, fleet.schema, bad, 'WH-A', 11);
    const letters = await waitFor(
      'the refused window on the dead-letter topic',
      async () => {
        const found = await readDeadLetters(`${fleet.prefix}.dlq.erp-adapter`);
        return found.some((letter) => letter.reason === 'rejected') ? found.filter((letter) => letter.reason === 'rejected') : undefined;
      },
      30_000,
      500,
    );

    const later = [skuName(8), skuName(9), skuName(10)];
    for (const sku of later) await restock(fleet.clients[shardOf(sku, fleet.clients.length)]!, fleet.schema, sku, 'WH-B', 3);
    expect(await convergence(erp, [bad])).toEqual([]);

    const codec = new AvroCodec(createRegistryClient({ url: fleet.stack.registryUrl, compatibility: 'BACKWARD' }));
    const envelopes = await Promise.all(
      letters.map(async (letter) => (await codec.deserialize(letter.sourceTopic, 'value', letter.value!)) as { after: { sku: string } }),
    );
    await codec.close();
    expect(envelopes.map((envelope) => envelope.after.sku)).toEqual([bad]);
    expect(letters[0]!.detail).toMatch(/400/);
    const truth = await stockTruth(fleet.clients, fleet.schema);
    const booked = ((await erp.admin('GET', 'stock')) as ErpStockRow[]).find((row) => row.sku === bad && row.warehouse === 'WH-A');
    expect(booked?.deltaOnHand).toBe(truth.get(`${bad}|WH-A`)!.onHand - 11);
    expect(await adapter.process.terminate()).toBe(0);
  }, 120_000);

  it('a refused line costs only its own records: the window is sent line by line; idle, the committed offsets reach the log end', async () => {
    const erp = await startErp();
    const group = uniqueName('erp_split');
    const adapter = startAdapter(adapterEnv(erp, group, { CDC__ERP__WINDOW__MAX_EVENTS: '500', CDC__ERP__WINDOW__MAX_AGE_MS: '1000' }));
    await adapter.process.waitReady(adapter.port);
    expect(await convergence(erp)).toEqual([]);

    // One transaction changes the refused SKU and every other SKU of its shard: many share its windows.
    const bad = skuName(11);
    const shard = shardOf(bad, fleet.clients.length);
    await erp.admin('PUT', 'faults', { rejectSkus: [bad] });
    // Earlier tests of this fleet dead-lettered too: only the letters from here on count.
    const earlier = (await readDeadLetters(`${fleet.prefix}.dlq.erp-adapter`)).length;
    const client = fleet.clients[shard]!;
    await client.query(`update ${fleet.schema}.stock set on_hand = on_hand + 1 where warehouse = 'WH-C'`);
    const others = (await stockTruth(fleet.clients, fleet.schema)).size;

    expect(await convergence(erp, [bad])).toEqual([]);
    const letters = await waitFor(
      'the refused line on the dead-letter topic',
      async () => {
        const found = (await readDeadLetters(`${fleet.prefix}.dlq.erp-adapter`))
          .slice(earlier)
          .filter((letter) => letter.reason === 'rejected');
        return found.length > 0 ? found : undefined;
      },
      30_000,
      500,
    );
    const codec = new AvroCodec(createRegistryClient({ url: fleet.stack.registryUrl, compatibility: 'BACKWARD' }));
    const envelopes = await Promise.all(
      letters.map(async (letter) => (await codec.deserialize(letter.sourceTopic, 'value', letter.value!)) as { after: { sku: string } }),
    );
    await codec.close();
    expect(others).toBeGreaterThan(10);
    expect(new Set(envelopes.map((envelope) => envelope.after.sku))).toEqual(new Set([bad]));

    // Idle now: every partition's committed offset is its end, commit markers included.
    const kafka = new Kafka({ brokers: fleet.stack.kafkaBrokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topic = `${fleet.prefix}.${fleet.schema}.stock`;
    const behind = async (): Promise<string[]> => {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return ends.flatMap(({ partition, high }) => {
        const offset = committed?.partitions.find((entry) => entry.partition === partition)?.offset ?? '-1';
        return offset === high ? [] : [`partition ${partition}: committed ${offset}, end ${high}`];
      });
    };
    const lagging = await waitFor('lag 0', async () => ((await behind()).length === 0 ? [] : undefined), 30_000, 250).catch(behind);
    await admin.disconnect();
    expect(lagging).toEqual([]);
    expect(await adapter.process.terminate()).toBe(0);
  }, 180_000);

  /** Every record on the dead-letter topic so far, with its headers. */
  async function readDeadLetters(topic: string): Promise<{ reason: string; detail: string; sourceTopic: string; value: Buffer | null }[]> {
    const kafka = new Kafka({ brokers: fleet.stack.kafkaBrokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const end = (await admin.fetchTopicOffsets(topic)).reduce((sum, partition) => sum + Number(partition.high), 0);
    await admin.disconnect();
    const letters: { reason: string; detail: string; sourceTopic: string; value: Buffer | null }[] = [];
    if (end === 0) return letters;
    const consumer = kafka.consumer({ groupId: uniqueName('dlq_reader') });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let seen = 0;
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: ({ message }) => {
          const header = (name: string): string => String(message.headers?.[name] ?? '');
          letters.push({
            reason: header('dlq.reason'),
            detail: header('dlq.detail'),
            sourceTopic: header('dlq.source.topic'),
            value: message.value,
          });
          if (++seen >= end) resolve();
          return Promise.resolve();
        },
      });
    });
    const timeout = new AbortController();
    await Promise.race([done, sleep(15_000, undefined, { signal: timeout.signal }).catch(() => undefined)]);
    timeout.abort();
    await consumer.disconnect();
    return letters;
  }

  /** The operators' CLI, as they run it (`fleet <args> --json`), against this fleet with the given sink group. */
  function runFleet(group: string, args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
    const configFile = join(mkdtempSync(join(tmpdir(), 'erp-fleet-')), 'fleet.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        kafka: { brokers: fleet.stack.kafkaBrokers },
        topics: { prefix: fleet.prefix, stockSchema: fleet.schema },
        shards: fleet.shards.map((shard) => ({
          id: shard.id,
          connection: { host: shard.host, port: shard.port, database: shard.database, user: shard.user },
        })),
        sinks: [{ name: 'erp-adapter', groupId: group }],
      }),
    );
    const cli = resolve(__dirname, '../../../deploy/fleet/dist/fleet-cli.js');
    return new Promise((done) =>
      execFile(process.execPath, [cli, ...args, '--json', '--config', configFile], { timeout: 60_000 }, (error, stdout) =>
        done({ code: error ? Number(error.code ?? 1) : 0, json: JSON.parse(stdout) as Record<string, unknown> }),
      ),
    );
  }

  it('a snapshot re-run by fleet slots reset books the opening balances once: the ERP still equals Postgres, and idle the sink lag is 0', async () => {
    // Given the initial snapshot and the changes since booked in a fresh ERP
    const erp = await startErp();
    const group = uniqueName('erp_resnapshot');
    const adapter = startAdapter(adapterEnv(erp, group));
    await adapter.process.waitReady(adapter.port);
    expect(await convergence(erp)).toEqual([]);

    // When the operator resets shard 0 and its reader snapshots the shard again
    const reset = await runFleet(group, ['slots', 'reset', '--shard', '0', '--force']);
    expect(reset).toMatchObject({ code: 0, json: { dropped: true, progressReset: true } });
    // (Fenced by the reset, shard 0's reader starts over: a new slot and a snapshot.)
    const stockRows = async (client: Client): Promise<number> =>
      Number((await client.query<{ rows: string }>(`select count(*) as rows from ${fleet.schema}.stock`)).rows[0]!.rows);
    const expectedReads =
      (await stockRows(fleet.clients[0]!)) + (await stockRows(fleet.clients[1]!)) + (await stockRows(fleet.clients[0]!));
    const codec = new AvroCodec(createRegistryClient({ url: fleet.stack.registryUrl, compatibility: 'BACKWARD' }));
    const reads = (records: ReadRecord[]) => records.filter((record) => (record.value as { op?: string } | null)?.op === 'r').length;
    const records = await readTopics(
      new Kafka({ brokers: fleet.stack.kafkaBrokers, logLevel: logLevel.NOTHING }),
      codec,
      [`${fleet.prefix}.${fleet.schema}.stock`],
      (seen) => reads(seen) >= expectedReads,
      60_000,
    );
    await codec.close();
    expect(reads(records)).toBe(expectedReads);

    // Then, once the adapter has passed the second snapshot (lag 0), every balance equals Postgres, not twice it
    const lagged = await waitFor(
      'the erp-adapter group at the log end',
      async () => {
        const status = await runFleet(group, ['status']);
        const sink = (status.json.sinks as { sink: string; totalLag: number; partitions: unknown[] }[]).find(
          (entry) => entry.sink === 'erp-adapter',
        );
        return sink && sink.partitions.length > 0 && sink.totalLag === 0 ? sink : undefined;
      },
      60_000,
      1_000,
    );
    expect(lagged.totalLag).toBe(0);
    expect(await convergence(erp)).toEqual([]);
    expect(await adapter.process.terminate()).toBe(0);
  }, 240_000);
});
