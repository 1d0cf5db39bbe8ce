import { AvroCodec, createKafka, createLogger, createRegistryClient, ensureTopics } from '@inventory-cdc/shared';
import { testStackEndpoints, uniqueName } from '@inventory-cdc/shared/testing';
import type { Kafka } from 'kafkajs';
import { createServer } from 'node:net';
import { fleetConfigSchema, type FleetConfig } from './fleet-config';
import { collectStatus } from './status-collector';

/** A loopback port nothing listens on: connections to it are refused, as to a registry that is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('fleet status judges the registry and the dead letters', () => {
  const stack = testStackEndpoints();
  let kafka: Kafka;

  beforeAll(() => {
    kafka = createKafka(
      { brokers: stack.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'status-test',
      createLogger({ service: 'status-test', level: 'silent' }),
    );
  });

  function configOf(prefix: string, registryUrl: string): FleetConfig {
    const shard = stack.shards[0]!;
    return fleetConfigSchema.parse({
      kafka: { brokers: stack.kafkaBrokers },
      registry: { url: registryUrl },
      topics: { prefix },
      shards: [{ id: shard.id, connection: { host: shard.host, port: shard.port, database: shard.database, user: shard.user } }],
      sinks: [{ name: 'wms-adapter' }],
    });
  }

  it('reports a registry that refuses connections, one that does not know a topic’s subject, and pending dead letters', async () => {
    const prefix = uniqueName('status');
    const stockTopic = `${prefix}.inventory.stock`;
    await ensureTopics(kafka, [
      { topic: stockTopic, numPartitions: 1 },
      { topic: `${prefix}.dlq.wms-adapter`, numPartitions: 1 },
    ]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: stockTopic, messages: [{ value: Buffer.from([0, 0, 0, 0, 1, 0]) }] });
    await producer.send({
      topic: `${prefix}.dlq.wms-adapter`,
      messages: [{ value: Buffer.from('letter'), headers: { 'dlq.reason': 'rejected' } }],
    });
    await producer.disconnect();

    const down = await collectStatus(configOf(prefix, `http://127.0.0.1:${await closedPort()}`), kafka);
    const forgotten = await collectStatus(configOf(prefix, stack.registryUrl), kafka);
    const codec = new AvroCodec(createRegistryClient({ url: stack.registryUrl, compatibility: 'BACKWARD' }));
    await codec.register(`${stockTopic}-value`, { type: 'record', name: 'Probe', fields: [{ name: 'a', type: 'string' }] });
    await codec.close();
    const known = await collectStatus(configOf(prefix, stack.registryUrl), kafka);

    expect(down.healthy).toBe(false);
    expect(down.problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/schema registry http:\/\/127\.0\.0\.1:\d+.* does not answer/)]),
    );
    expect(forgotten.problems).toEqual(expect.arrayContaining([expect.stringContaining(`does not know subject ${stockTopic}-value`)]));
    expect(known.problems.filter((problem) => problem.includes('schema registry'))).toEqual([]);
    expect(known.sinks[0]?.pendingDeadLetters).toBe(1);
    expect(known.problems).toEqual(
      expect.arrayContaining(['sink wms-adapter: 1 dead letters pending (limit 0); see fleet dlq list --sink wms-adapter']),
    );
  });
});
