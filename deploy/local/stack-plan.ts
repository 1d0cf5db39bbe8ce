/**
 * The local stack's fixed port plan and where it keeps its files.
 *
 * Everything here is pure (environment variables aside): tests and workers compute the endpoints of the
 * local stack without starting or even asking it, so the plan must be the single source of truth for ports.
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

/** Base ports before the `CDC_STACK_PORT_BASE` offset; far from the machine's own 5432/6379/9092/8081. */
const BASE_PORTS = {
  postgres: 55432,
  kafka: 59092,
  kafkaController: 59093,
  registry: 58081,
  registryManagement: 59000,
  redis: 56379,
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
  const offset = Number(raw);
  const lowest = BASE_PORTS.postgres + offset;
  const highest = Math.max(...Object.values(BASE_PORTS)) + offset;
  if (!Number.isInteger(offset) || lowest < 1024 || highest > 65535) {
    throw new Error(`CDC_STACK_PORT_BASE must be an integer offset that keeps ports in 1024..65535, got "${raw}"`);
  }
  return offset;
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

/** The endpoints of a stack with `shards` shards under the current port plan; does no I/O. */
export function localStackEndpoints(shards?: number): StackEndpoints {
  const count = requestedShards(shards);
  const plan = portPlan();
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
export function stackDir(): string {
  return path.join(repoRoot(), '.local', 'stack');
}

/** Downloads and extracted servers: outside the repo, shared by checkouts, survive `stack:down --wipe`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CACHE_HOME']?.trim() || path.join(os.homedir(), '.cache');
  return path.join(base, 'inventory-cdc');
}

export function pomPath(): string {
  return path.join(repoRoot(), 'deploy', 'local', 'pom.xml');
}

export function stateFilePath(): string {
  return path.join(stackDir(), 'stack.json');
}
