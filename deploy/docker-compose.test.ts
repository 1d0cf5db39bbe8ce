import { inventoryDdl } from '@inventory-cdc/shared/testing';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import YAML from 'yaml';

/** The slice of `docker-compose config` output (normalised by docker-compose) that these checks read. */
interface Service {
  image?: string;
  command?: string | string[];
  environment?: Record<string, string | number | null>;
  secrets?: (string | { source: string })[];
  network_mode?: string;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: Record<string, { condition?: string }>;
  ports?: (string | { host_ip?: string; published?: string | number; target?: number })[];
  volumes?: (string | { type?: string; source?: string })[];
}
interface ComposeConfig {
  services: Record<string, Service>;
  secrets?: Record<string, { file?: string }>;
}

const root = resolve(__dirname, '..');
const readers = ['wal-reader-0', 'wal-reader-1'];
const sinks = ['redis-cache', 'wms-adapter', 'erp-adapter'];
const receivers = ['wms', 'erp'];

function compose(...args: string[]): string {
  try {
    return execFileSync('docker-compose', ['-f', 'docker-compose.yml', ...args], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('docker-compose not found: apt-get install docker-compose');
    throw error;
  }
}

/** Host source of a bind mount, or undefined for a named volume (config output gives bind sources as absolute paths). */
function bindSource(volume: NonNullable<Service['volumes']>[number]): string | undefined {
  if (typeof volume === 'string') return volume.startsWith('/') ? volume.split(':')[0] : undefined;
  return volume.type === 'bind' ? volume.source : undefined;
}

/** `host:container` of every bind mount, hosts as absolute paths (as `docker-compose config` prints them). */
function bindMounts(service: Service): { source: string; target: string }[] {
  return (service.volumes ?? []).flatMap((volume) => {
    if (typeof volume !== 'string') return [];
    const [source, target] = volume.split(':');
    return source?.startsWith('/') && target ? [{ source, target }] : [];
  });
}

function secretNames(service: Service): string[] {
  return (service.secrets ?? []).map((secret) => (typeof secret === 'string' ? secret : secret.source));
}

/** A disabled healthcheck (`disable: true`) comes out of `docker-compose config` as `test: [NONE]`. */
function hasHealthcheck(service: Service): boolean {
  const test = [service.healthcheck?.test ?? []].flat();
  return test.length > 0 && test[0] !== 'NONE' && !service.healthcheck?.disable;
}

describe('docker-compose.yml', () => {
  let config: ComposeConfig;
  let services: [string, Service][];

  beforeAll(() => {
    config = YAML.parse(compose('config')) as ComposeConfig;
    services = Object.entries(config.services);
  });

  it('passes `docker-compose config -q`', () => {
    expect(compose('config', '-q')).toBe('');
  });

  it('runs every worker and reference receiver', () => {
    expect(Object.keys(config.services)).toEqual(
      expect.arrayContaining([...readers, ...sinks, ...receivers, 'kafka', 'schema-registry', 'redis', 'prometheus', 'grafana']),
    );
  });

  it('gives every service a healthcheck and waits only for healthy dependencies', () => {
    const problems = services.flatMap(([name, service]) => [
      ...(hasHealthcheck(service) ? [] : [`${name}: no healthcheck`]),
      ...Object.entries(service.depends_on ?? {})
        .filter(([, dependency]) => dependency.condition !== 'service_healthy')
        .map(([dependency]) => `${name}: depends on ${dependency} without condition service_healthy`),
    ]);
    expect(problems).toEqual([]);
  });

  it('starts the workers after what they need: brokers and registry, their shard, the readers (topics), their downstream', () => {
    const needs: Record<string, string[]> = {
      'wal-reader-0': ['kafka', 'schema-registry', 'postgres-0'],
      'wal-reader-1': ['kafka', 'schema-registry', 'postgres-1'],
      'redis-cache': ['kafka', 'schema-registry', ...readers, 'redis'],
      'wms-adapter': ['kafka', 'schema-registry', ...readers, 'wms'],
      'erp-adapter': ['kafka', 'schema-registry', ...readers, 'erp'],
      wms: ['receivers-db'],
      erp: ['receivers-db'],
      grafana: ['prometheus'],
    };
    const missing = Object.entries(needs).flatMap(([name, dependencies]) =>
      dependencies.filter((dependency) => !config.services[name]?.depends_on?.[dependency]).map((dependency) => `${name} -> ${dependency}`),
    );
    expect(missing).toEqual([]);
  });

  it('hands the WMS and ERP token and HMAC secret to adapter and receiver as compose secrets', () => {
    const problems = (['wms', 'erp'] as const).flatMap((system) => {
      const secrets = [`${system}_token`, `${system}_hmac_secret`];
      const adapter = config.services[`${system}-adapter`]!;
      const receiver = config.services[system]!;
      const prefix = `CDC__${system.toUpperCase()}__`;
      return [
        ...secrets.filter((secret) => !config.secrets?.[secret]?.file).map((secret) => `secret ${secret} not defined from a file`),
        ...secrets.filter((secret) => !secretNames(adapter).includes(secret)).map((secret) => `${system}-adapter lacks ${secret}`),
        ...secrets.filter((secret) => !secretNames(receiver).includes(secret)).map((secret) => `${system} lacks ${secret}`),
        ...(adapter.environment?.[`${prefix}TOKEN_FILE`] === `/run/secrets/${system}_token`
          ? []
          : [`${system}-adapter: ${prefix}TOKEN_FILE`]),
        ...(adapter.environment?.[`${prefix}HMAC_SECRET_FILE`] === `/run/secrets/${system}_hmac_secret`
          ? []
          : [`${system}-adapter: ${prefix}HMAC_SECRET_FILE`]),
        ...Object.entries({ ...adapter.environment, ...receiver.environment })
          .filter(([key, value]) => /TOKEN$|SECRET$|PASSWORD$/.test(key) && value)
          .map(([key]) => `${key} given in plain text`),
      ];
    });
    expect(problems).toEqual([]);
  });

  it('puts no secret on a command line: commands name secret files, never read them into arguments', () => {
    const secretValues = Object.values(config.secrets ?? {}).map((secret) => readFileSync(secret.file!, 'utf8').trim());
    const problems = services.flatMap(([name, service]) => {
      const command = [service.command ?? []].flat().join(' ');
      return [
        ...(/\$\(|`|cat \/run\/secrets/.test(command) ? [`${name}: command reads a secret into its arguments: ${command}`] : []),
        ...secretValues.filter((value) => command.includes(value)).map(() => `${name}: command holds a secret`),
        ...(/--(token|hmac-secret|password)[ =]/.test(command) ? [`${name}: secret option given inline`] : []),
        ...(/:\/\/[^/@\s]+:[^/@\s]+@/.test(command) ? [`${name}: URL with a password`] : []),
      ];
    });
    expect(problems).toEqual([]);
    for (const receiver of receivers) {
      expect([config.services[receiver]!.command].flat()).toEqual(
        expect.arrayContaining(['--database-password-file=/run/secrets/pg_password', `--token-file=/run/secrets/${receiver}_token`]),
      );
    }
  });

  it('lets the readers and the rebuild log in as the least-privilege role, made by the shards’ init script', () => {
    const reader = YAML.parse(readFileSync(join(root, 'deploy', 'config', 'wal-reader.yaml'), 'utf8')) as {
      shard: { connection: { user: string } };
      capture: { tables: string[]; schemas?: string[]; publicationName: string };
    };
    expect(reader.shard.connection.user).toBe('cdc_reader');
    // A schema publication may only be made by a superuser: the role captures named tables.
    expect(reader.capture.schemas).toBeUndefined();
    const cache = YAML.parse(readFileSync(join(root, 'deploy', 'config', 'redis-cache.yaml'), 'utf8')) as {
      rebuild: { shards: { connection: { user: string; passwordFile: string } }[] };
    };
    expect(cache.rebuild.shards.map((shard) => shard.connection)).toEqual(
      cache.rebuild.shards.map(() => expect.objectContaining({ user: 'cdc_reader', passwordFile: '/run/secrets/cdc_reader_password' })),
    );
    for (const name of readers) {
      expect(config.services[name]!.environment?.CDC__SHARD__CONNECTION__PASSWORD_FILE).toBe('/run/secrets/cdc_reader_password');
      expect(secretNames(config.services[name]!)).toEqual(['cdc_reader_password']);
    }
    const init = readFileSync(join(root, 'deploy', 'docker', 'postgres-init', '02-reader-role.sh'), 'utf8');
    expect(init).toContain('create role cdc_reader login replication nosuperuser');
    expect(init).toContain(`create publication ${reader.capture.publicationName} for table ${reader.capture.tables.join(', ')};`);
    expect(init).toContain(`grant select on ${reader.capture.tables.join(', ')} to cdc_reader;`);
    for (const shard of ['postgres-0', 'postgres-1']) expect(secretNames(config.services[shard]!)).toContain('cdc_reader_password');
  });

  it('points each adapter at its receiver and Prometheus at every worker', () => {
    for (const system of ['wms', 'erp']) {
      const file = YAML.parse(readFileSync(join(root, 'deploy', 'config', `${system}-adapter.yaml`), 'utf8')) as Record<
        string,
        { baseUrl: string }
      >;
      expect(new URL(file[system]!.baseUrl).host).toBe(`${system}:8080`);
      expect([config.services[system]!.command].flat().join(' ')).toContain('--port 8080');
    }
    const scrape = YAML.parse(readFileSync(join(root, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const scraped = scrape.scrape_configs.flatMap((job) => job.static_configs.flatMap((targets) => targets.targets));
    expect(scraped).toEqual(expect.arrayContaining([...readers, ...sinks].map((worker) => `${worker}:9464`)));
    const unknownHosts = scraped.map((target) => target.split(':')[0]!).filter((host) => host !== 'localhost' && !config.services[host]);
    expect(unknownHosts).toEqual([]);
  });

  it('mounts the alert rules where prometheus.yml loads them, and the dashboards where Grafana provisions them from', () => {
    const prometheus = bindMounts(config.services.prometheus!);
    expect(prometheus).toEqual(
      expect.arrayContaining([
        { source: join(root, 'deploy', 'prometheus', 'prometheus.yml'), target: '/etc/prometheus/prometheus.yml' },
        { source: join(root, 'deploy', 'prometheus', 'rules'), target: '/etc/prometheus/rules' },
      ]),
    );
    const ruleFiles = (YAML.parse(readFileSync(join(root, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as { rule_files: string[] })
      .rule_files;
    expect(ruleFiles).toEqual(['rules/*.yml']);

    const grafana = bindMounts(config.services.grafana!);
    const provider = YAML.parse(readFileSync(join(root, 'deploy', 'grafana', 'provisioning', 'dashboards', 'cdc.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    expect(grafana).toEqual(
      expect.arrayContaining([
        { source: join(root, 'deploy', 'grafana', 'provisioning'), target: '/etc/grafana/provisioning' },
        { source: join(root, 'deploy', 'grafana', 'dashboards'), target: provider.providers[0]!.options.path },
      ]),
    );
    expect(readdirSync(join(root, 'deploy', 'grafana', 'dashboards')).filter((file) => file.endsWith('.json')).length).toBeGreaterThan(0);
  });

  it('runs every Postgres shard with wal_level=logical and the demo schema', () => {
    const initDir = join(root, 'deploy', 'docker', 'postgres-init');
    const shards = services.filter(([, service]) => bindMounts(service).some((mount) => mount.source === initDir));
    expect(shards.map(([name]) => name)).toEqual(['postgres-0', 'postgres-1']);
    const withoutLogicalWal = shards.filter(([, service]) => ![service.command ?? ''].flat().join(' ').includes('wal_level=logical'));
    expect(withoutLogicalWal.map(([name]) => name)).toEqual([]);
    const words = (sql: string): string => sql.replace(/--.*$/gm, '').replace(/\s+/g, ' ').trim();
    const init = words(readFileSync(join(initDir, '01-schema.sql'), 'utf8'));
    expect(init).toContain(words(inventoryDdl('inventory')));
    expect(init).toContain('alter table inventory.stock replica identity full;');
  });

  it('publishes ports on 127.0.0.1 only', () => {
    const bindings = services.flatMap(([name, service]) => (service.ports ?? []).map((port) => ({ name, port })));
    expect(bindings.length).toBeGreaterThan(0);
    const exposed = bindings.filter(({ port }) =>
      typeof port === 'string' ? !port.startsWith('127.0.0.1:') : port.host_ip !== '127.0.0.1',
    );
    expect(exposed).toEqual([]);
    expect(services.filter(([, service]) => service.network_mode === 'host').map(([name]) => name)).toEqual([]);
  });

  it('references only existing files under ./deploy (bind mounts and secrets)', () => {
    const deployDir = join(root, 'deploy') + sep;
    const sources = [
      ...services.flatMap(([, service]) => (service.volumes ?? []).map(bindSource)),
      ...Object.values(config.secrets ?? {}).map((secret) => secret.file),
    ].filter((source): source is string => source?.startsWith(deployDir) ?? false);
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((source) => !existsSync(source))).toEqual([]);
  });
});
