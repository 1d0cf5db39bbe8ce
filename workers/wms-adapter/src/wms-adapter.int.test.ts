import { AvroCodec, asEnvelope, createRegistryClient, describePosition } from '@inventory-cdc/shared';
import {
  FleetFixture,
  purchase,
  readTopics,
  restock,
  scrapeMetric,
  seedStock,
  shardOf,
  skuName,
  stockTruth,
  uniqueName,
  waitFor,
  warehouses,
  type StockRow,
} from '@inventory-cdc/shared/testing';
import { Kafka, logLevel } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { RunningReceiver } from '../../../deploy/receivers/receiver-server';
import type { ReceiverCounts, WmsStockRow } from '../../../deploy/receivers/receiver-store';
import { startWmsReceiver } from '../../../deploy/receivers/wms-receiver';
import { wmsCrashPoints } from './wms-stock-sink';

const wmsAfterCall = wmsCrashPoints.afterCall;

const skus = 100;
const kills = 20;
const token = 'wms-test-token';
const hmacSecret = 'wms-test-hmac-secret';

interface DeadLetterRecord {
  value: string;
  headers: Record<string, string>;
}

function urlOfDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

describe('wms-adapter (real wal-readers upstream, 2 shards, the reference WMS)', () => {
  let fleet: FleetFixture;
  let serverAdmin: Client;
  let database: string;
  let wms: RunningReceiver;
  let wmsDb: Client;
  let kafka: Kafka;
  let adapterEnv: Record<string, string>;

  beforeAll(async () => {
    fleet = await FleetFixture.create('wms');
    await seedStock(fleet.clients, fleet.schema, skus, 1_000);
    await fleet.startReaders();
    database = uniqueName('wms');
    serverAdmin = new Client({ connectionString: fleet.stack.shards[0]!.url });
    await serverAdmin.connect();
    await serverAdmin.query(`create database ${database}`);
    const databaseUrl = urlOfDatabase(fleet.stack.shards[0]!.url, database);
    wms = await startWmsReceiver({ port: 0, databaseUrl, token, hmacSecret });
    wmsDb = new Client({ connectionString: databaseUrl });
    await wmsDb.connect();
    kafka = new Kafka({ clientId: 'wms-adapter-test', brokers: fleet.stack.kafkaBrokers, logLevel: logLevel.NOTHING });
    adapterEnv = {
      CDC__TOPICS__PREFIX: fleet.prefix,
      CDC__TOPICS__STOCK_SCHEMA: fleet.schema,
      CDC__WMS__BASE_URL: `http://127.0.0.1:${wms.port}`,
      CDC__WMS__TOKEN: token,
      CDC__WMS__HMAC_SECRET: hmacSecret,
      CDC__WMS__CIRCUIT__OPEN_MS: '1000',
      // The broker's minimum: a killed member's partitions move on after ~6 s instead of 30.
      CDC__CONSUMER__SESSION_TIMEOUT_MS: '6000',
      CDC__CONSUMER__HEARTBEAT_INTERVAL_MS: '1000',
    };
  });

  afterAll(async () => {
    await fleet?.cleanup();
    await wmsDb?.end();
    await wms?.close();
    await serverAdmin?.query(`drop database if exists ${database} with (force)`);
    await serverAdmin?.end();
  });

  const stockTopic = (): string => `${fleet.prefix}.${fleet.schema}.stock`;
  const dlqTopic = (): string => `${fleet.prefix}.dlq.wms-adapter`;

  async function wmsAdmin<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${wms.port}/admin/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} /admin/${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  /** Every (sku, warehouse) where the WMS differs from Postgres; `except` leaves SKUs out. */
  async function differences(truth: Map<string, StockRow>, except: string[] = []): Promise<string[]> {
    const held = new Map((await wmsAdmin<WmsStockRow[]>('GET', 'stock')).map((row) => [`${row.sku}|${row.warehouse}`, row]));
    const problems: string[] = [];
    for (const [key, row] of truth) {
      if (except.includes(row.sku)) continue;
      const stored = held.get(key);
      const expected = `${row.onHand}/${row.reserved}/${row.onHand - row.reserved}`;
      const actual = stored ? `${stored.onHand}/${stored.reserved}/${stored.available}` : 'missing';
      if (actual !== expected) problems.push(`${key}: wms ${actual}, postgres ${expected}`);
    }
    return problems;
  }

  /** Waits until the WMS equals Postgres as it is now; returns what still differs after 90 s. */
  async function settledDifferences(except: string[] = []): Promise<string[]> {
    const truth = await stockTruth(fleet.clients, fleet.schema);
    return waitFor(
      'the WMS to equal Postgres',
      async () => {
        const problems = await differences(truth, except);
        return problems.length === 0 ? problems : undefined;
      },
      90_000,
      250,
    ).catch(async () => differences(truth, except));
  }

  /**
   * Purchases (stock moves to reserved) and restocks on random SKUs of both shards until `signal` aborts,
   * paced so the WMS keeps up; resolves with the number of stock rows changed (one change event each).
   */
  async function startWorkload(signal: AbortSignal, pauseMs = 80): Promise<Promise<number>[]> {
    const writers = await Promise.all(
      [0, 1, 2, 3].map(async (index) => {
        const client = new Client({ connectionString: fleet.shards[index % fleet.shards.length]!.url });
        await client.connect();
        return client;
      }),
    );
    return writers.map(async (client, index) => {
      const mine = Array.from({ length: skus }, (_, sku) => skuName(sku)).filter(
        (sku) => shardOf(sku, fleet.shards.length) === index % fleet.shards.length,
      );
      let changes = 0;
      while (!signal.aborted && mine.length > 0) {
        const sku = mine[Math.floor(Math.random() * mine.length)]!;
        const warehouse = warehouses[Math.floor(Math.random() * warehouses.length)]!;
        let changed = true;
        if (Math.random() < 0.8) changed = await purchase(client, fleet.schema, sku, warehouse, 1 + Math.floor(Math.random() * 3));
        else await restock(client, fleet.schema, sku, warehouse, 5);
        if (changed) changes++;
        await sleep(Math.random() * pauseMs);
      }
      await client.end();
      return changes;
    });
  }

  /** Adapters of the current test; whatever a failed test leaves running is killed before the next one. */
  let running: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(running.map((kill) => kill()));
    running = [];
  });

  async function startAdapter(): Promise<{ stop: () => Promise<number | null>; kill: () => Promise<void>; port: number }> {
    const adapter = fleet.worker('wms-adapter', adapterEnv);
    running.push(() => adapter.process.kill());
    adapter.process.start();
    await adapter.process.waitReady(adapter.port);
    return { stop: () => adapter.process.terminate(), kill: () => adapter.process.kill(), port: adapter.port };
  }

  /**
   * Partitions of the stock topic whose committed offset (of the adapter's group) is behind the end. The
   * last offset of a partition may be a transaction marker, which no consumer ever resolves, hence `- 1`.
   */
  async function uncommittedPartitions(): Promise<string[]> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(stockTopic());
      const [committed] = await admin.fetchOffsets({ groupId: `${fleet.prefix}.wms-adapter`, topics: [stockTopic()] });
      return ends.flatMap(({ partition, high }) => {
        const offset = committed?.partitions.find((entry) => entry.partition === partition)?.offset ?? '-1';
        return Number(offset) >= Number(high) - 1 ? [] : [`partition ${partition}: committed ${offset}, end ${high}`];
      });
    } finally {
      await admin.disconnect();
    }
  }

  /** Calls this adapter process has completed (applied or recognised as duplicates). */
  async function delivered(port: number): Promise<number> {
    const applied = await scrapeMetric(port, 'cdc_sink_applied_total', { sink: 'wms-adapter' });
    const duplicates = await scrapeMetric(port, 'cdc_sink_deduplicated_total', { sink: 'wms-adapter' });
    return (applied ?? 0) + (duplicates ?? 0);
  }

  /** Reads the dead-letter topic from the start until `until` holds or `timeoutMs` passes. */
  async function readDeadLetters(until: (letters: DeadLetterRecord[]) => boolean, timeoutMs = 30_000): Promise<DeadLetterRecord[]> {
    const letters: DeadLetterRecord[] = [];
    const consumer = kafka.consumer({ groupId: uniqueName('dlq_reader') });
    const gaveUp = new AbortController();
    await consumer.connect();
    try {
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      await consumer.subscribe({ topics: [dlqTopic()], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
          letters.push({ value: message.value?.toString('latin1') ?? '', headers });
          if (until(letters)) done();
          return Promise.resolve();
        },
      });
      await Promise.race([finished, sleep(timeoutMs, undefined, { signal: gaveUp.signal })]);
    } finally {
      gaveUp.abort(); // the losing sleep must not hold jest open
      await consumer.disconnect();
    }
    return letters;
  }

  it(`the WMS equals Postgres, each call stored once under its change’s key, with the adapter killed -9 ${kills} times`, async () => {
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    for (let kill = 0; kill < kills; kill++) {
      const adapter = await startAdapter();
      // Kill mid-delivery: once this adapter has delivered something, at a random instant after.
      await waitFor('the adapter to deliver', async () => ((await delivered(adapter.port)) > 0 ? true : undefined), 30_000, 50);
      await sleep(Math.random() * 800);
      await adapter.kill();
    }
    stop.abort();
    const changes = (await Promise.all(workload)).reduce((sum, count) => sum + count, 0);

    const adapter = await startAdapter();
    const remaining = await settledDifferences();
    const committed = await waitFor(
      'the adapter to commit its progress',
      async () => {
        const uncommitted = await uncommittedPartitions();
        return uncommitted.length === 0 ? uncommitted : undefined;
      },
      20_000,
      250,
    ).catch(() => uncommittedPartitions());
    const counts = await wmsAdmin<ReceiverCounts>('GET', 'state');
    const codec = new AvroCodec(createRegistryClient({ url: fleet.stack.registryUrl, compatibility: 'BACKWARD' }));
    const storedKeys = (await wmsDb.query<{ key: string }>('select idempotency_key as key from wms.wms_changes order by 1')).rows.map(
      (row) => row.key,
    );
    const keyOf = (record: { value: unknown }): string => `wms-${describePosition(asEnvelope(record.value))}`;
    // Read until every change the WMS stored is among the events read (or 30 s): what is missing then was never an event.
    const events = (
      await readTopics(
        kafka,
        codec,
        [stockTopic()],
        (records) => {
          const read = new Set(records.filter((r) => r.value).map(keyOf));
          return storedKeys.every((key) => read.has(key));
        },
        30_000,
      ).finally(() => codec.close())
    ).filter((record) => record.value);
    const eventKeys = new Set(events.map(keyOf));

    process.stdout.write(
      `wms-adapter kill test: ${changes} workload changes, ${events.length} change events, receiver ${JSON.stringify(counts)}\n`,
    );
    expect(changes).toBeGreaterThan(200);
    expect(remaining).toEqual([]);
    expect(committed).toEqual([]);
    expect(counts.outOfOrder).toBe(0);
    // Each call once, under the key of the change it carried (stable across the replays the kills caused);
    // coalescing sends at most one call per change event.
    expect(new Set(storedKeys).size).toBe(storedKeys.length);
    expect(storedKeys.filter((key) => !eventKeys.has(key))).toEqual([]);
    expect(counts.applied).toBeLessThanOrEqual(skus * warehouses.length + changes);
    expect(await adapter.stop()).toBe(0);
  }, 360_000);

  /**
   * Rows (`sku|warehouse`, no longer changing) whose position in the WMS is not that of the row's newest
   * change event in Kafka: read until each row's event carrying Postgres's current on-hand has come.
   */
  async function positionsBehindKafka(rows: string[]): Promise<string[]> {
    const truth = await stockTruth(fleet.clients, fleet.schema);
    const rowOf = (record: { value: unknown }): { key: string; onHand: unknown; position: string } => {
      const envelope = asEnvelope(record.value);
      const row = envelope.after ?? envelope.before;
      return { key: `${String(row?.sku)}|${String(row?.warehouse)}`, onHand: row?.on_hand, position: describePosition(envelope) };
    };
    const codec = new AvroCodec(createRegistryClient({ url: fleet.stack.registryUrl, compatibility: 'BACKWARD' }));
    const records = (
      await readTopics(
        kafka,
        codec,
        [stockTopic()],
        (read) => {
          const seen = new Set(read.filter((r) => r.value).map((r) => `${rowOf(r).key}=${String(rowOf(r).onHand)}`));
          return rows.every((row) => seen.has(`${row}=${truth.get(row)?.onHand}`));
        },
        30_000,
      ).finally(() => codec.close())
    ).filter((record) => record.value);
    const newest = new Map(records.map((record) => [rowOf(record).key, rowOf(record).position]));
    const held = new Map((await wmsAdmin<WmsStockRow[]>('GET', 'stock')).map((row) => [`${row.sku}|${row.warehouse}`, row.position]));
    return rows.filter((row) => held.get(row) !== newest.get(row)).map((row) => `${row}: wms ${held.get(row)}, kafka ${newest.get(row)}`);
  }

  it('coalesces a hot row’s burst into a few calls and the WMS ends with the newest value and position', async () => {
    const hot = skuName(11);
    const client = fleet.clients[shardOf(hot, fleet.clients.length)]!;
    const callsBefore = Number(
      (await wmsDb.query<{ n: string }>(`select count(*)::text as n from wms.wms_changes where sku = $1 and warehouse = 'WH-A'`, [hot]))
        .rows[0]!.n,
    );
    // The burst lands in Kafka while no adapter runs, so the adapter finds hundreds of the row's changes in hand.
    const burst = 400;
    for (let change = 0; change < burst; change++) await restock(client, fleet.schema, hot, 'WH-A', 1);
    await restock(client, fleet.schema, hot, 'WH-B', 1);
    const adapter = await startAdapter();

    expect(await settledDifferences()).toEqual([]);
    expect(await positionsBehindKafka([`${hot}|WH-A`, `${hot}|WH-B`])).toEqual([]);
    const calls =
      Number(
        (await wmsDb.query<{ n: string }>(`select count(*)::text as n from wms.wms_changes where sku = $1 and warehouse = 'WH-A'`, [hot]))
          .rows[0]!.n,
      ) - callsBefore;
    process.stdout.write(`wms-adapter coalescing: ${burst} changes of one row reached the WMS in ${calls} calls\n`);
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(burst / 10);
    expect(await scrapeMetric(adapter.port, 'cdc_sink_coalesced_total', { sink: 'wms-adapter' })).toBeGreaterThanOrEqual(burst - calls);
    expect((await wmsAdmin<ReceiverCounts>('GET', 'state')).outOfOrder).toBe(0);
    expect(await adapter.stop()).toBe(0);
  }, 120_000);

  it('a crash in the middle of a batch, after some of its calls, ends with the WMS equal to Postgres', async () => {
    const stop = new AbortController();
    // Fast writers on few SKUs: batches hold several changes per row, so each crash cuts a coalesced batch.
    const workload = await startWorkload(stop.signal, 5);
    let crashes = 0;
    const deadline = Date.now() + 150_000;
    while (crashes < 4 && Date.now() < deadline) {
      const adapter = fleet.worker('wms-adapter', { ...adapterEnv, CDC__FAULT_INJECTION__CRASH_POINTS: `{${wmsAfterCall}: 0.05}` });
      running.push(() => adapter.process.kill());
      adapter.process.start();
      // Dies by its crash point (kill -9 of itself) after some call of some batch, once it owns partitions
      // (after the last one's session expired, ~6 s); a run that outlives 20 s is stopped.
      const died = await Promise.race([adapter.process.exitCode().then(() => true), sleep(20_000).then(() => false)]);
      if (died) crashes++;
      else await adapter.process.kill();
    }
    stop.abort();
    await Promise.all(workload);

    const adapter = await startAdapter();
    expect(crashes).toBeGreaterThanOrEqual(3);
    expect(await settledDifferences()).toEqual([]);
    const committed = await waitFor(
      'the adapter to commit its progress',
      async () => {
        const uncommitted = await uncommittedPartitions();
        return uncommitted.length === 0 ? uncommitted : undefined;
      },
      20_000,
      250,
    ).catch(() => uncommittedPartitions());
    expect(committed).toEqual([]);
    expect(await adapter.stop()).toBe(0);
  }, 300_000);

  it('retries through 3 s of HTTP 500 and then delivers everything, in order per SKU', async () => {
    const adapter = await startAdapter();
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    await wmsAdmin('PUT', 'faults', { errorRate: 1 });
    await sleep(3_000);
    await wmsAdmin('DELETE', 'faults');
    stop.abort();
    await Promise.all(workload);

    expect(await settledDifferences()).toEqual([]);
    expect(await scrapeMetric(adapter.port, 'cdc_sink_retries_total', { sink: 'wms-adapter' })).toBeGreaterThan(0);
    // It resumed at the offsets the previous adapter committed: the thousands of earlier changes were not re-sent.
    expect(await scrapeMetric(adapter.port, 'cdc_sink_deduplicated_total', { sink: 'wms-adapter' })).toBeLessThan(skus);
    expect(await scrapeMetric(adapter.port, 'cdc_sink_dead_lettered_total', { sink: 'wms-adapter' })).toBeUndefined();
    expect((await wmsAdmin<ReceiverCounts>('GET', 'state')).outOfOrder).toBe(0);
    expect(await adapter.stop()).toBe(0);
  }, 120_000);

  it('a refused token (401) is an outage: not ready while the circuit is open, nothing dead-lettered, all delivered once fixed', async () => {
    // Given an adapter whose token the WMS no longer accepts (rotated), with a short retry budget.
    const rotated = fleet.worker('wms-adapter', { ...adapterEnv, CDC__WMS__TOKEN: 'rotated-away', CDC__WMS__RETRY__BUDGET_MS: '300' });
    running.push(() => rotated.process.kill());
    rotated.process.start();
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);

    // Then it holds the changes: not ready with the circuit open, and far past its budget nothing is dead-lettered.
    await waitFor(
      '/readyz not ready with the circuit open',
      async () => {
        const response = await fetch(`http://127.0.0.1:${rotated.port}/readyz`).catch(() => undefined);
        return response?.status === 503 && (await response.text()).includes('circuit open');
      },
      60_000,
      200,
    );
    await sleep(3_000);
    stop.abort();
    await Promise.all(workload);
    expect(await scrapeMetric(rotated.port, 'cdc_sink_dead_lettered_total', { sink: 'wms-adapter' })).toBeUndefined();
    expect(await scrapeMetric(rotated.port, 'cdc_sink_retries_total', { sink: 'wms-adapter' })).toBeGreaterThan(0);
    await rotated.process.terminate();

    // When the token is fixed, every change arrives.
    const adapter = await startAdapter();
    expect(await settledDifferences()).toEqual([]);
    expect(await scrapeMetric(adapter.port, 'cdc_sink_dead_lettered_total', { sink: 'wms-adapter' })).toBeUndefined();
    expect(await adapter.stop()).toBe(0);
  }, 180_000);

  it('dead-letters the changes of a SKU the WMS refuses (400) while the other SKUs keep flowing', async () => {
    const refused = skuName(7);
    await wmsAdmin('PUT', 'faults', { rejectSkus: [refused] });
    const adapter = await startAdapter();
    const client = fleet.clients[shardOf(refused, fleet.clients.length)]!;
    for (const warehouse of warehouses) await restock(client, fleet.schema, refused, warehouse, 1);
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    await sleep(1_500);
    stop.abort();
    await Promise.all(workload);

    expect(await settledDifferences([refused])).toEqual([]);
    const letters = await readDeadLetters((all) => all.filter((letter) => letter.headers['dlq.reason'] === 'rejected').length >= 3);
    const rejected = letters.filter((letter) => letter.headers['dlq.reason'] === 'rejected');
    expect(rejected.length).toBeGreaterThanOrEqual(3);
    for (const letter of rejected) {
      expect(letter.headers).toMatchObject({ 'dlq.sink': 'wms-adapter', 'dlq.source.topic': stockTopic() });
      expect(letter.headers['dlq.detail']).toContain('HTTP 400: {"error":"sku rejected"}');
    }
    expect(
      await scrapeMetric(adapter.port, 'cdc_sink_dead_lettered_total', { sink: 'wms-adapter', reason: 'rejected' }),
    ).toBeGreaterThanOrEqual(3);

    // Once the WMS takes the SKU again, its next change brings it up to date: a dead letter never blocks a SKU.
    await wmsAdmin('DELETE', 'faults');
    for (const warehouse of warehouses) await restock(client, fleet.schema, refused, warehouse, 1);
    expect(await settledDifferences()).toEqual([]);
    expect((await wmsAdmin<ReceiverCounts>('GET', 'state')).outOfOrder).toBe(0);
    expect(await adapter.stop()).toBe(0);
  }, 120_000);

  it('dead-letters an undecodable record as undecodable and delivers the changes after it', async () => {
    const producer = kafka.producer();
    await producer.connect();
    // A key too: the topic is compacted, and the broker refuses keyless records on it.
    await producer.send({ topic: stockTopic(), messages: [{ key: Buffer.from('not avro'), value: Buffer.from('not avro') }] });
    await producer.disconnect();
    const adapter = await startAdapter();
    const stop = new AbortController();
    const workload = await startWorkload(stop.signal);
    await sleep(1_000);
    stop.abort();
    await Promise.all(workload);

    expect(await settledDifferences()).toEqual([]);
    const letters = await readDeadLetters((all) => all.some((letter) => letter.headers['dlq.reason'] === 'undecodable'));
    const undecodable = letters.filter((letter) => letter.headers['dlq.reason'] === 'undecodable');
    expect(undecodable).toEqual([expect.objectContaining({ value: 'not avro' })]);
    expect(await scrapeMetric(adapter.port, 'cdc_sink_dead_lettered_total', { sink: 'wms-adapter', reason: 'undecodable' })).toBe(1);
    expect(await adapter.stop()).toBe(0);
  }, 120_000);

  it('a TRUNCATE of the stock table empties the shard’s rows in the WMS; rows written after it stay', async () => {
    const adapter = await startAdapter();
    expect(await settledDifferences()).toEqual([]);
    const [first] = fleet.clients;
    await first!.query(`truncate ${fleet.schema}.stock`);
    await first!.query(`insert into ${fleet.schema}.stock (sku, warehouse, on_hand) values ('SKU-TRUNCATE', 'WH-A', 3)`);

    const truth = await stockTruth(fleet.clients, fleet.schema);
    const extra = async (): Promise<string[]> =>
      (await wmsAdmin<WmsStockRow[]>('GET', 'stock')).map((row) => `${row.sku}|${row.warehouse}`).filter((key) => !truth.has(key));
    const leftOver = await waitFor(
      'the truncated rows gone from the WMS',
      async () => ((await extra()).length === 0 ? [] : undefined),
      60_000,
      250,
    ).catch(extra);
    expect(leftOver).toEqual([]);
    expect(await settledDifferences()).toEqual([]);
    expect(await scrapeMetric(adapter.port, 'cdc_sink_dead_lettered_total', { sink: 'wms-adapter' })).toBeUndefined();
    expect(await adapter.stop()).toBe(0);
  }, 120_000);
});
