import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config-loader';
import { ConfigError } from './errors';
import { redisClientOptions, redisConfigSchema } from './redis-client';

const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
const caPem = '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, caPem);
const passwordFile = join(dir, 'redis-password');
writeFileSync(passwordFile, 'acl-pass\n');

function redisConfig(env: Record<string, string>): ReturnType<typeof redisConfigSchema.parse> {
  return loadConfig(redisConfigSchema, { env: { CDC__URL: 'redis://127.0.0.1:6379', ...env }, envPrefix: 'CDC' });
}

function issuesOf(env: Record<string, string>): string {
  try {
    redisConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.join('\n');
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('redisClientOptions', () => {
  it('uses the default user without a password or TLS by default', () => {
    const options = redisClientOptions(redisConfig({}));
    expect(options).not.toHaveProperty('username');
    expect(options).not.toHaveProperty('password');
    expect(options).not.toHaveProperty('tls');
    expect(options).toMatchObject({ lazyConnect: true, maxRetriesPerRequest: null });
  });

  it('authenticates as an ACL user with the password from a _FILE variable', () => {
    const options = redisClientOptions(redisConfig({ CDC__USERNAME: 'cdc-cache', CDC__PASSWORD_FILE: passwordFile }));
    expect(options).toMatchObject({ username: 'cdc-cache', password: 'acl-pass' });
  });

  it('turns TLS on for a rediss:// URL (ioredis itself does not)', () => {
    expect(redisClientOptions(redisConfig({ CDC__URL: 'rediss://cache.internal:6380' })).tls).toEqual({});
  });

  it('maps a CA file and rejectUnauthorized to TLS options', () => {
    const options = redisClientOptions(redisConfig({ CDC__TLS__CA: caFile, CDC__TLS__SERVER_NAME: 'cache.internal' }));
    expect(options.tls).toEqual({ rejectUnauthorized: true, ca: [caPem], servername: 'cache.internal' });
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['a password in the URL', { CDC__URL: 'redis://:hunter2@127.0.0.1:6379' }, /^url: must not contain credentials/m],
    ['another scheme', { CDC__URL: 'http://127.0.0.1:6379' }, /^url: must start with redis:\/\/ or rediss:\/\//m],
    ['a username without a password', { CDC__USERNAME: 'cdc-cache' }, /^password: an ACL username needs a password$/m],
    ['a missing CA file', { CDC__TLS__CA: join(dir, 'missing.pem') }, /^tls\.ca: must be PEM text or the path/m],
  ])('refuses %s, naming the key', (_name, env, issue) => {
    expect(issuesOf(env)).toMatch(issue);
  });

  it('does not print the password of a URL it refuses', () => {
    expect(issuesOf({ CDC__URL: 'redis://:hunter2@127.0.0.1:6379' })).not.toContain('hunter2');
  });
});
