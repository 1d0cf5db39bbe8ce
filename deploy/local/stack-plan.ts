/**
 * The local stack's fixed port plan and where it keeps its files.
 *
 * Everything here is pure (environment variables aside): tests and workers compute the endpoints of the
 * local stack without starting or even asking it, so the plan must be the single source of truth for ports.
 *
 * A checkout has one default stack (`.local/stack/`, ports shifted by `CDC_STACK_PORT_BASE`). A test that
 * breaks servers on purpose runs a stack of its own beside it: a `StackSite` with its own directory and
 * port offset, passed to every stack function.
 */
import * as os from 'node:os';
import * as path from 'node:path';

/** Versions pinned by `deploy/local/pom.xml`; the cache file names carry them so an upgrade re-resolves. */
export const KAFKA_VERSION = '3.9.1';
export const REGISTRY_VERSION = '3.3.3';

/** Shard count when neither the caller nor `CDC_STACK_SHARDS` says otherwise. */
export const DEFAULT_SHARDS = 2;
/** A sanity bound: each shard is a whole Postgres cluster (~30 MB RSS + its ports). */
export const MAX_SHARDS = 16;

/**
 * Base ports before the `CDC_STACK_PORT_BASE` offset; far from the machine's own 5432/6379/9092/8081, and
 * below Linux's ephemeral range (32768–60999 by default): a port in it can be taken at any moment as the
 * local end of some client's connection, and a server that restarts then cannot bind it.
 */
const BASE_PORTS = {
  postgres: 25432,
  kafka: 29092,
  kafkaController: 29093,
  registry: 28081,
  registryManagement: 29000,
  redis: 26379,
} as const;

export interface StackEndpoints {
  shards: { id: number; host: string; port: number; database: string; user: string; url: string }[];
  kafkaBrokers: string[];
  /** Confluent-compatible API of Apicurio Registry: http://127.0.0.1:PORT/apis/ccompat/v7 */
  registryUrl: string;
  /** redis://127.0.0.1:PORT */
  redisUrl: string;
}

export interface PortPlan {
  postgres(shard: number): number;
  kafka: number;
  kafkaController: number;
  registry: number;
  registryManagement: number;
  redis: number;
}

export const STACK_HOST = '127.0.0.1';
export const SHARD_DATABASE = 'inventory';
export const SHARD_USER = 'postgres';

/**
 * Offset added to every port, from `CDC_STACK_PORT_BASE` (default 0), so two checkouts (or a CI job next to
 * a developer's stack) can run side by side.
 */
export function portOffset(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['CDC_STACK_PORT_BASE']?.trim();
  if (!raw) return 0;
  return checkedPortOffset(Number(raw), `CDC_STACK_PORT_BASE must be an integer offset that keeps ports in 1024..65535, got "${raw}"`);
}

/** The offsets that keep every port of the plan in 1024..65535. */
export const PORT_OFFSET_RANGE = {
  min: 1024 - BASE_PORTS.postgres,
  // The Kafka SASL and SSL listeners take the two ports after the controller's (stack-kafka.ts).
  max: 65535 - 2 - Math.max(...Object.values(BASE_PORTS)),
} as const;

/** The highest port of a plan at offset 0: Kafka's SSL listener, two after the controller's (stack-kafka.ts). */
const HIGHEST_BASE_PORT = Math.max(...Object.values(BASE_PORTS)) + 2;
/** Where Linux's default ephemeral port range begins (see `BASE_PORTS`). */
const EPHEMERAL_PORTS_START = 32_768;

/**
 * The port offset of a stack of its own (`namedStackSite`) `away` from the checkout's stack at `shared`:
 * above it, or below it when above would put a port into the ephemeral range (where a restarted server
 * may find its port taken by some client's connection) or past 65535. Falls back to above/below within the
 * port range when neither side stays clear of the ephemeral range.
 */
export function neighbourStackOffset(shared: number, away: number): number {
  const inRange = (offset: number): boolean => offset >= PORT_OFFSET_RANGE.min && offset <= PORT_OFFSET_RANGE.max;
  const clear = (offset: number): boolean => inRange(offset) && HIGHEST_BASE_PORT + offset < EPHEMERAL_PORTS_START;
  const above = shared + away;
  const below = shared - away;
  if (clear(above)) return above;
  if (clear(below)) return below;
  return inRange(above) ? above : below;
}

function checkedPortOffset(offset: number, message: string): number {
  if (!Number.isInteger(offset) || offset < PORT_OFFSET_RANGE.min || offset > PORT_OFFSET_RANGE.max) throw new Error(message);
  return offset;
}

/** Where one stack lives: its data directory (data, logs, state file, lock) and the offset of its ports. */
export interface StackSite {
  dir: string;
  portOffset: number;
}

/** The checkout's own stack: `.local/stack/`, ports shifted by `CDC_STACK_PORT_BASE`. */
export function defaultStackSite(env: NodeJS.ProcessEnv = process.env): StackSite {
  return { dir: path.join(repoRoot(), '.local', 'stack'), portOffset: portOffset(env) };
}

/**
 * A stack of its own next to the default one, in `.local/stack-<name>/` with ports shifted by `offset`:
 * for tests that stop, kill or wipe servers, which would break every other test sharing the default stack.
 * The caller picks an offset no other stack on the machine uses.
 */
export function namedStackSite(name: string, offset: number): StackSite {
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) throw new Error(`a stack name is lower-case letters, digits and dashes, got "${name}"`);
  const checked = checkedPortOffset(
    offset,
    `the port offset of stack ${name} must keep ports in 1024..65535 (${PORT_OFFSET_RANGE.min}..${PORT_OFFSET_RANGE.max}), got ${offset}`,
  );
  return { dir: path.join(repoRoot(), '.local', `stack-${name}`), portOffset: checked };
}

export function portPlan(offset: number = portOffset()): PortPlan {
  return {
    postgres: (shard) => BASE_PORTS.postgres + offset + shard,
    kafka: BASE_PORTS.kafka + offset,
    kafkaController: BASE_PORTS.kafkaController + offset,
    registry: BASE_PORTS.registry + offset,
    registryManagement: BASE_PORTS.registryManagement + offset,
    redis: BASE_PORTS.redis + offset,
  };
}

/** Explicit argument, else `CDC_STACK_SHARDS`, else the default; validated because it sizes port ranges. */
export function requestedShards(explicit?: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = explicit ?? (env['CDC_STACK_SHARDS']?.trim() ? Number(env['CDC_STACK_SHARDS']) : DEFAULT_SHARDS);
  if (!Number.isInteger(raw) || raw < 1 || raw > MAX_SHARDS) {
    throw new Error(`shard count must be an integer in 1..${MAX_SHARDS}, got ${String(explicit ?? env['CDC_STACK_SHARDS'])}`);
  }
  return raw;
}

/** The endpoints of a stack with `shards` shards under the site's port plan; does no I/O. */
export function localStackEndpoints(shards?: number, site: StackSite = defaultStackSite()): StackEndpoints {
  const count = requestedShards(shards);
  const plan = portPlan(site.portOffset);
  return {
    shards: Array.from({ length: count }, (_, id) => {
      const port = plan.postgres(id);
      return {
        id,
        host: STACK_HOST,
        port,
        database: SHARD_DATABASE,
        user: SHARD_USER,
        url: `postgres://${SHARD_USER}@${STACK_HOST}:${port}/${SHARD_DATABASE}`,
      };
    }),
    kafkaBrokers: [`${STACK_HOST}:${plan.kafka}`],
    registryUrl: `http://${STACK_HOST}:${plan.registry}/apis/ccompat/v7`,
    redisUrl: `redis://${STACK_HOST}:${plan.redis}`,
  };
}

/** The repository root: this file lives in `<repo>/deploy/local/`. */
export function repoRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

/** Data, logs, the state file and the lock: inside the repo (git-ignored) so each checkout has its own stack. */
export function stackDir(site: StackSite = defaultStackSite()): string {
  return site.dir;
}

/** Downloads and extracted servers: outside the repo, shared by checkouts, survive `stack:down --wipe`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CACHE_HOME']?.trim() || path.join(os.homedir(), '.cache');
  return path.join(base, 'inventory-cdc');
}

export function pomPath(): string {
  return path.join(repoRoot(), 'deploy', 'local', 'pom.xml');
}

export function stateFilePath(site: StackSite = defaultStackSite()): string {
  return path.join(site.dir, 'stack.json');
}
