import { ConfigError, loadConfig, redactSecrets } from '@inventory-cdc/shared';
import { wmsConfigSchema } from './wms-config';

const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
  CDC__SERVICE_NAME: 'wms-adapter',
  CDC__HTTP__PORT: '9464',
  CDC__KAFKA__BROKERS: 'kafka:9092',
  CDC__REGISTRY__URL: 'http://registry:8081',
  CDC__TOPICS__PREFIX: 'cdc',
  CDC__WMS__BASE_URL: 'https://wms.example.com/api',
  CDC__WMS__TOKEN: 't0ken',
  CDC__WMS__HMAC_SECRET: '1234',
  ...overrides,
});

describe('wmsConfigSchema', () => {
  it('fills the documented defaults', () => {
    const config = loadConfig(wmsConfigSchema, { env: env() });
    expect(config.topics).toEqual({ prefix: 'cdc', stockSchema: 'inventory' });
    expect(config.wms).toEqual({
      baseUrl: 'https://wms.example.com/api',
      token: 't0ken',
      hmacSecret: '1234',
      requestTimeoutMs: 5_000,
      maxConcurrentSkus: 16,
      retry: { initialDelayMs: 100, maxDelayMs: 5_000, budgetMs: 30_000 },
      circuit: { failureThreshold: 5, openMs: 5_000 },
    });
  });

  it('redacts the token and the HMAC secret when printed', () => {
    const printed = redactSecrets(loadConfig(wmsConfigSchema, { env: env() }));
    expect(printed.wms).toMatchObject({ token: '[redacted]', hmacSecret: '[redacted]', baseUrl: 'https://wms.example.com/api' });
  });

  it.each([
    ['a missing base URL', { CDC__WMS__BASE_URL: '' }, 'wms.baseUrl'],
    ['a zero retry budget', { CDC__WMS__RETRY__BUDGET_MS: '0' }, 'wms.retry.budgetMs'],
    ['an unknown wms key', { CDC__WMS__TIMEOUT: '5' }, 'wms'],
  ])('refuses %s, naming the key', (_name, overrides, key) => {
    expect(() => loadConfig(wmsConfigSchema, { env: env(overrides) })).toThrow(ConfigError);
    expect(() => loadConfig(wmsConfigSchema, { env: env(overrides) })).toThrow(key);
  });
});
