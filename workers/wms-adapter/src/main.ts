import { runWorker, workerConfigSchema } from '@inventory-cdc/shared';

/**
 * wms-adapter: wires config, logging, metrics and health through the shared runtime. Its stages are not built
 * yet, so it reports itself not ready (see README, "Status").
 */
void runWorker({
  schema: workerConfigSchema,
  argv: process.argv.slice(2),
  env: process.env,
  start: async ({ logger, readiness }) => {
    readiness.set('stages', false, 'no stages built yet');
    logger.warn('wms-adapter has no stages yet: it serves health and metrics only');
  },
});
