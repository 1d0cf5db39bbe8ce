import { logLevel } from 'kafkajs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaConfigSchema } from './config-common';
import { loadConfig } from './config-loader';
import { ConfigError } from './errors';
import { kafkaClientOptions, kafkaLogLevel } from './kafka-client';

const dir = mkdtempSync(join(tmpdir(), 'kafka-tls-'));
const pem = (name: string, text: string): string => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const caPem = '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';
const certPem = '-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n';
const keyPem = '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n';
const caFile = pem('ca.pem', caPem);
const certFile = pem('client.pem', certPem);
const keyFile = pem('client.key', keyPem);
const passwordFile = pem('sasl-password', 's3cr3t-from-file\n');

function kafkaFromEnv(env: Record<string, string>): ReturnType<typeof kafkaConfigSchema.parse> {
  return loadConfig(kafkaConfigSchema, { env: { CDC__BROKERS: 'b1:9093,b2:9093', ...env }, envPrefix: 'CDC' });
}

function issuesOf(env: Record<string, string>): string {
  try {
    kafkaFromEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.join('\n');
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('kafkaClientOptions', () => {
  it('connects in plain text and anonymously by default', () => {
    expect(kafkaClientOptions(kafkaFromEnv({}), 'wal-reader')).toEqual({
      clientId: 'wal-reader',
      brokers: ['b1:9093', 'b2:9093'],
      ssl: false,
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
    });
  });

  it.each([
    ['true', true],
    ['false', false],
  ])('passes ssl=%s through (Node built-in CAs)', (value, expected) => {
    expect(kafkaClientOptions(kafkaFromEnv({ CDC__SSL: value }), 'x').ssl).toBe(expected);
  });

  const mutualTls = {
    rejectUnauthorized: true,
    ca: [caPem],
    cert: certPem,
    key: keyPem,
    passphrase: 'key-pass',
    servername: 'kafka.internal',
  };

  it('reads the CA, client certificate and key from the files named in the config', () => {
    const config = kafkaFromEnv({
      CDC__SSL__CA: caFile,
      CDC__SSL__CERT: certFile,
      CDC__SSL__PRIVATE_KEY: keyFile,
      CDC__SSL__KEY_PASSWORD: 'key-pass',
      CDC__SSL__SERVER_NAME: 'kafka.internal',
    });
    expect(kafkaClientOptions(config, 'x').ssl).toEqual(mutualTls);
  });

  it('takes the same PEM text through _FILE variables (mounted secrets)', () => {
    const config = kafkaFromEnv({
      CDC__SSL__CA_FILE: caFile,
      CDC__SSL__CERT_FILE: certFile,
      CDC__SSL__PRIVATE_KEY_FILE: keyFile,
      CDC__SSL__KEY_PASSWORD_FILE: pem('key-pass', 'key-pass\n'),
      CDC__SSL__SERVER_NAME: 'kafka.internal',
    });
    // The loader trims what it reads from a _FILE variable.
    expect(kafkaClientOptions(config, 'x').ssl).toEqual({
      ...mutualTls,
      ca: [caPem.trim()],
      cert: certPem.trim(),
      key: keyPem.trim(),
    });
  });

  it('turns certificate verification off only when told to', () => {
    const ssl = kafkaClientOptions(kafkaFromEnv({ CDC__SSL__REJECT_UNAUTHORIZED: 'false' }), 'x').ssl;
    expect(ssl).toEqual({ rejectUnauthorized: false });
  });

  it.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)('maps SASL %s with the password from a _FILE variable', (mechanism) => {
    const config = kafkaFromEnv({
      CDC__SASL__MECHANISM: mechanism,
      CDC__SASL__USERNAME: 'cdc-reader',
      CDC__SASL__PASSWORD_FILE: passwordFile,
    });
    expect(kafkaClientOptions(config, 'x').sasl).toEqual({ mechanism, username: 'cdc-reader', password: 's3cr3t-from-file' });
  });

  it('keeps a numeric-looking SASL password as text', () => {
    const config = kafkaFromEnv({ CDC__SASL__MECHANISM: 'plain', CDC__SASL__USERNAME: 'u', CDC__SASL__PASSWORD: '4711' });
    expect(kafkaClientOptions(config, 'x').sasl).toMatchObject({ password: '4711' });
  });

  it.each<[string, Record<string, string>, RegExp]>([
    [
      'an unreadable CA file',
      { CDC__SSL__CA: join(dir, 'missing.pem') },
      /^ssl\.ca: must be PEM text or the path of a readable PEM file$/m,
    ],
    ['a certificate without its key', { CDC__SSL__CERT: certFile }, /^ssl\.privateKey: cert and privateKey go together/m],
    ['an unknown TLS key', { CDC__SSL__CA_PATH: caFile }, /^ssl\.caPath: unknown key$/m],
    [
      'an unknown SASL mechanism',
      { CDC__SASL__MECHANISM: 'gssapi', CDC__SASL__USERNAME: 'u', CDC__SASL__PASSWORD: 'p' },
      /^sasl\.mechanism:/m,
    ],
    ['SASL without a password', { CDC__SASL__MECHANISM: 'plain', CDC__SASL__USERNAME: 'u' }, /^sasl\.password: Required$/m],
  ])('refuses %s, naming the key', (_name, env, issue) => {
    expect(issuesOf(env)).toMatch(issue);
  });

  it('never quotes the SASL password in a validation error', () => {
    const message = issuesOf({ CDC__SASL__MECHANISM: 'kerberos', CDC__SASL__USERNAME: 'u', CDC__SASL__PASSWORD: 'do-not-print-me' });
    expect(message).not.toContain('do-not-print-me');
  });
});

describe('kafkaLogLevel', () => {
  const entry = (message: string, fields: Record<string, unknown> = {}) => ({ timestamp: '', logger: 'kafkajs', message, ...fields });
  const concurrent =
    'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';

  it("writes the broker's routine CONCURRENT_TRANSACTIONS answers, which kafkajs retries, at debug", () => {
    expect(kafkaLogLevel(logLevel.ERROR, entry('Response AddPartitionsToTxn(key: 24, version: 1)', { error: concurrent }))).toBe('debug');
    expect(kafkaLogLevel(logLevel.ERROR, entry(`Failed to send messages: ${concurrent}`, { retryCount: 0 }))).toBe('debug');
  });

  it('keeps every other entry at its own level', () => {
    expect(
      kafkaLogLevel(
        logLevel.ERROR,
        entry('Response Produce(key: 0, version: 7)', { error: 'This server does not host this topic-partition' }),
      ),
    ).toBe('error');
    expect(kafkaLogLevel(logLevel.WARN, entry('Limiting retries for the idempotent producer may invalidate EoS guarantees'))).toBe('warn');
    expect(kafkaLogLevel(logLevel.INFO, entry('Consumer has joined the group'))).toBe('info');
  });
});
