/**
 * The local stack as a library: Postgres shards, Kafka (KRaft), Apicurio Registry and Redis, started from
 * installed binaries and Maven Central on 127.0.0.1 (no Docker here). Integration tests and the demo call
 * `stackUp()`; the CLI (`stack-cli.ts`) is a thin wrapper.
 *
 * Idempotent by design: every call re-checks each server (our pid alive AND its port answering) and starts
 * only what is missing, so tests can call `stackUp()` unconditionally and pay ~1 s when the stack is up.
 */
import * as fs from 'node:fs';
import { type StackEndpoints, localStackEndpoints, portOffset, requestedShards, stackDir } from './stack-plan';
import { type LogFn, StackError, portAnswers, residentBytes } from './stack-process';
import { type StackState, StateStore, readState, withStackLock, writeState } from './stack-state';
import { type StackService, ensureRunning, mainPort, runningPid, stopService } from './stack-service';
import { postgresService } from './stack-postgres';
import { kafkaService } from './stack-kafka';
import { registryService } from './stack-registry';
import { redisService } from './stack-redis';

export type { StackEndpoints } from './stack-plan';
export { localStackEndpoints } from './stack-plan';
export { StackError } from './stack-process';

export interface StackUpOptions {
  /** Postgres shards to have running; default `CDC_STACK_SHARDS` or 2. More running ones are left alone. */
  shards?: number;
  log?: (line: string) => void;
}

export interface StackDownOptions {
  log?: (line: string) => void;
  /** Also delete data, logs and the state file (`.local/stack/`); downloads in the user cache stay. */
  wipe?: boolean;
}

export interface ServiceStatus {
  service: string;
  pid?: number;
  port: number;
  up: boolean;
  rssBytes?: number;
}

const silent: LogFn = () => undefined;

/**
 * The servers of a stack with `shards` shards, slowest starter first: Promise.all begins them in this order
 * and the registry JVM (8-15 s) dominates the wall time.
 */
function stackServices(shards: number): StackService[] {
  return [registryService(), kafkaService(), redisService(), ...Array.from({ length: shards }, (_, shard) => postgresService(shard))];
}

/** Shards that may have a server: the state file's count, or the pg-<i> directories (the file may be lost). */
function knownShards(state: StackState | undefined): number {
  let fromDirs = 0;
  try {
    for (const entry of fs.readdirSync(stackDir())) {
      const match = /^pg-(\d+)$/.exec(entry);
      if (match?.[1] !== undefined) fromDirs = Math.max(fromDirs, Number(match[1]) + 1);
    }
  } catch {
    // no stack directory yet
  }
  return Math.max(state?.shards ?? 0, fromDirs);
}

function emptyState(shards: number): StackState {
  return { version: 1, shards, portOffset: portOffset(), services: {} };
}

/** Collects the failures of parallel work into one error that names each failed service. */
function throwFailures(what: string, services: StackService[], results: PromiseSettledResult<unknown>[]): void {
  const failures = results.flatMap((result, i) =>
    result.status === 'rejected'
      ? [`${services[i]?.name ?? '?'}: ${result.reason instanceof Error ? result.reason.message : String(result.reason)}`]
      : [],
  );
  if (failures.length > 0) throw new StackError(`${what} failed for ${failures.length} service(s):\n\n${failures.join('\n\n')}`);
}

/**
 * Brings the stack up (idempotently) and resolves once every server answers like a client expects. Servers
 * that started fine stay up when another one fails; the error names each failure with its log tail.
 */
export function stackUp(opts: StackUpOptions = {}): Promise<StackEndpoints> {
  const log = opts.log ?? silent;
  const shards = requestedShards(opts.shards);
  return withStackLock(log, async () => {
    const previous = readState();
    const store = new StateStore(previous ?? emptyState(shards));
    store.state.portOffset = portOffset();
    // Shards beyond the request that still run stay part of the stack (status, down); stopped ones drop out.
    let running = 0;
    for (let shard = 0; shard < knownShards(previous); shard++) {
      if (runningPid(postgresService(shard), store) !== undefined) running = shard + 1;
    }
    // Recorded before anything starts, so stackDown covers every shard even if this call fails half-way.
    store.setShards(Math.max(running, shards));
    const services = stackServices(shards);
    const results = await Promise.allSettled(services.map((service) => ensureRunning(service, store, log)));
    throwFailures('stack up', services, results);
    return localStackEndpoints(shards);
  });
}

/**
 * Stops every server this stack started (recorded pids, plus pids our Postgres/Redis wrote into our data
 * area), and waits until each is gone. Data stays unless `wipe`.
 */
export function stackDown(opts: StackDownOptions = {}): Promise<void> {
  const log = opts.log ?? silent;
  return withStackLock(log, async () => {
    const previous = readState();
    const store = new StateStore(previous ?? emptyState(0));
    const services = stackServices(knownShards(previous));
    const results = await Promise.allSettled(
      services.map(async (service) => {
        const pid = runningPid(service, store);
        if (pid !== undefined) await stopService(service, pid, log);
        store.forget(service.name);
      }),
    );
    throwFailures('stack down', services, results);
    if (opts.wipe) {
      for (const entry of fs.readdirSync(stackDir())) {
        if (entry !== 'stack.lock') fs.rmSync(`${stackDir()}/${entry}`, { recursive: true, force: true });
      }
      log(`wiped ${stackDir()}`);
    } else if (previous) {
      writeState({ ...store.state, services: {} });
    }
  });
}

/**
 * Stops one server of the running stack and starts it again (e.g. the registry, to prove what survives a
 * restart); resolves once it answers. Only a server this stack started is stopped.
 */
export function restartStackService(name: 'registry' | 'kafka' | 'redis', opts: { log?: LogFn } = {}): Promise<void> {
  const log = opts.log ?? silent;
  return withStackLock(log, async () => {
    const store = new StateStore(readState() ?? emptyState(0));
    const service = stackServices(0).find((candidate) => candidate.name === name)!;
    const pid = runningPid(service, store);
    if (pid !== undefined) await stopService(service, pid, log);
    store.forget(service.name);
    await ensureRunning(service, store, log);
  });
}

/** One row per server of the last `stackUp`'s shard count: our pid if it runs, its port, whether it answers, its RSS. */
export async function stackStatus(): Promise<ServiceStatus[]> {
  const state = readState();
  const shards = state?.shards || requestedShards();
  const store = new StateStore(state ?? emptyState(shards));
  const services = stackServices(shards);
  const order = (s: StackService): number => (s.name.startsWith('postgres-') ? 0 : 1);
  services.sort((a, b) => order(a) - order(b));
  return Promise.all(
    services.map(async (service): Promise<ServiceStatus> => {
      const port = mainPort(service);
      const pid = runningPid(service, store);
      if (pid === undefined) return { service: service.name, port, up: false };
      const rssBytes = residentBytes(pid);
      const status: ServiceStatus = { service: service.name, pid, port, up: await portAnswers(port) };
      return rssBytes === undefined ? status : { ...status, rssBytes };
    }),
  );
}

/** True when every server of the last `stackUp`'s shard count runs as ours and answers on its port. */
export async function isStackUp(): Promise<boolean> {
  return (await stackStatus()).every((row) => row.up);
}
