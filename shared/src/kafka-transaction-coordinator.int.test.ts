import type { Kafka } from 'kafkajs';
import pino from 'pino';
import { testStackEndpoints, uniqueName, waitFor } from '@inventory-cdc/shared/testing';
import { createKafka, ensureTopics } from './kafka-client';

/**
 * kafkajs as patched (patches/kafkajs+2.2.4.patch): a transactional producer keeps its transaction
 * coordinator instead of looking it up before every AddPartitionsToTxn and EndTxn. Each lookup was a round
 * trip inside every reader transaction; on a busy host each round trip is a wait for a core.
 */
describe('a transactional producer on the local broker', () => {
  let kafka: Kafka;

  beforeAll(() => {
    kafka = createKafka(
      { brokers: testStackEndpoints().kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'kafka-coordinator-test',
      pino({ level: 'silent' }),
    );
  });

  it('finds its transaction coordinator once, not twice in every transaction', async () => {
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
    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId: uniqueName('txn_coordinator_reader'), readUncommitted: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: ({ message }) => Promise.resolve(void seen.push(message.value?.toString() ?? '')) });
      await waitFor('the four committed records', () => Promise.resolve(seen.length >= 4));
    } finally {
      await consumer.disconnect();
    }
    expect(seen.sort()).toEqual(['commit-0', 'commit-1', 'commit-3', 'commit-4']);
  });
});
