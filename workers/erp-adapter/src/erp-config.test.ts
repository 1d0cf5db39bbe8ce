import { ConfigError, loadConfig } from '@inventory-cdc/shared';
import { erpAdapterConfigSchema } from './erp-config';

const env = {
  CDC__SERVICE_NAME: 'erp-adapter',
  CDC__HTTP__PORT: '9104',
  CDC__KAFKA__BROKERS: '127.0.0.1:59092',
  CDC__REGISTRY__URL: 'http://127.0.0.1:58081/apis/ccompat/v7',
  CDC__TOPICS__PREFIX: 'cdc',
  CDC__ERP__BASE_URL: 'http://127.0.0.1:8080',
  CDC__ERP__TOKEN: 'token',
  CDC__ERP__HMAC_SECRET: 'secret',
};

describe('erp-adapter config', () => {
  it('fills in the documented defaults', () => {
    const config = loadConfig(erpAdapterConfigSchema, { env, envPrefix: 'CDC' });
    expect(config.topics.stockSchema).toBe('inventory');
    expect(config.consumer).toEqual({ partitionsConsumedConcurrently: 4, sessionTimeoutMs: 30_000, heartbeatIntervalMs: 3_000 });
    expect(config.erp).toMatchObject({
      requestTimeoutMs: 5_000,
      window: { maxEvents: 500, maxAgeMs: 1_000 },
      retry: { initialDelayMs: 100, maxDelayMs: 5_000, budgetMs: 30_000 },
      circuit: { failureThreshold: 5, openMs: 5_000 },
    });
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['a missing ERP URL', { CDC__ERP__BASE_URL: '' }, /erp\.baseUrl/],
    ['a zero window size', { CDC__ERP__WINDOW__MAX_EVENTS: '0' }, /erp\.window\.maxEvents/],
    ['an unknown key', { CDC__ERP__WINDOW__MAX_BYTES: '10' }, /erp\.window/],
    ['a heartbeat slower than the session', { CDC__CONSUMER__SESSION_TIMEOUT_MS: '3000' }, /consumer\.heartbeatIntervalMs/],
  ])('names the key of %s', (_name, overrides, key) => {
    try {
      loadConfig(erpAdapterConfigSchema, { env: { ...env, ...overrides }, envPrefix: 'CDC' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.join('\n')).toMatch(key);
    }
  });
});
