import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import pino from 'pino';
import type { ConsumedChange } from './change-event';
import { startChangeConsumer, type ChangeSink } from './change-consumer';
import { openDeadLetterQueue, type DeadLetterQueue } from './dead-letter';
import { createKafka, ensureTopics } from './kafka-client';
import { MetricNames } from './metric-names';
import { FleetMetrics } from './metrics-registry';
import { Readiness } from './readiness';
import { AvroCodec, createRegistryClient } from './schema-registry';
import { SinkMetrics } from './sink-metrics';
import { testStackEndpoints, uniqueName, waitFor } from '@inventory-cdc/shared/testing';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });

/** The smallest value `asEnvelope` accepts: an op and a source position. */
const envelopeSchema = {
  type: 'record',
  name: 'Envelope',
  namespace: 'inventory.test',
  fields: [
    { name: 'op', type: 'string' },
    {
      name: 'source',
      type: {
        type: 'record',
        name: 'Source',
        fields: [
          { name: 'shard', type: 'int' },
          { name: 'lsn', type: 'long' },
          { name: 'seq', type: 'long' },
          { name: 'commitTs', type: 'long' },
        ],
      },
    },
  ],
};

/**
 * A TCP forwarder to the real registry that can be closed: while closed its port refuses connections, as a
 * registry that is down does. No HTTP answer is made up; when open, every byte is the registry's.
 */
class RegistryDoor {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: URL) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}${this.target.pathname}`;
  }

  /** Picks a free port and leaves it closed. */
  async reserve(): Promise<void> {
    await this.open();
    await this.close();
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(this.target.port), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.sockets.forEach((socket) => socket.destroy());
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

async function counterValue(metrics: FleetMetrics, name: string): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  return (metric?.values ?? []).reduce((sum, value) => sum + Number(value.value), 0);
}

async function highWatermark(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
}

async function committedOffset(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return Number(entry?.partitions[0]?.offset ?? -1);
}

describe('change consumer: a registry outage is waited out, only undecodable bytes are dead-lettered', () => {
  let kafka: Kafka;
  let admin: Admin;
  let writer: AvroCodec;

  beforeAll(async () => {
    const endpoints = testStackEndpoints();
    kafka = createKafka(
      { brokers: endpoints.kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'decode-test',
      logger,
    );
    admin = kafka.admin();
    await admin.connect();
    writer = new AvroCodec(createRegistryClient({ url: endpoints.registryUrl, compatibility: 'BACKWARD' }));
  });

  afterAll(async () => {
    await admin.disconnect();
    await writer.close();
  });

  /** A sink's dead-letter queue under `prefix`, and how to close what it opened. */
  async function openTestDeadLetters(
    prefix: string,
    metrics: SinkMetrics,
  ): Promise<{ deadLetters: DeadLetterQueue; close: () => Promise<void> }> {
    const stops: (() => Promise<void>)[] = [];
    const deadLetters = await openDeadLetterQueue(kafka, { prefix, stockSchema: 'inventory' }, metrics, {
      onStop: (_name, stop) => void stops.push(async () => void (await stop())),
    });
    return {
      deadLetters,
      close: async () => {
        for (const stop of stops) await stop();
      },
    };
  }

  it('holds the partition while the registry refuses connections or does not know an id, and dead-letters only a bad record', async () => {
    const prefix = uniqueName('decode');
    const topic = `${prefix}.inventory.stock`;
    const groupId = `${prefix}.test-sink`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const schemaId = await writer.register(`${topic}-value`, envelopeSchema);
    const event = (lsn: bigint) =>
      writer.serialize(topic, 'value', schemaId, { op: 'u', source: { shard: 0, lsn, seq: 0n, commitTs: BigInt(Date.now()) * 1000n } });
    const producer = kafka.producer();
    await producer.connect();
    const produce = async (value: Buffer) => void (await producer.send({ topic, messages: [{ key: null, value }] }));

    const door = new RegistryDoor(new URL(testStackEndpoints().registryUrl));
    await door.reserve();
    const metrics = new FleetMetrics('decode-test');
    const sinkMetrics = new SinkMetrics(metrics, 'test-sink');
    const readiness = new Readiness();
    const applied: ConsumedChange[] = [];
    const sink: ChangeSink = { apply: (changes) => Promise.resolve((applied.push(...changes), [])) };
    const { deadLetters, close: closeDeadLetters } = await openTestDeadLetters(prefix, sinkMetrics);
    const reader = new AvroCodec(createRegistryClient({ url: door.url, compatibility: 'BACKWARD' }));
    const abort = new AbortController();
    const stopped: Error[] = [];
    const waits = () => counterValue(metrics, MetricNames.sinkRegistryWaits);

    await produce(await event(1n));
    const consumer = await startChangeConsumer({
      kafka,
      codec: reader,
      groupId,
      topics: [topic],
      sink,
      deadLetters,
      metrics: sinkMetrics,
      logger,
      readiness,
      signal: abort.signal,
      partitionsConsumedConcurrently: 1,
      heartbeatIntervalMs: 1_000,
      onStopped: (error) => stopped.push(error),
    });
    try {
      // Given a registry that refuses connections: the record waits, the worker is not ready.
      await waitFor('a second registry wait', async () => (await waits()) >= 2, 60_000);
      expect(readiness.report().checks['registry']).toMatchObject({ ok: false });
      expect(applied).toHaveLength(0);
      expect(await highWatermark(admin, deadLetters.topic)).toBe(0);
      expect(await committedOffset(admin, groupId, topic)).toBe(-1);

      // When it answers again, the held record is applied and committed, nothing dead-lettered.
      await door.open();
      await waitFor('the held record applied', () => applied.length === 1, 60_000);
      await waitFor('offset 1 committed', async () => (await committedOffset(admin, groupId, topic)) === 1);
      expect(readiness.report().checks['registry']).toMatchObject({ ok: true });

      // A record that can never be decoded (bad magic byte, truncated Avro) is dead-lettered and passed.
      await produce(Buffer.from([1, 0, 0, 0, 1, 2]));
      await produce((await event(2n)).subarray(0, 8));
      await waitFor('two dead letters', async () => (await highWatermark(admin, deadLetters.topic)) === 2, 30_000);
      await waitFor('offset 3 committed', async () => (await committedOffset(admin, groupId, topic)) === 3);

      // A schema id the registry does not know (40403: restarted empty, or behind) is an outage, not poison.
      const unknownId = (await event(3n)).subarray(0);
      unknownId.writeUInt32BE(0x7ffffff0, 1);
      const before = await waits();
      await produce(unknownId);
      await waitFor('waits for the unknown id', async () => (await waits()) >= before + 3, 60_000);
      expect(readiness.report().checks['registry']).toMatchObject({ ok: false });
      expect(await highWatermark(admin, deadLetters.topic)).toBe(2);
      expect(await committedOffset(admin, groupId, topic)).toBe(3);
      expect(applied).toHaveLength(1);
      expect(stopped).toEqual([]);
    } finally {
      abort.abort();
      await consumer.disconnect();
      await producer.disconnect();
      await reader.close();
      await door.close();
      await closeDeadLetters();
    }
  }, 180_000);

  it('an idle partition’s committed offset reaches the log end past commit and abort markers, never past an open transaction', async () => {
    const prefix = uniqueName('markers');
    const topic = `${prefix}.inventory.stock`;
    const groupId = `${prefix}.test-sink`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const schemaId = await writer.register(`${topic}-value`, envelopeSchema);
    const event = (lsn: bigint) =>
      writer.serialize(topic, 'value', schemaId, { op: 'u', source: { shard: 0, lsn, seq: 0n, commitTs: BigInt(Date.now()) * 1000n } });
    const producer = kafka.producer({ transactionalId: `${prefix}.writer`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const inTransaction = async (lsns: bigint[]) => {
      const transaction = await producer.transaction();
      await transaction.send({ topic, messages: await Promise.all(lsns.map(async (lsn) => ({ key: null, value: await event(lsn) }))) });
      return transaction;
    };
    const metrics = new SinkMetrics(new FleetMetrics('markers-test'), 'test-sink');
    const applied: bigint[] = [];
    const sink: ChangeSink = {
      apply: (changes) => Promise.resolve((applied.push(...changes.map((change) => change.envelope!.source.lsn)), [])),
    };
    const { deadLetters, close: closeDeadLetters } = await openTestDeadLetters(prefix, metrics);
    const abort = new AbortController();
    const stopped: Error[] = [];
    const consumer = await startChangeConsumer({
      kafka,
      codec: writer,
      groupId,
      topics: [topic],
      sink,
      deadLetters,
      metrics,
      logger,
      readiness: new Readiness(),
      signal: abort.signal,
      partitionsConsumedConcurrently: 1,
      heartbeatIntervalMs: 1_000,
      onStopped: (error) => stopped.push(error),
    });
    const caughtUp = (end: number) =>
      waitFor(`offset ${end} committed`, async () => (await committedOffset(admin, groupId, topic)) === end, 30_000);
    try {
      // Given a committed transaction (records 0-1, commit marker 2), then an aborted one (record 3, abort marker 4)
      await (await inTransaction([1n, 2n])).commit();
      await caughtUp(3);
      await (await inTransaction([3n])).abort();

      // Then the idle group commits the log end, though no record after offset 1 was given to the sink
      // (the coordinator writes the abort marker after EndTxn has answered: wait for it to be in the log)
      await waitFor('the abort marker in the log', async () => (await highWatermark(admin, topic)) === 5, 30_000);
      await caughtUp(5);

      // While a transaction is open (its record at offset 5), nothing past it is committed or applied
      const open = await inTransaction([4n]);
      // (The send returned once the broker had the record; the admin's end offsets are read_committed.)
      await sleep(3_000);
      expect(await committedOffset(admin, groupId, topic)).toBe(5);
      await open.commit();
      await caughtUp(7);
      expect(applied).toEqual([1n, 2n, 4n]);
      expect(stopped).toEqual([]);
    } finally {
      abort.abort();
      await consumer.disconnect();
      await producer.disconnect();
      await closeDeadLetters();
    }
  }, 120_000);

  it('a crash kafkajs does not restart from is reported, so the worker ends instead of idling with a dead stream', async () => {
    const prefix = uniqueName('crash');
    const topic = `${prefix}.inventory.stock`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const metrics = new SinkMetrics(new FleetMetrics('crash-test'), 'test-sink');
    const { deadLetters, close: closeDeadLetters } = await openTestDeadLetters(prefix, metrics);
    const readiness = new Readiness();
    const abort = new AbortController();
    const stopped: Error[] = [];
    // The broker refuses to let the member join (a session timeout below group.min.session.timeout.ms): an
    // error kafkajs does not retry, as it does not after some broker restarts (the group coordinator not
    // found while it loads). The member is gone from its group for good.
    const consumer = await startChangeConsumer({
      kafka,
      codec: writer,
      groupId: `${prefix}.test-sink`,
      topics: [topic],
      sink: { apply: () => Promise.resolve([]) },
      deadLetters,
      metrics,
      logger,
      readiness,
      signal: abort.signal,
      partitionsConsumedConcurrently: 1,
      sessionTimeoutMs: 1_000,
      heartbeatIntervalMs: 300,
      onStopped: (error) => stopped.push(error),
    });
    try {
      await waitFor('the stopped consumer reported', () => stopped.length > 0, 60_000);
      expect(stopped[0]!.message).toMatch(/session timeout/i);
      expect(readiness.report().checks['kafka']).toMatchObject({ ok: false });
    } finally {
      abort.abort();
      await consumer.disconnect();
      await closeDeadLetters();
    }
  }, 120_000);
});
