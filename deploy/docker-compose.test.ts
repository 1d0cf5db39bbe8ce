import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import YAML from 'yaml';

/** The slice of `docker-compose config` output (normalised by docker-compose) that these checks read. */
interface Service {
  image?: string;
  command?: string | string[];
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
const sinks = ['redis-cache', 'wms-adapter', 'erp-adapter'];

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

  it('gives every worker a healthcheck and waits for healthy dependencies', () => {
    const workers = services.filter(([name]) => name.startsWith('wal-reader-') || sinks.includes(name));
    expect(workers.map(([name]) => name)).toEqual(expect.arrayContaining(['wal-reader-0', 'wal-reader-1', ...sinks]));
    const problems = workers.flatMap(([name, service]) => {
      const dependencies = Object.entries(service.depends_on ?? {});
      return [
        ...(hasHealthcheck(service) ? [] : [`${name}: no healthcheck`]),
        ...(dependencies.length === 0 ? [`${name}: no depends_on`] : []),
        ...dependencies
          .filter(([, dependency]) => dependency.condition !== 'service_healthy')
          .map(([dependency]) => `${name}: depends on ${dependency} without condition service_healthy`),
      ];
    });
    expect(problems).toEqual([]);
  });

  it('runs every Postgres with wal_level=logical', () => {
    const postgres = services.filter(([, service]) => service.image?.startsWith('postgres:'));
    expect(postgres.length).toBeGreaterThanOrEqual(2);
    const withoutLogicalWal = postgres.filter(([, service]) => ![service.command ?? ''].flat().join(' ').includes('wal_level=logical'));
    expect(withoutLogicalWal.map(([name]) => name)).toEqual([]);
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
