import {
  Kafka,
  logLevel,
  type Consumer,
  type ITopicConfig,
  type KafkaConfig as KafkaJsConfig,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { tlsOptions, type KafkaConfig, type KafkaSaslConfig } from './config-common';
import type { Logger } from './logger';
import type { Readiness } from './readiness';
import { retry } from './retry';

const levelNames: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * The broker's answer CONCURRENT_TRANSACTIONS (code 51) while it still writes the previous transaction's
 * markers: a transactional producer that commits back to back gets it routinely, and kafkajs retries it
 * after a few milliseconds. kafkajs logs each one as an error (the response and the failed send); it is not.
 */
const concurrentTransactionsText = 'another concurrent operation on the same transaction';

/** The level a kafkajs log entry is written at: its own, except for answers that are routine retries. */
export function kafkaLogLevel(level: number, log: LogEntry['log']): 'error' | 'warn' | 'info' | 'debug' {
  const name = levelNames[level] ?? 'info';
  if (name !== 'error' && name !== 'warn') return name;
  const error = (log as { error?: unknown }).error;
  const routine = [log.message, typeof error === 'string' ? error : ''].some((text) => text.includes(concurrentTransactionsText));
  return routine ? 'debug' : name;
}

/** kafkajs's own log lines, through our JSON logger as `component: kafkajs`. */
function kafkaLogCreator(logger: Logger): KafkaJsConfig['logCreator'] {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      child[kafkaLogLevel(level, log)]({ namespace, ...fields }, message);
    };
}

/**
 * kafkajs' connection settings for `config`: brokers, TLS (PEM files read now), SASL and timeouts. Logging
 * is left to `createKafka`.
 */
export function kafkaClientOptions(config: KafkaConfig, clientId: string): Omit<KafkaJsConfig, 'logCreator' | 'logLevel'> {
  return {
    clientId: config.clientId ?? clientId,
    brokers: config.brokers,
    ssl: typeof config.ssl === 'boolean' ? config.ssl : tlsOptions(config.ssl),
    ...(config.sasl ? { sasl: saslOptions(config.sasl) } : {}),
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
  };
}

function saslOptions(sasl: KafkaSaslConfig): SASLOptions {
  const { username, password } = sasl;
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}

/**
 * The fleet's one Kafka client construction: brokers, TLS/SASL and timeouts from config, logs into ours.
 * kafkajs retries requests itself; its retry settings stay at their defaults.
 */
export function createKafka(config: KafkaConfig, clientId: string, logger: Logger): Kafka {
  if (config.sasl?.mechanism === 'plain' && config.ssl === false) {
    logger.warn({ brokers: config.brokers }, 'Kafka SASL PLAIN without TLS sends the password in clear text: enable kafka.ssl');
  }
  return new Kafka({ ...kafkaClientOptions(config, clientId), logLevel: logLevel.INFO, logCreator: kafkaLogCreator(logger) });
}

/**
 * Makes a consumer's crash visible: readiness goes false with the error, and `onCrash` decides what
 * happens next (kafkajs restarts a consumer itself only for retriable crashes).
 */
export function watchConsumer(
  consumer: Consumer,
  readiness: Readiness,
  check: string,
  onCrash: (error: Error, willRestart: boolean) => void,
): void {
  consumer.on(consumer.events.CRASH, (event) => {
    readiness.set(check, false, `consumer crashed: ${event.payload.error.message}`);
    onCrash(event.payload.error, event.payload.restart);
  });
  consumer.on(consumer.events.GROUP_JOIN, () => readiness.set(check, true, 'joined group'));
  consumer.on(consumer.events.DISCONNECT, () => readiness.set(check, false, 'disconnected'));
}

/** Same for a producer: a disconnect makes the worker not ready until it reconnects. */
export function watchProducer(producer: Producer, readiness: Readiness, check: string): void {
  producer.on(producer.events.CONNECT, () => readiness.set(check, true, 'connected'));
  producer.on(producer.events.DISCONNECT, () => readiness.set(check, false, 'disconnected'));
}

/** Creates the topics that do not exist yet (existing ones are left as they are). */
/** What a broker answers about a partition it is still taking on, right after the topic's creation. */
const settlingTopicErrors = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE']);

export async function ensureTopics(kafka: Kafka, topics: ITopicConfig[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Right after a creation (by us or by another member starting at the same time) the broker can answer
    // metadata requests — and, a little longer, offset requests — with UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER_FOR_PARTITION, which
    // kafkajs's own wait for leaders does not retry: retry the whole check-and-create briefly instead, until
    // the new topics' offsets can be listed (the first thing a reader does with its progress topic).
    const created = new Set<string>();
    await retry(
      async () => {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((topic) => !existing.has(topic.topic));
        if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
        for (const topic of missing) created.add(topic.topic);
        await admin.fetchTopicMetadata({ topics: topics.map((topic) => topic.topic) });
        for (const topic of created) await admin.fetchTopicOffsets(topic);
      },
      {
        initialDelayMs: 100,
        maxDelayMs: 1_000,
        maxElapsedMs: 30_000,
        retryOn: (error) => error instanceof Error && settlingTopicErrors.has((error as { type?: string }).type ?? ''),
      },
    );
  } finally {
    await admin.disconnect();
  }
}
