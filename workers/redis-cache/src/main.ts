import {
  SinkMetrics,
  createKafka,
  createRedis,
  createChangeCodec,
  evictionRisk,
  exitAfterStop,
  runWorker,
  startChangeConsumer,
  stockKeyProblem,
  stockTopicOf,
  openDeadLetterQueue,
  ReconcileMetrics,
  sinkGroupIdOf,
} from '@inventory-cdc/shared';
import { cacheConfigSchema } from './cache-config';
import { ReadModelGuard } from './read-model-guard';
import { RedisStockSink } from './redis-stock-sink';
import { StockAudit } from './stock-audit';

/** redis-cache: the storefront's read model in Redis, fed by the stock topic, rebuilt from Postgres when needed. */
void runWorker({
  schema: cacheConfigSchema,
  argv: process.argv.slice(2),
  env: process.env,
  start: async ({ config, logger, metrics, readiness, lifecycle }) => {
    const redis = createRedis(config.redis, logger, readiness);
    await redis.connect();
    lifecycle.onStop('redis', () => void redis.disconnect());
    const risk = await evictionRisk(redis);
    if (risk) logger.warn({ policy: risk }, 'Redis may evict stock keys under memory pressure: set maxmemory-policy noeviction');

    const guard = new ReadModelGuard(
      redis,
      config.rebuild.shards,
      { schema: config.topics.stockSchema, table: 'stock' },
      logger,
      config.rebuild.checkIntervalMs,
    );
    lifecycle.onStop('read-model guard', () => guard.stop());
    if (process.argv.includes('rebuild')) {
      const rows = await guard.rebuild();
      logger.info({ rows }, 'rebuild finished');
      exitAfterStop(lifecycle, logger, config.shutdown.graceMs, 'rebuild finished', 0);
      return;
    }
    await guard.start();

    const kafka = createKafka(config.kafka, config.serviceName, logger);
    const codec = createChangeCodec(config.registry, kafka, config.topics.prefix, logger);
    const sinkMetrics = new SinkMetrics(metrics, 'redis-cache');
    const deadLetters = await openDeadLetterQueue(kafka, config.topics, sinkMetrics, lifecycle);
    const groupId = sinkGroupIdOf(config, 'redis-cache');
    const consumer = await startChangeConsumer({
      kafka,
      codec,
      groupId,
      topics: [stockTopicOf(config.topics)],
      sink: new RedisStockSink(
        redis,
        groupId,
        sinkMetrics,
        logger,
        async () => void (await guard.rebuild('a write found the sentinel missing')),
      ),
      validate: (change) => stockKeyProblem(change.envelope),
      deadLetters,
      metrics: sinkMetrics,
      logger,
      readiness,
      signal: lifecycle.signal,
      partitionsConsumedConcurrently: config.consumer.partitionsConsumedConcurrently,
      sessionTimeoutMs: config.consumer.sessionTimeoutMs,
      heartbeatIntervalMs: config.consumer.heartbeatIntervalMs,
      onStopped: (error) => {
        metrics.countError(error);
        logger.fatal({ err: error }, 'the Kafka consumer stopped for good: exiting so the supervisor starts the worker again');
        exitAfterStop(lifecycle, logger, config.shutdown.graceMs, 'consumer stopped', 1);
      },
    });
    lifecycle.onStop('consumer', () => consumer.disconnect());

    if (config.audit.enabled) {
      const { enabled: _enabled, ...options } = config.audit;
      const audit = new StockAudit(
        redis,
        config.rebuild.shards,
        `${config.topics.stockSchema}.stock`,
        new ReconcileMetrics(metrics, 'redis-cache'),
        logger,
        options,
      );
      const running = audit.run(lifecycle.signal);
      lifecycle.onStop('stock audit', () => running);
    }
  },
});
