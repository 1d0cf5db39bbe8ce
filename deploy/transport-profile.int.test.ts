import { WorkerProcess, testStackEndpoints, uniqueName, waitFor } from '@inventory-cdc/shared/testing';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import YAML from 'yaml';

const configDir = resolve(__dirname, 'config');
let nextPort = 23000 + (process.pid % 40) * 10;

/** What the compose services set in their environment (hosts, secrets), less what a file here would need. */
const composeEnv: Record<string, Record<string, string>> = {
  'wal-reader': { CDC__SHARD__ID: '0', CDC__SHARD__CONNECTION__HOST: 'postgres-0', CDC__SHARD__CONNECTION__PASSWORD: 'x' },
  'redis-cache': {
    CDC__REBUILD__SHARDS: JSON.stringify(
      [0, 1].map((id) => ({
        id,
        connection: { host: `postgres-${id}`, port: 5432, database: 'inventory', user: 'cdc_reader', password: 'x' },
      })),
    ),
  },
  'wms-adapter': { CDC__WMS__TOKEN: 'x', CDC__WMS__HMAC_SECRET: 'x' },
  'erp-adapter': { CDC__ERP__TOKEN: 'x', CDC__ERP__HMAC_SECRET: 'x' },
};

function startWorker(kind: string, env: Record<string, string>): { worker: WorkerProcess; port: number } {
  const port = nextPort++;
  const worker = new WorkerProcess(
    kind,
    { CDC__HTTP__PORT: String(port), CDC__HTTP__HOST: '127.0.0.1', ...env },
    `${uniqueName(kind)}-${port}`,
  );
  worker.start();
  return { worker, port };
}

describe('plain text to non-loopback hosts at start (security.profile)', () => {
  it.each(Object.keys(composeEnv))(
    'compose’s %s config runs under the production profile, allowing exactly the plaintext connections it has',
    async (kind) => {
      const file = `${configDir}/${kind}.yaml`;
      const security = (YAML.parse(readFileSync(file, 'utf8')) as { security: { profile: string; allowPlaintext: string[] } }).security;
      expect(security.profile).toBe('production');
      // Without the allowance, the worker refuses to start and names every plaintext connection it has.
      const { worker } = startWorker(kind, { CDC_CONFIG_FILE: file, ...composeEnv[kind], CDC__SECURITY__ALLOW_PLAINTEXT: '[]' });
      expect(await worker.exitCode()).toBe(2);
      const output = readFileSync(worker.logFile, 'utf8');
      const refused = /refuses plaintext connections to non-loopback hosts: (.*) \(configure TLS/.exec(output)?.[1]?.split(', ');
      expect(refused?.sort()).toEqual([...security.allowPlaintext].sort());
      expect(output).toMatch(/"level":"warn".*"msg":"plaintext connection to a non-loopback host"/);
    },
  );

  it('under the development profile (the default) logs a warning per plaintext connection and goes on to start', async () => {
    const stack = testStackEndpoints();
    const { worker } = startWorker('wms-adapter', {
      CDC__SERVICE_NAME: 'wms-adapter-transport',
      CDC__KAFKA__BROKERS: stack.kafkaBrokers.join(','),
      CDC__REGISTRY__URL: stack.registryUrl,
      CDC__TOPICS__PREFIX: uniqueName('transport'),
      CDC__WMS__BASE_URL: 'http://wms.example.invalid:8080',
      CDC__WMS__TOKEN: 'x',
      CDC__WMS__HMAC_SECRET: 'x',
    });
    try {
      const lines = (): string[] => readFileSync(worker.logFile, 'utf8').split('\n');
      const warning = await waitFor('the warning line', () =>
        lines().find((line) => line.includes('plaintext connection to a non-loopback host')),
      );
      expect(JSON.parse(warning)).toMatchObject({
        level: 'warn',
        key: 'wms.baseUrl',
        host: 'wms.example.invalid',
        hint: 'use an https:// URL in wms.baseUrl',
      });
      // Past the check: it connects to Kafka (whose topics this test does not make), or is still at it.
      await waitFor(
        'the start after the check',
        () => lines().some((line) => /"msg":"(start failed|health server listening|ready)"/.test(line)) || !worker.isRunning(),
      );
      expect(lines().filter((line) => line.includes('plaintext connection to a non-loopback host'))).toHaveLength(1);
      expect(lines().some((line) => line.includes('refuses plaintext'))).toBe(false);
    } finally {
      await worker.terminate();
    }
    expect(await worker.exitCode()).not.toBe(2);
  });
});
