import { setMaxListeners } from 'node:events';
import {
  SinkMetrics,
  createKafka,
  createChangeCodec,
  exitAfterStop,
  runWorker,
  startChangeConsumer,
  stockKeyProblem,
  stockTopicOf,
  CircuitBreaker,
  openDeadLetterQueue,
  sinkGroupIdOf,
} from '@inventory-cdc/shared';
import { HttpWmsTransport } from './wms-client';
import { wmsConfigSchema } from './wms-config';
import { WmsDelivery } from './wms-delivery';
import { WmsUnauthorizedError } from './wms-response';
import { WmsStockSink } from './wms-stock-sink';

/**
 * Record bytes fetched per partition at once (kafkajs's default is 1 MiB, thousands of events): a few
 * hundred events per batch keeps the calls between two commits, and so what a crash re-sends, small.
 */
const maxBatchBytesPerPartition = 64 * 1024;

/** wms-adapter: every stock (and so every reservation) change, as an idempotent, signed call to the WMS. */
void runWorker({
  schema: wmsConfigSchema,
  argv: process.argv.slice(2),
  env: process.env,
  start: async ({ config, logger, metrics, readiness, lifecycle }) => {
    const kafka = createKafka(config.kafka, config.serviceName, logger);
    const codec = createChangeCodec(config.registry, kafka, config.topics.prefix, logger);
    const sinkMetrics = new SinkMetrics(metrics, 'wms-adapter');
    const deadLetters = await openDeadLetterQueue(kafka, config.topics, sinkMetrics, lifecycle);

    const { wms } = config;
    // Not ready while the circuit is open: nothing reaches the WMS then (an outage, or refused credentials).
    readiness.set('wms', true, 'circuit closed');
    const breaker = new CircuitBreaker(wms.circuit, Date.now, (state) => {
      sinkMetrics.setCircuit(state);
      readiness.set('wms', state !== 'open', `circuit ${state}`);
      logger[state === 'open' ? 'warn' : 'info']({ circuit: state }, `WMS circuit ${state}`);
    });
    const transport = new HttpWmsTransport(wms, wms.requestTimeoutMs);
    lifecycle.onStop('wms connections', () => transport.close());
    const delivery = new WmsDelivery(transport, breaker, wms.retry, {
      onRetry: (call, error, callNumber) => {
        sinkMetrics.retries.inc({ sink: sinkMetrics.sink });
        if (error instanceof WmsUnauthorizedError)
          logger.error({ err: error }, 'the WMS refuses the credentials (401/403): check wms.token and wms.hmacSecret; deliveries wait');
        else logger.debug({ idempotencyKey: call.idempotencyKey, callNumber, err: error }, 'retrying WMS call');
      },
    });

    // Every SKU lane in flight may be waiting on the stop signal (a backoff, an open circuit, a call).
    setMaxListeners(config.consumer.partitionsConsumedConcurrently * wms.maxConcurrentSkus + 10, lifecycle.signal);
    const consumer = await startChangeConsumer({
      kafka,
      codec,
      groupId: sinkGroupIdOf(config, 'wms-adapter'),
      topics: [stockTopicOf(config.topics)],
      sink: new WmsStockSink(delivery, sinkMetrics, logger, wms.maxConcurrentSkus),
      validate: (change) => stockKeyProblem(change.envelope),
      deadLetters,
      metrics: sinkMetrics,
      logger,
      readiness,
      signal: lifecycle.signal,
      partitionsConsumedConcurrently: config.consumer.partitionsConsumedConcurrently,
      sessionTimeoutMs: config.consumer.sessionTimeoutMs,
      heartbeatIntervalMs: config.consumer.heartbeatIntervalMs,
      maxBytesPerPartition: maxBatchBytesPerPartition,
      onStopped: (error) => {
        metrics.countError(error);
        logger.fatal({ err: error }, 'the Kafka consumer stopped for good: exiting so the supervisor starts the worker again');
        exitAfterStop(lifecycle, logger, config.shutdown.graceMs, 'consumer stopped', 1);
      },
    });
    lifecycle.onStop('consumer', () => consumer.disconnect());
  },
});
