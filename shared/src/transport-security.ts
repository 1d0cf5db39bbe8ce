import { z } from 'zod';

/**
 * What a worker does, at start, about connections that would cross a network in plain text: a Postgres
 * connection with `sslmode: disable`, Kafka brokers without `ssl`, a `redis://` URL without `tls`, an
 * `http://` WMS or ERP `baseUrl` — each to a host that is not loopback (loopback is the local stack's and
 * the demo's, and never leaves the machine).
 */
export const securityConfigSchema = z
  .object({
    /**
     * `development` (default): each such connection is logged as a warning at start. `production`: the
     * worker refuses to start (exit 2) naming their key paths, unless they are in `allowPlaintext`.
     */
    profile: z.enum(['development', 'production']).default('development'),
    /**
     * Key paths of connections whose plain text is protected by other means and accepted under
     * `production` (a service mesh's mutual TLS, a host-local network), e.g. `[redis.url, kafka.brokers]`.
     * Default none.
     */
    allowPlaintext: z.array(z.string().min(1)).default([]),
  })
  .strict();

export type SecurityConfig = z.infer<typeof securityConfigSchema>;

/** One connection in a config that would carry its traffic in plain text. */
export interface PlaintextConnection {
  /** Key path in the config, e.g. `shard.connection`, `rebuild.shards[1].connection`, `wms.baseUrl`. */
  path: string;
  kind: 'postgres' | 'kafka' | 'redis' | 'http';
  /** The first host of it that is not loopback. */
  host: string;
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

function hostOfUrl(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}

/** `host:port` of a Kafka broker, IPv6 in brackets. */
function hostOfBroker(broker: string): string {
  return broker.startsWith('[') ? broker.slice(0, broker.indexOf(']') + 1) : (broker.split(':')[0] ?? broker);
}

function classify(path: string, key: string, value: unknown): PlaintextConnection | undefined {
  if (typeof value === 'string') {
    if (key === 'baseUrl' && value.startsWith('http://')) return { path, kind: 'http', host: hostOfUrl(value) };
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const node = value as Record<string, unknown>;
  if (typeof node.host === 'string' && node.sslmode === 'disable') return { path, kind: 'postgres', host: node.host };
  if (Array.isArray(node.brokers) && node.ssl === false) {
    const host = node.brokers.map((broker) => hostOfBroker(String(broker))).find((broker) => !isLoopbackHost(broker));
    return host === undefined ? undefined : { path: `${path}.brokers`, kind: 'kafka', host };
  }
  if (typeof node.url === 'string' && node.url.startsWith('redis://') && node.tls === undefined)
    return { path: `${path}.url`, kind: 'redis', host: hostOfUrl(node.url) };
  return undefined;
}

/** Every connection of a (validated) worker config that would go to a non-loopback host in plain text. */
export function plaintextConnectionsOf(config: unknown): PlaintextConnection[] {
  const found: PlaintextConnection[] = [];
  const visit = (value: unknown, path: string, key: string): void => {
    const connection = classify(path, key, value);
    if (connection) {
      if (!isLoopbackHost(connection.host)) found.push(connection);
      return;
    }
    if (Array.isArray(value)) value.forEach((item, index) => visit(item, `${path}[${index}]`, key));
    else if (typeof value === 'object' && value !== null)
      for (const [child, item] of Object.entries(value)) visit(item, path ? `${path}.${child}` : child, child);
  };
  visit(config, '', '');
  return found;
}

/** The operator's fix for one plaintext connection. */
export function tlsHintOf(connection: PlaintextConnection): string {
  switch (connection.kind) {
    case 'postgres':
      return `set ${connection.path}.sslmode to verify-full (with sslRootCert)`;
    case 'kafka':
      return `set ${connection.path.replace(/\.brokers$/, '')}.ssl`;
    case 'redis':
      return `use a rediss:// URL in ${connection.path}`;
    case 'http':
      return `use an https:// URL in ${connection.path}`;
  }
}

/** The connections `security` does not accept: all of them under `production`, less `allowPlaintext`. */
export function refusedPlaintext(connections: PlaintextConnection[], security: SecurityConfig): PlaintextConnection[] {
  if (security.profile !== 'production') return [];
  return connections.filter((connection) => !security.allowPlaintext.includes(connection.path));
}
