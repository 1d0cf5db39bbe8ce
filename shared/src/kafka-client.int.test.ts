import type { Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import { testStackEndpoints, uniqueName, waitFor } from '@inventory-cdc/shared/testing';
import { createKafka, ensureTopics } from './kafka-client';

const logger = pino({ level: 'silent' });

describe('Kafka transactions on the local broker', () => {
  let kafka: Kafka;

  beforeAll(() => {
    kafka = createKafka(
      { brokers: testStackEndpoints().kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'kafka-int-test',
      logger,
    );
  });

  /** Values of `topic` as a read_committed consumer is given them, read from the start until `until` holds. */
  async function committedValues(topic: string, what: string, until: (seen: string[]) => boolean): Promise<string[]> {
    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId: uniqueName(`${topic}_reader`), readUncommitted: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: ({ message }) => Promise.resolve(void seen.push(message.value?.toString() ?? '')) });
      await waitFor(what, () => Promise.resolve(until(seen)));
    } finally {
      await consumer.disconnect();
    }
    return seen;
  }

  it('a read_committed consumer sees a committed transaction and never an aborted one', async () => {
    const topic = uniqueName('txn_visibility');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const producer = kafka.producer({ transactionalId: uniqueName('txn_producer'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const [value, outcome] of [
        ['committed-1', 'commit'],
        ['aborted', 'abort'],
        ['committed-2', 'commit'],
      ] as const) {
        const transaction = await producer.transaction();
        await transaction.send({ topic, messages: [{ key: 'k', value }] });
        await (outcome === 'commit' ? transaction.commit() : transaction.abort());
      }
    } finally {
      await producer.disconnect();
    }

    const seen = await committedValues(topic, 'the last committed message', (values) => values.includes('committed-2'));
    expect(seen).toEqual(['committed-1', 'committed-2']);
  });

  it('a read_committed consumer never sees aborted records of transactions that overlap in a partition', async () => {
    // Two writers in one partition (two shards' readers share every change topic), their transactions
    // overlapping: A writes (offset 0), B writes (1), B aborts (marker 2), A aborts (marker 3), C commits (4, 5).
    // The broker lists a fetch's aborted transactions in the order they ended (B, then A); kafkajs took
    // that for the order they began, and handed out A's aborted record.
    const topic = uniqueName('txn_overlap');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const writers = ['a', 'b', 'c'].map((name) =>
      kafka.producer({ transactionalId: uniqueName(`txn_overlap_${name}`), idempotent: true, maxInFlightRequests: 1 }),
    );
    await Promise.all(writers.map((writer) => writer.connect()));
    try {
      const [a, b, c] = writers as [Producer, Producer, Producer];
      const inA = await a.transaction();
      await inA.send({ topic, messages: [{ key: 'a', value: 'aborted-a' }] });
      const inB = await b.transaction();
      await inB.send({ topic, messages: [{ key: 'b', value: 'aborted-b' }] });
      await inB.abort();
      await inA.abort();
      const inC = await c.transaction();
      await inC.send({ topic, messages: [{ key: 'c', value: 'committed-c' }] });
      await inC.commit();
    } finally {
      await Promise.all(writers.map((writer) => writer.disconnect()));
    }

    const seen = await committedValues(topic, 'the committed message', (values) => values.includes('committed-c'));
    expect(seen).toEqual(['committed-c']);
  });

  // kafkajs as patched (patches/kafkajs+2.2.4.patch) keeps its transaction coordinator: each lookup was a
  // round trip inside every reader transaction, on a busy host a wait for a core.
  it('a transactional producer finds its transaction coordinator once, not twice in every transaction', async () => {
    const topic = uniqueName('txn_coordinator');
    await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
    const producer = kafka.producer({ transactionalId: uniqueName('txn_coordinator'), idempotent: true, maxInFlightRequests: 1 });
    const requests: string[] = [];
    producer.on(producer.events.REQUEST, ({ payload }) => void requests.push(payload.apiName));
    await producer.connect();
    const perTransaction: string[][] = [];
    try {
      for (const [index, outcome] of ['commit', 'commit', 'abort', 'commit', 'commit'].entries()) {
        requests.length = 0;
        const transaction = await producer.transaction();
        await transaction.send({ topic, messages: [{ key: `k${index}`, value: `${outcome}-${index}` }] });
        await (outcome === 'commit' ? transaction.commit() : transaction.abort());
        perTransaction.push([...requests]);
      }
    } finally {
      await producer.disconnect();
    }

    // The first transaction also finds the coordinator and initialises the producer id. Every later one
    // sends AddPartitionsToTxn (again, after a metadata refresh, when the broker answers
    // CONCURRENT_TRANSACTIONS while it still writes the previous transaction's markers), Produce and EndTxn,
    // and never looks the coordinator up: unpatched kafkajs looks it up before AddPartitionsToTxn and EndTxn.
    expect(perTransaction[0]).toContain('GroupCoordinator');
    for (const requestsOf of perTransaction.slice(1)) {
      expect(requestsOf).not.toContain('GroupCoordinator');
      expect(requestsOf[0]).toBe('AddPartitionsToTxn');
      expect(requestsOf.slice(-2)).toEqual(['Produce', 'EndTxn']);
    }

    // And the outcome is what the transactions said: four committed, the aborted one never seen.
    const seen = await committedValues(topic, 'the four committed records', (values) => values.length >= 4);
    expect(seen.sort()).toEqual(['commit-0', 'commit-1', 'commit-3', 'commit-4']);
  });
  it('creates only the topics that are missing', async () => {
    const topic = uniqueName('ensure');
    await ensureTopics(kafka, [{ topic, numPartitions: 3 }]);
    await ensureTopics(kafka, [{ topic, numPartitions: 5 }]);
    const admin = kafka.admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.disconnect();
    expect(metadata.topics[0]?.partitions).toHaveLength(3);
  });
});
