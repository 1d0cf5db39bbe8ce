import {
  HaltError,
  SinkMetrics,
  createKafka,
  createChangeCodec,
  exitAfterStop,
  runWorker,
  CircuitBreaker,
  openDeadLetterQueue,
  sinkGroupIdOf,
  stockTopicOf,
} from '@inventory-cdc/shared';
import { erpAdapterConfigSchema } from './erp-config';
import { ErpClient } from './erp-client';
import { PostingDelivery } from './posting-delivery';
import { WindowConsumer } from './window-consumer';

/** erp-adapter: stock changes, netted per window, posted to the ERP once per window (see README). */
void runWorker({
  schema: erpAdapterConfigSchema,
  argv: process.argv.slice(2),
  env: process.env,
  start: async ({ config, logger, metrics, readiness, lifecycle }) => {
    const sinkMetrics = new SinkMetrics(metrics, 'erp-adapter');
    const halt = (error: unknown): void => {
      metrics.countError(error);
      logger.fatal({ err: error, hint: error instanceof HaltError ? error.hint : undefined }, 'halting');
      exitAfterStop(lifecycle, logger, config.shutdown.graceMs, 'halt', 1);
    };

    const kafka = createKafka(config.kafka, config.serviceName, logger);
    const codec = createChangeCodec(config.registry, kafka, config.topics.prefix, logger);
    lifecycle.onStop('schema registry client', () => codec.close());
    const deadLetters = await openDeadLetterQueue(kafka, config.topics, sinkMetrics, lifecycle);

    readiness.set('erp', true, 'circuit closed');
    const breaker = new CircuitBreaker(config.erp.circuit, Date.now, (state) => {
      sinkMetrics.setCircuit(state);
      readiness.set('erp', state !== 'open', `circuit ${state}`);
    });
    const erp = new ErpClient(config.erp);
    lifecycle.onStop('erp connections', () => erp.close());
    const delivery = new PostingDelivery(erp, breaker, config.erp.retry, (error, attempt, delayMs) => {
      sinkMetrics.retries.inc({ sink: sinkMetrics.sink });
      logger.warn({ err: error, attempt, delayMs }, 'posting failed; retrying');
    });

    const consumer = await WindowConsumer.start({
      kafka,
      codec,
      groupId: sinkGroupIdOf(config, 'erp-adapter'),
      topic: stockTopicOf(config.topics),
      limits: config.erp.window,
      delivery,
      deadLetters,
      metrics: sinkMetrics,
      logger,
      readiness,
      partitionsConsumedConcurrently: config.consumer.partitionsConsumedConcurrently,
      sessionTimeoutMs: config.consumer.sessionTimeoutMs,
      heartbeatIntervalMs: config.consumer.heartbeatIntervalMs,
      drainTimeoutMs: Math.floor(config.shutdown.graceMs / 2),
      onHalt: halt,
    });
    lifecycle.onStop('erp window consumer', () => consumer.close());
  },
});
