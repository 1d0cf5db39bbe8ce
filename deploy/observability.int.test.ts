import {
  FleetFixture,
  purchase,
  restock,
  scrapeMetric,
  seedStock,
  shardOf,
  skuName,
  uniqueName,
  waitFor,
} from '@inventory-cdc/shared/testing';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { LocalPrometheus, prometheusBinary, type ScrapeTarget } from './local/local-prometheus';
import { dashboardExpressions, evaluableExpression, exportedMetricNames, ruleExpressions } from './observability-queries';
import type { RunningReceiver } from './receivers/receiver-server';
import { startErpReceiver } from './receivers/erp-receiver';
import { startWmsReceiver } from './receivers/wms-receiver';

/** Series Prometheus makes itself for every target; no worker exports them. */
const prometheusOwnSeries = ['up'];
/**
 * Counters whose label values are only known when the event happens (the table an ALTER TABLE was refused
 * for), so a healthy fleet has no series of them; refusing a schema change would stop the table's stream.
 */
const eventOnlyCounters = ['cdc_reader_schema_refused_total'];
const sinks = ['redis-cache', 'wms-adapter', 'erp-adapter'] as const;
const skus = 12;
const token = 'observability-test-token';
const hmacSecret = 'observability-test-hmac-secret';

/** A Redis database nobody uses (the redis-cache's read model and sentinel are per database). */
async function emptyRedisDatabase(serverUrl: string): Promise<string> {
  for (let index = 15; index > 0; index--) {
    const redis = new Redis(`${serverUrl}/${index}`);
    const keys = await redis.dbsize().finally(() => redis.disconnect());
    if (keys === 0) return `${serverUrl}/${index}`;
  }
  throw new Error('no empty Redis database on the local stack');
}

/** A loopback port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('dashboards and alert rules against the running fleet', () => {
  let fleet: FleetFixture;
  let serverAdmin: Client;
  let receiversDatabase: string;
  let redisUrl: string;
  const receivers: RunningReceiver[] = [];
  const workers: { name: string; port: number }[] = [];

  beforeAll(async () => {
    fleet = await FleetFixture.create('observability');
    await seedStock(fleet.clients, fleet.schema, skus, 100);
    // The erp-adapter books deltas from before images; this must hold before the readers stream.
    await Promise.all(fleet.clients.map((client) => client.query(`alter table ${fleet.schema}.stock replica identity full`)));

    const readers = fleet.shards.map((shard) => {
      const reader = fleet.worker('wal-reader', {
        CDC__SHARD__ID: String(shard.id),
        CDC__SHARD__CONNECTION__HOST: shard.host,
        CDC__SHARD__CONNECTION__PORT: String(shard.port),
        CDC__SHARD__CONNECTION__DATABASE: shard.database,
        CDC__SHARD__CONNECTION__USER: shard.user,
        CDC__CAPTURE__SCHEMAS: `[${fleet.schema}]`,
        CDC__TOPICS__PREFIX: fleet.prefix,
        CDC__TOPICS__PARTITIONS: '4',
      });
      workers.push({ name: `wal-reader shard ${shard.id}`, port: reader.port });
      reader.process.start();
      return reader;
    });
    await Promise.all(readers.map(({ process, port }) => process.waitReady(port)));

    serverAdmin = new Client({ connectionString: fleet.stack.shards[0]!.url });
    await serverAdmin.connect();
    receiversDatabase = uniqueName('observability');
    await serverAdmin.query(`create database ${receiversDatabase}`);
    const databaseUrl = new URL(fleet.stack.shards[0]!.url);
    databaseUrl.pathname = `/${receiversDatabase}`;
    const receiverOptions = { port: 0, databaseUrl: databaseUrl.toString(), token, hmacSecret };
    const wms = await startWmsReceiver(receiverOptions);
    receivers.push(wms);
    const erp = await startErpReceiver(receiverOptions);
    receivers.push(erp);
    redisUrl = await emptyRedisDatabase(fleet.stack.redisUrl);

    const topics = { CDC__TOPICS__PREFIX: fleet.prefix, CDC__TOPICS__STOCK_SCHEMA: fleet.schema };
    const sinkEnv: Record<(typeof sinks)[number], Record<string, string>> = {
      'redis-cache': {
        ...topics,
        CDC__REDIS__URL: redisUrl,
        CDC__REBUILD__SHARDS: fleet.rebuildShardsEnv(),
        // The shadow audit's metrics are on the dashboards and in the alert rules.
        CDC__AUDIT__ENABLED: 'true',
        CDC__AUDIT__PAUSE_MS: '200',
      },
      'wms-adapter': {
        ...topics,
        CDC__WMS__BASE_URL: `http://127.0.0.1:${wms.port}`,
        CDC__WMS__TOKEN: token,
        CDC__WMS__HMAC_SECRET: hmacSecret,
      },
      'erp-adapter': {
        ...topics,
        CDC__ERP__BASE_URL: `http://127.0.0.1:${erp.port}`,
        CDC__ERP__TOKEN: token,
        CDC__ERP__HMAC_SECRET: hmacSecret,
        CDC__ERP__WINDOW__MAX_AGE_MS: '300',
      },
    };
    const started = sinks.map((sink) => {
      const worker = fleet.worker(sink, sinkEnv[sink]);
      workers.push({ name: sink, port: worker.port });
      worker.process.start();
      return worker;
    });
    await Promise.all(started.map(({ process, port }) => process.waitReady(port)));
  }, 150_000);

  afterAll(async () => {
    await fleet?.cleanup();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    if (redisUrl) {
      const redis = new Redis(redisUrl);
      await redis.flushdb().finally(() => redis.disconnect());
    }
    await serverAdmin?.query(`drop database if exists ${receiversDatabase} with (force)`);
    await serverAdmin?.end();
  });

  it('exports every metric a dashboard panel, variable or alert rule reads, with data after stock changes', async () => {
    // Given stock changes on both shards, carried to every sink.
    for (let index = 0; index < skus; index++) {
      const sku = skuName(index);
      const client = fleet.clients[shardOf(sku, fleet.clients.length)]!;
      if (index % 3 === 0) await restock(client, fleet.schema, sku, 'WH-A', 5);
      else await purchase(client, fleet.schema, sku, 'WH-B', 1);
    }
    const sinkPorts = workers.filter(({ name }) => (sinks as readonly string[]).includes(name));
    for (const { name, port } of sinkPorts)
      await waitFor(
        `${name} to apply a change`,
        async () => ((await scrapeMetric(port, 'cdc_sink_commit_to_applied_seconds_count', { sink: name })) ?? 0) > 0,
        60_000,
        200,
      );

    // When every worker's /metrics is read.
    const exported = new Set<string>();
    for (const { port } of workers) {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      for (const name of exportedMetricNames(await response.text())) exported.add(name);
    }

    // Then every name the dashboards and rules select is among them.
    const expressions = [...dashboardExpressions(), ...ruleExpressions()];
    const missing = expressions.flatMap(({ source, names }) =>
      names.filter((name) => !exported.has(name) && !prometheusOwnSeries.includes(name)).map((name) => `${source}: ${name}`),
    );
    expect(expressions.length).toBeGreaterThan(50);
    expect(missing).toEqual([]);
    // And the readers' latency panels get data: source → Kafka lag is observed on every shard.
    const readers = workers.filter(({ name }) => name.startsWith('wal-reader'));
    const unobserved = async (): Promise<string[]> => {
      const lags = await Promise.all(readers.map(({ port }) => scrapeMetric(port, 'cdc_reader_source_to_kafka_lag_seconds_count')));
      return readers.filter((_, index) => (lags[index] ?? 0) === 0).map(({ name }) => name);
    };
    const stillUnobserved = await waitFor(
      'lag observations on every shard',
      async () => ((await unobserved()).length === 0 ? [] : undefined),
      30_000,
      200,
    ).catch(() => unobserved());
    expect(stillUnobserved).toEqual([]);
  }, 120_000);

  it('a real Prometheus scraping the fleet, rules loaded, answers series for every dashboard and alert expression', async () => {
    // Given a Prometheus (Debian's package) scraping every worker of the fleet each second.
    expect(prometheusBinary()).toBeDefined();
    const targets: ScrapeTarget[] = workers.map(({ name, port }) => {
      const shard = /^wal-reader shard (\d+)$/.exec(name)?.[1];
      const url = `http://127.0.0.1:${port}`;
      return shard === undefined ? { job: name as ScrapeTarget['job'], url } : { job: 'wal-reader', url, labels: { shard } };
    });
    const prometheus = await LocalPrometheus.start({
      port: await freePort(),
      directory: join(resolve(__dirname, '..'), '.local', 'test-prometheus', uniqueName('observability')),
      targets,
    });
    try {
      // And changes flowing while it scrapes, so every rate has samples on both sides of a change.
      await waitFor(
        'every target to be up',
        async () => (await prometheus.query('sum(up)'))[0]?.value[1] === String(targets.length),
        30_000,
        250,
      );
      for (let index = 0; index < skus; index++) {
        const sku = skuName(index);
        await restock(fleet.clients[shardOf(sku, fleet.clients.length)]!, fleet.schema, sku, 'WH-C', 1);
      }
      // And a record no sink can decode, which each dead-letters (the dead-letter panels and alert read it).
      const producer = new Kafka({
        clientId: 'observability-test',
        brokers: fleet.stack.kafkaBrokers,
        logLevel: logLevel.NOTHING,
      }).producer();
      await producer.connect();
      await producer.send({
        topic: `${fleet.prefix}.${fleet.schema}.stock`,
        messages: [{ key: Buffer.from('not avro'), value: Buffer.from('not avro') }],
      });
      await producer.disconnect();

      // When every expression a dashboard panel, variable or alert rule uses is evaluated.
      const expressions = [...dashboardExpressions(), ...ruleExpressions()].filter(
        ({ names }) => !names.every((name) => eventOnlyCounters.includes(name)),
      );
      const empty = async (): Promise<string[]> => {
        const results = await Promise.all(
          expressions.map(async ({ source, expression }) => {
            const series = await prometheus.query(evaluableExpression(expression));
            return series.length > 0 ? [] : [`${source}: ${evaluableExpression(expression)}`];
          }),
        );
        return results.flat();
      };
      const missing = await waitFor(
        'series for every expression',
        async () => ((await empty()).length === 0 ? [] : undefined),
        30_000,
        1_000,
      ).catch(() => empty());

      // Then each answers series from the live fleet.
      expect(expressions.length).toBeGreaterThan(50);
      expect(missing).toEqual([]);
    } finally {
      await prometheus.stop();
    }
  }, 120_000);
});
