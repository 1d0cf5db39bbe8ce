import { isLoopbackHost, plaintextConnectionsOf, refusedPlaintext, securityConfigSchema, tlsHintOf } from './transport-security';

const pg = (host: string, sslmode = 'disable'): Record<string, unknown> => ({
  host,
  port: 5432,
  database: 'inventory',
  user: 'u',
  sslmode,
});

describe('plaintextConnectionsOf', () => {
  it('finds every plaintext connection to a non-loopback host, by key path', () => {
    const config = {
      serviceName: 'redis-cache',
      http: { host: '0.0.0.0', port: 9464 },
      kafka: { brokers: ['127.0.0.1:9092', 'kafka-1:9092'], ssl: false },
      registry: { url: 'http://schema-registry:8081' },
      redis: { url: 'redis://redis:6379' },
      shard: { connection: pg('postgres-0') },
      rebuild: {
        shards: [
          { id: 0, connection: pg('127.0.0.1') },
          { id: 1, connection: pg('postgres-1') },
        ],
      },
      wms: { baseUrl: 'http://wms:8080', token: 't' },
    };
    expect(plaintextConnectionsOf(config)).toEqual([
      { path: 'kafka.brokers', kind: 'kafka', host: 'kafka-1' },
      { path: 'redis.url', kind: 'redis', host: 'redis' },
      { path: 'shard.connection', kind: 'postgres', host: 'postgres-0' },
      { path: 'rebuild.shards[1].connection', kind: 'postgres', host: 'postgres-1' },
      { path: 'wms.baseUrl', kind: 'http', host: 'wms' },
    ]);
  });

  it('passes TLS connections and loopback hosts', () => {
    const config = {
      kafka: { brokers: ['kafka:9093'], ssl: true },
      local: { brokers: ['localhost:9092', '[::1]:9092'], ssl: false },
      redis: { url: 'rediss://redis:6380' },
      cache: { url: 'redis://redis:6379', tls: { rejectUnauthorized: true } },
      shard: { connection: pg('db.internal', 'verify-full') },
      demo: { connection: pg('127.0.0.1') },
      erp: { baseUrl: 'https://erp.example.com' },
      wms: { baseUrl: 'http://127.0.0.1:8080' },
    };
    expect(plaintextConnectionsOf(config)).toEqual([]);
  });

  it.each([
    ['localhost', true],
    ['127.0.0.2', true],
    ['[::1]', true],
    ['::1', true],
    ['10.0.0.1', false],
    ['127.example.com', false],
    ['postgres-0', false],
  ])('counts %s as loopback: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});

describe('refusedPlaintext', () => {
  const found = plaintextConnectionsOf({ redis: { url: 'redis://redis:6379' }, wms: { baseUrl: 'http://wms:8080' } });

  it('refuses nothing under the development profile (the default): each is only warned about', () => {
    expect(refusedPlaintext(found, securityConfigSchema.parse({}))).toEqual([]);
  });

  it('refuses every plaintext connection under production, less the allowed key paths', () => {
    expect(refusedPlaintext(found, securityConfigSchema.parse({ profile: 'production' })).map((c) => c.path)).toEqual([
      'redis.url',
      'wms.baseUrl',
    ]);
    const allowed = securityConfigSchema.parse({ profile: 'production', allowPlaintext: ['redis.url'] });
    expect(refusedPlaintext(found, allowed).map((c) => c.path)).toEqual(['wms.baseUrl']);
  });

  it('names the fix in the operator hint', () => {
    expect(found.map(tlsHintOf)).toEqual(['use a rediss:// URL in redis.url', 'use an https:// URL in wms.baseUrl']);
  });
});
