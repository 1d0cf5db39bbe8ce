import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Service name, on every line as `service`. */
  service: string;
  /** pino level. Default `info`. */
  level?: string;
  /** Where lines go. Default stdout. */
  destination?: DestinationStream;
}

/**
 * The fleet's one logger: JSON lines on stdout, ISO timestamps, error objects serialised with their
 * cause. Secret-looking fields are censored wherever they appear in a logged object, as a second line of
 * defence behind `redactSecrets` for configs.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['password', '*.password', '*.*.password', 'sasl.password', '*.secret', '*.token', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
