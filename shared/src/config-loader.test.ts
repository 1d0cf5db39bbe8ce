import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { kafkaConfigSchema, workerConfigSchema } from './config-common';
import { loadConfig, redactSecrets } from './config-loader';
import { ConfigError } from './errors';

const schema = workerConfigSchema.extend({
  kafka: kafkaConfigSchema,
  batch: z.object({ maxEvents: z.number().int().positive() }).strict(),
});

function writeConfig(text: string, name = 'worker.yaml'): string {
  const file = join(mkdtempSync(join(tmpdir(), 'config-')), name);
  writeFileSync(file, text);
  return file;
}

function issuesOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const validYaml = `
serviceName: wal-reader-0
http: { port: 9101 }
kafka: { brokers: [127.0.0.1:59092] }
batch: { maxEvents: 500 }
`;

describe('loadConfig', () => {
  it('reads a YAML file and fills in documented defaults', () => {
    const config = loadConfig(schema, { file: writeConfig(validYaml) });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(config.kafka.brokers).toEqual(['127.0.0.1:59092']);
    expect(config.shutdown.graceMs).toBe(20_000);
    expect(config.log.level).toBe('info');
  });

  it('reads a JSON file', () => {
    const file = writeConfig(
      JSON.stringify({ serviceName: 's', http: { port: 1 }, kafka: { brokers: ['b:1'] }, batch: { maxEvents: 1 } }),
      'c.json',
    );
    expect(loadConfig(schema, { file }).serviceName).toBe('s');
  });

  it.each([
    [
      'an unclosed quote',
      `${validYaml}wms:\n  token: "s3cret-planted-value\n  baseUrl: http://wms\n`,
      /YAML syntax error MISSING_CHAR at line \d+, column \d+/,
    ],
    [
      'a bad indent',
      `${validYaml}token: s3cret-planted-value\n  - x: [s3cret-planted-value\n`,
      /YAML syntax error \w+ at line \d+, column \d+/,
    ],
  ])('names the line of a YAML syntax error (%s) without printing it', (_case, text, message) => {
    const issues = issuesOf(() => loadConfig(schema, { file: writeConfig(text) }));
    expect(issues.join('\n')).toMatch(message);
    expect(issues.join('\n')).not.toContain('s3cret-planted-value');
  });

  it('names the line of a JSON syntax error without printing the text around it', () => {
    const file = writeConfig('{\n  "serviceName": "s",\n  "password": "s3cret-planted-value" oops\n}', 'c.json');
    const issues = issuesOf(() => loadConfig(schema, { file })).join('\n');
    expect(issues).toMatch(/JSON syntax error at line 3, column \d+/);
    expect(issues).not.toContain('s3cret-planted-value');
  });

  it('applies environment overrides with typed values, nesting and camelCase keys', () => {
    const config = loadConfig(schema, {
      file: writeConfig(validYaml),
      env: { CDC__BATCH__MAX_EVENTS: '42', CDC__KAFKA__BROKERS: 'a:1, b:2', CDC__KAFKA__CLIENT_ID: 'x', OTHER__BATCH__MAX_EVENTS: '7' },
    });
    expect(config.batch.maxEvents).toBe(42);
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(config.kafka.clientId).toBe('x');
  });

  it('reads a secret from the file named by a _FILE override', () => {
    const secretFile = writeConfig('s3cret\n', 'password');
    const config = loadConfig(schema, {
      file: writeConfig(validYaml),
      env: { CDC__KAFKA__SASL__MECHANISM: 'plain', CDC__KAFKA__SASL__USERNAME: 'u', CDC__KAFKA__SASL__PASSWORD_FILE: secretFile },
    });
    expect(config.kafka.sasl?.password).toBe('s3cret');
  });

  it('takes a secret from the environment verbatim, not as YAML', () => {
    const config = loadConfig(schema, {
      file: writeConfig(validYaml),
      env: { CDC__KAFKA__SASL__MECHANISM: 'plain', CDC__KAFKA__SASL__USERNAME: 'u', CDC__KAFKA__SASL__PASSWORD: '0123 #x' },
    });
    expect(config.kafka.sasl?.password).toBe('0123 #x');
  });

  it('names the key path and the rule of every problem at once', () => {
    const issues = issuesOf(() =>
      loadConfig(schema, {
        file: writeConfig(validYaml),
        env: { CDC__BATCH__MAX_EVENTS: '-1', CDC__HTTP__PORT: '"abc"', CDC__KAFKA__BROKRS: 'x' },
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^batch\.maxEvents: /),
        expect.stringMatching(/^http\.port: /),
        'kafka.brokrs: unknown key',
      ]),
    );
  });

  it('reports a missing required section by name', () => {
    const issues = issuesOf(() => loadConfig(schema, { file: writeConfig('serviceName: s\nhttp: { port: 1 }\nbatch: { maxEvents: 1 }') }));
    expect(issues).toEqual(['kafka: Required']);
  });

  it('reports an unreadable or malformed file', () => {
    expect(issuesOf(() => loadConfig(schema, { file: '/nonexistent/worker.yaml' }))[0]).toMatch(/cannot read \/nonexistent\/worker\.yaml/);
    expect(issuesOf(() => loadConfig(schema, { file: writeConfig('- a\n- b\n') }))[0]).toMatch(/top level must be a mapping/);
  });
});

describe('redactSecrets', () => {
  it('replaces secret-looking values at any depth and keeps the rest', () => {
    const redacted = redactSecrets({ kafka: { sasl: { username: 'u', password: 'p' } }, wms: { hmacSecret: 'h', apiToken: 't' }, port: 1 });
    expect(redacted).toEqual({
      kafka: { sasl: { username: 'u', password: '[redacted]' } },
      wms: { hmacSecret: '[redacted]', apiToken: '[redacted]' },
      port: 1,
    });
  });
});
