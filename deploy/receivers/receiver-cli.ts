/**
 * `tsx deploy/receivers/receiver-cli.ts wms|erp --port N --database-url postgres://… --token T --hmac-secret S [--host H]
 *   [--signature-window-seconds N] [--log-level L]`
 *
 * `--token-file F` and `--hmac-secret-file F` read a secret from a file instead (mounted secrets), so it
 * shows in no process listing; so does `--database-password-file F`, the password of `--database-url`'s
 * user (which then carries none). `--signature-window-seconds` bounds the age of a signed request (default 300).
 *
 * Runs one reference receiver in the foreground, logging JSON lines (pino) on stdout, until SIGTERM or
 * SIGINT, then closes it and exits 0. The database must exist; the intended one is `receivers` on the
 * local stack's shard-0 server (`create database receivers` once), shared by both receivers.
 *
 * Exit codes: 0 after a signal, 1 when the receiver fails to start, 2 on a usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { startErpReceiver } from './erp-receiver';
import { defaultSignatureWindowSeconds, type ReceiverOptions, type RunningReceiver } from './receiver-server';
import { startWmsReceiver } from './wms-receiver';

const usage =
  'usage: tsx deploy/receivers/receiver-cli.ts wms|erp --port N --database-url postgres://... --token T|--token-file F --hmac-secret S|--hmac-secret-file F [--database-password-file F] [--host H] [--signature-window-seconds N] [--log-level L]';

interface CliArgs {
  receiver: 'wms' | 'erp';
  logLevel: string;
  options: Omit<ReceiverOptions, 'logger'>;
}

class UsageError extends Error {}

function required(values: Record<string, string | undefined>, name: string): string {
  const value = values[name];
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

/** A secret given inline (`--name`) or as a file (`--name-file`), exactly one of them. */
function secret(values: Record<string, string | undefined>, name: string): string {
  const inline = values[name];
  const file = values[`${name}-file`];
  if (inline && file) throw new UsageError(`give --${name} or --${name}-file, not both`);
  if (!file) return required(values, name);
  return readSecretFile(name, file);
}

function readSecretFile(name: string, file: string): string {
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (!value) throw new UsageError(`--${name}-file ${file} is empty`);
    return value;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--${name}-file: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** `--database-url`, with the password of `--database-password-file` put in (the URL then must hold none). */
function databaseUrlOf(values: Record<string, string | undefined>): string {
  const text = required(values, 'database-url');
  const file = values['database-password-file'];
  if (file === undefined) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('--database-url is not a URL');
  }
  if (url.password) throw new UsageError('give the password in --database-url or --database-password-file, not both');
  url.password = encodeURIComponent(readSecretFile('database-password', file));
  return url.toString();
}

export function parseCliArgs(argv: string[]): CliArgs {
  let parsed: ReturnType<typeof parseWithNode>;
  try {
    parsed = parseWithNode(argv);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const [receiver, ...extra] = parsed.positionals;
  if (receiver !== 'wms' && receiver !== 'erp') throw new UsageError('the first argument must be wms or erp');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra.join(' ')}"`);
  const port = Number(required(parsed.values, 'port'));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError('--port needs an integer 0..65535');
  const window = parsed.values['signature-window-seconds'];
  const signatureWindowSeconds = window === undefined ? defaultSignatureWindowSeconds : Number(window);
  if (!Number.isInteger(signatureWindowSeconds) || signatureWindowSeconds < 1)
    throw new UsageError('--signature-window-seconds needs a positive integer');
  return {
    receiver,
    logLevel: parsed.values['log-level'] ?? 'info',
    options: {
      host: parsed.values.host ?? '127.0.0.1',
      port,
      databaseUrl: databaseUrlOf(parsed.values),
      token: secret(parsed.values, 'token'),
      hmacSecret: secret(parsed.values, 'hmac-secret'),
      signatureWindowSeconds,
    },
  };
}

function parseWithNode(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'database-url': { type: 'string' },
      token: { type: 'string' },
      'hmac-secret': { type: 'string' },
      'token-file': { type: 'string' },
      'hmac-secret-file': { type: 'string' },
      'database-password-file': { type: 'string' },
      'signature-window-seconds': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
}

/** The fleet's log line shape (ISO time, level as a word), without depending on the fleet's code. */
function createCliLogger(receiver: string, level: string): Logger {
  return pino({
    level,
    base: { service: `${receiver}-receiver` },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Resolves on the first SIGTERM or SIGINT. */
function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n${usage}\n`);
    return 2;
  }
  const logger = createCliLogger(args.receiver, args.logLevel);
  const start = args.receiver === 'wms' ? startWmsReceiver : startErpReceiver;
  // Listening before the start, so a SIGTERM during startup still ends in an orderly close.
  const stopSignal = nextStopSignal();
  let receiver: RunningReceiver;
  try {
    receiver = await start({ ...args.options, logger });
  } catch (error) {
    logger.error({ err: error }, 'receiver failed to start');
    return 1;
  }
  const signal = await stopSignal;
  logger.info({ signal }, 'stopping');
  await receiver.close();
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
