import type { z } from 'zod';
import { loadConfig, redactSecrets } from './config-loader';
import type { WorkerConfig } from './config-common';
import { configureCrashPoints } from './crash-points';
import { ConfigError, HaltError } from './errors';
import { startHealthServer } from './health-server';
import { Lifecycle, exitAfterStop, exitOnSignals } from './lifecycle';
import { createLogger, type Logger } from './logger';
import { FleetMetrics } from './metrics-registry';
import { Readiness } from './readiness';
import { plaintextConnectionsOf, refusedPlaintext, tlsHintOf } from './transport-security';

/** What a worker's `start` gets: everything shared, built once. */
export interface WorkerContext<C extends WorkerConfig> {
  config: C;
  logger: Logger;
  metrics: FleetMetrics;
  readiness: Readiness;
  lifecycle: Lifecycle;
}

export interface RunWorkerOptions<S extends z.ZodType<WorkerConfig, z.ZodTypeDef, unknown>> {
  schema: S;
  /** `process.argv.slice(2)`; `--config <file>` names the config file. */
  argv: string[];
  /** `process.env`; `CDC_CONFIG_FILE` names the file when `--config` is absent; `CDC__…` overrides keys. */
  env: Record<string, string | undefined>;
  /** Builds the worker's stages, registers their cleanups on `lifecycle`, and starts them. */
  start: (context: WorkerContext<z.infer<S>>) => Promise<void> | void;
}

/**
 * The common main of every worker: config (validated, printed redacted), logger, metrics registry,
 * health server, signal handling with a grace timeout. A halt error from `start` or later (via
 * `lifecycle.stop(reason, 1)`) ends the process non-zero with the operator hint in the log.
 */
export async function runWorker<S extends z.ZodType<WorkerConfig, z.ZodTypeDef, unknown>>(options: RunWorkerOptions<S>): Promise<void> {
  let config: z.infer<S>;
  try {
    config = loadConfig(options.schema, { file: configFileFrom(options.argv, options.env), env: options.env, envPrefix: 'CDC' });
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ service: config.serviceName, level: config.log.level });
  configureCrashPoints(config.faultInjection.crashPoints);
  logger.info({ config: redactSecrets(config) }, 'starting');
  const refusal = checkTransport(config, logger);
  if (refusal) {
    process.stderr.write(`${refusal}\n`);
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    process.exit(2);
  }
  const metrics = new FleetMetrics(config.serviceName);
  const readiness = new Readiness();
  readiness.onChange((ready) => metrics.ready.set(ready ? 1 : 0));
  const lifecycle = new Lifecycle(logger);
  exitOnSignals(lifecycle, logger, config.shutdown.graceMs);

  try {
    const health = await startHealthServer({ ...config.http, registry: metrics.registry, readiness, logger });
    lifecycle.onStop('health server', () => health.close());
    await options.start({ config, logger, metrics, readiness, lifecycle });
    lifecycle.markRunning();
  } catch (error) {
    metrics.countError(error);
    const hint = error instanceof HaltError ? error.hint : undefined;
    logger.fatal({ err: error, hint }, 'start failed');
    exitAfterStop(lifecycle, logger, config.shutdown.graceMs, 'start failed', 1);
  }
}

/**
 * Logs each connection that would reach a non-loopback host in plain text; returns the refusal (the
 * process then exits 2, like on any config error) when `security.profile` is `production` and one is not
 * in `allowPlaintext`.
 */
function checkTransport(config: WorkerConfig, logger: Logger): string | undefined {
  const plaintext = plaintextConnectionsOf(config);
  for (const connection of plaintext)
    logger.warn(
      { key: connection.path, host: connection.host, hint: tlsHintOf(connection) },
      'plaintext connection to a non-loopback host',
    );
  const refused = refusedPlaintext(plaintext, config.security);
  if (refused.length === 0) return undefined;
  const keys = refused.map((connection) => connection.path);
  logger.fatal({ keys }, 'security.profile production refuses plaintext connections');
  return `security.profile: production refuses plaintext connections to non-loopback hosts: ${keys.join(', ')} (configure TLS, or list the key in security.allowPlaintext)`;
}

function configFileFrom(argv: string[], env: Record<string, string | undefined>): string | undefined {
  const index = argv.indexOf('--config');
  if (index >= 0) return argv[index + 1];
  return env.CDC_CONFIG_FILE;
}
