import { createKafka, ensureTopics, kafkaConfigSchema, type KafkaConfig } from '@inventory-cdc/shared';
import { uniqueName } from '@inventory-cdc/shared/testing';
import type { Kafka } from 'kafkajs';
import pino from 'pino';
import { localKafkaSasl } from '../local/stack-kafka';

const sasl = localKafkaSasl();
const logger = pino({ level: 'silent' });

function saslKafka(mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username: string, password: string): Kafka {
  const config: KafkaConfig = kafkaConfigSchema.parse({
    brokers: [sasl.broker],
    sasl: { mechanism, username, password },
    connectionTimeoutMs: 3_000,
    requestTimeoutMs: 10_000,
  });
  return createKafka(config, 'sasl-int-test', logger);
}

/** Produces one record and reads it back through the same authenticated client. */
async function roundTrip(kafka: Kafka): Promise<string> {
  const topic = uniqueName('sasl');
  await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({ topic, messages: [{ key: 'k', value: `hello over ${topic}` }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: uniqueName('sasl_group') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nothing consumed from ${topic}`)), 30_000);
      void consumer.run({
        eachMessage: ({ message }) => {
          clearTimeout(timer);
          resolve(message.value?.toString() ?? '');
          return Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

describe('Kafka SASL on the local broker (SASL_PLAINTEXT listener)', () => {
  it.each([
    ['scram-sha-512', sasl.scram],
    ['scram-sha-256', sasl.scram],
    ['plain', sasl.plain],
  ] as const)('a %s client produces and consumes', async (mechanism, user) => {
    await expect(roundTrip(saslKafka(mechanism, user.username, user.password))).resolves.toMatch(/^hello over sasl_/);
  });

  it.each([
    ['scram-sha-512', sasl.scram.username, /SASL SCRAM SHA512 authentication failed/],
    ['plain', sasl.plain.username, /SASL PLAIN authentication failed/],
  ] as const)('refuses %s with a wrong password, saying authentication failed', async (mechanism, username, message) => {
    const admin = saslKafka(mechanism, username, 'not-the-password').admin();
    try {
      const error = await admin.connect().then(
        () => undefined,
        (refused: unknown) => refused as Error,
      );
      expect(error?.message).toMatch(message);
      expect(error?.message).not.toContain('not-the-password');
    } finally {
      await admin.disconnect();
    }
  });

  it('refuses a client that does not authenticate on the SASL listener', async () => {
    const admin = createKafka(
      kafkaConfigSchema.parse({ brokers: [sasl.broker], connectionTimeoutMs: 3_000, requestTimeoutMs: 5_000 }),
      'sasl-int-test',
      logger,
    ).admin();
    try {
      await admin.connect();
      await expect(admin.listTopics()).rejects.toThrow();
    } finally {
      await admin.disconnect();
    }
  });
});
