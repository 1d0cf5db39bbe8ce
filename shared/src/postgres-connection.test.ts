import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config-loader';
import { ConfigError } from './errors';
import { pgClientConfig, pgSslOptions, postgresConnectionSchema } from './postgres-connection';

const dir = mkdtempSync(join(tmpdir(), 'pg-tls-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const rootPem = '-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n';
const certPem = '-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n';
const keyPem = '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n';
const rootFile = file('root.crt', rootPem);
const certFile = file('client.crt', certPem);
const keyFile = file('client.key', keyPem);

const base = { CDC__HOST: 'pg.internal', CDC__DATABASE: 'inventory', CDC__USER: 'cdc_reader' };

function connection(env: Record<string, string> = {}): ReturnType<typeof postgresConnectionSchema.parse> {
  return loadConfig(postgresConnectionSchema, { env: { ...base, ...env }, envPrefix: 'CDC' });
}

function issuesOf(env: Record<string, string>): string {
  try {
    connection(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.join('\n');
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('pgClientConfig', () => {
  it('connects without TLS by default, in UTC with ISO dates', () => {
    expect(pgClientConfig(connection(), 'wal-reader-stream')).toEqual({
      host: 'pg.internal',
      port: 5432,
      database: 'inventory',
      user: 'cdc_reader',
      ssl: false,
      application_name: 'wal-reader-stream',
      options: expect.stringContaining('-c TimeZone=UTC') as unknown,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    expect(pgClientConfig(connection(), 'x').options).toContain('-c statement_timeout=60000');
  });

  it('takes the statement timeout and the keepalive delay from the config, 0 turning them off', () => {
    const tuned = pgClientConfig(connection({ CDC__STATEMENT_TIMEOUT_MS: '5000', CDC__KEEP_ALIVE_IDLE_MS: '2000' }), 'x');
    expect(tuned).toMatchObject({ keepAlive: true, keepAliveInitialDelayMillis: 2_000 });
    expect(tuned.options).toContain('-c statement_timeout=5000');
    const off = pgClientConfig(connection({ CDC__STATEMENT_TIMEOUT_MS: '0', CDC__KEEP_ALIVE_IDLE_MS: '0' }), 'x');
    expect(off).toMatchObject({ keepAlive: false });
    expect(off.options).toContain('-c statement_timeout=0');
    expect(issuesOf({ CDC__STATEMENT_TIMEOUT_MS: '-1' })).toMatch(/statementTimeoutMs/);
  });

  it('reads the password from a _FILE variable or from passwordFile (at connect time)', () => {
    const secret = file('pg-password', 'pw-from-file\n');
    expect(pgClientConfig(connection({ CDC__PASSWORD_FILE: secret }), 'x').password).toBe('pw-from-file');
    const byKey = connection({ CDC__PASSWORD_FILE: secret });
    expect(pgClientConfig({ ...byKey, password: undefined, passwordFile: secret }, 'x').password).toBe('pw-from-file');
  });

  it.each([
    ['require', {}, { rejectUnauthorized: false }],
    [
      'require',
      { CDC__SSL_ROOT_CERT: rootFile },
      { rejectUnauthorized: true, checkServerIdentity: expect.any(Function) as unknown, ca: rootPem },
    ],
    [
      'verify-ca',
      { CDC__SSL_ROOT_CERT: rootFile },
      { rejectUnauthorized: true, checkServerIdentity: expect.any(Function) as unknown, ca: rootPem },
    ],
    ['verify-full', { CDC__SSL_ROOT_CERT: rootFile }, { rejectUnauthorized: true, ca: rootPem }],
    ['verify-full', {}, { rejectUnauthorized: true }],
  ])('maps sslmode %s %j to node TLS options', (sslmode, env, expected) => {
    expect(pgSslOptions(connection({ CDC__SSLMODE: sslmode, ...env }))).toEqual(expected);
  });

  it('verify-ca accepts any host name in a certificate the CA signed; verify-full leaves the check to Node', () => {
    const verifyCa = pgSslOptions(connection({ CDC__SSLMODE: 'verify-ca' }));
    expect(verifyCa && verifyCa.checkServerIdentity?.('other-host', {} as never)).toBeUndefined();
    const verifyFull = pgSslOptions(connection({ CDC__SSLMODE: 'verify-full' }));
    expect(verifyFull && 'checkServerIdentity' in verifyFull).toBe(false);
  });

  it('adds a client certificate and key, from paths or from _FILE variables, and the key passphrase', () => {
    const fromPaths = connection({
      CDC__SSLMODE: 'verify-full',
      CDC__SSL_CERT: certFile,
      CDC__SSL_PRIVATE_KEY: keyFile,
      CDC__SSL_KEY_PASSWORD: 'kp',
    });
    expect(pgSslOptions(fromPaths)).toEqual({ rejectUnauthorized: true, cert: certPem, key: keyPem, passphrase: 'kp' });
    const fromFiles = connection({ CDC__SSLMODE: 'verify-full', CDC__SSL_CERT_FILE: certFile, CDC__SSL_PRIVATE_KEY_FILE: keyFile });
    expect(pgSslOptions(fromFiles)).toEqual({ rejectUnauthorized: true, cert: certPem.trim(), key: keyPem.trim() });
  });

  it('gives the replication connection the same TLS settings', () => {
    const config = pgClientConfig(connection({ CDC__SSLMODE: 'verify-full', CDC__SSL_ROOT_CERT: rootFile }), 'wal-reader-slot');
    expect({ ...config, replication: 'database' }).toMatchObject({
      ssl: { rejectUnauthorized: true, ca: rootPem },
      replication: 'database',
    });
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['sslmode prefer', { CDC__SSLMODE: 'prefer' }, /^sslmode: prefer is not supported \(no fallback to plain text\)/m],
    ['an unknown sslmode', { CDC__SSLMODE: 'strict' }, /^sslmode: Invalid enum value/m],
    [
      'a root certificate with TLS off',
      { CDC__SSL_ROOT_CERT: rootFile },
      /^sslRootCert: needs sslmode require, verify-ca or verify-full$/m,
    ],
    [
      'a client certificate without its key',
      { CDC__SSLMODE: 'require', CDC__SSL_CERT: certFile },
      /^sslPrivateKey: sslCert and sslPrivateKey go together$/m,
    ],
    [
      'a missing CA file',
      { CDC__SSLMODE: 'verify-full', CDC__SSL_ROOT_CERT: join(dir, 'nope') },
      /^sslRootCert: must be PEM text or the path/m,
    ],
  ])('refuses %s, naming the key', (_name, env, issue) => {
    expect(issuesOf(env)).toMatch(issue);
  });

  it('refuses password and passwordFile together, without printing the password', () => {
    const configFile = file('connection.yaml', `{ host: h, database: d, user: u, password: never-print-this, passwordFile: ${rootFile} }`);
    let message = '';
    try {
      loadConfig(postgresConnectionSchema, { file: configFile });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('passwordFile: give password or passwordFile, not both');
    expect(message).not.toContain('never-print-this');
  });
});
