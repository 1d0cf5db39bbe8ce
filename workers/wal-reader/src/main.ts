import { AvroCodec, createKafka, createRegistryClient, exitAfterStop, runWorker } from '@inventory-cdc/shared';
import { readerConfigSchema } from './reader-config';
import { ReaderMetrics } from './reader-metrics';
import { WalReader } from './wal-reader';

/** wal-reader: one process per Postgres shard (more may stand by); slot → Avro change events on Kafka. */
void runWorker({
  schema: readerConfigSchema,
  argv: process.argv.slice(2),
  env: process.env,
  start: ({ config, logger, metrics, readiness, lifecycle }) => {
    const kafka = createKafka(config.kafka, config.serviceName, logger);
    const codec = new AvroCodec(createRegistryClient(config.registry));
    const reader = new WalReader({
      config,
      kafka,
      codec,
      metrics: new ReaderMetrics(metrics, String(config.shard.id)),
      fleetMetrics: metrics,
      readiness,
      logger,
      signal: lifecycle.signal,
    });
    lifecycle.onStop('registry client', () => codec.close());
    lifecycle.onStop('reader', () => reader.stop());
    reader.run().then(
      () => undefined,
      (error: unknown) => {
        metrics.countError(error);
        logger.fatal({ err: error }, 'reader stopped');
        exitAfterStop(lifecycle, logger, config.shutdown.graceMs, 'reader failed', 1);
      },
    );
  },
});
