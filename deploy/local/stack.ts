/**
 * The local stack as a library: Postgres shards, Kafka (KRaft), Apicurio Registry and Redis, started from
 * installed binaries and Maven Central on 127.0.0.1 (no Docker here). Integration tests and the demo call
 * `stackUp()`; the CLI (`stack-cli.ts`) is a thin wrapper.
 *
 * Idempotent by design: every call re-checks each server (our pid alive AND its port answering) and starts
 * only what is missing, so tests can call `stackUp()` unconditionally and pay ~1 s when the stack is up.
 */
import * as fs from 'node:fs';
import { type StackEndpoints, type StackSite, defaultStackSite, localStackEndpoints, requestedShards } from './stack-plan';
import { type LogFn, StackError, portAnswers, residentBytes } from './stack-process';
import { type StackState, StateStore, readState, withStackLock, writeState } from './stack-state';
import { type StackService, ensureRunning, mainPort, runningPid, signalService, stopService } from './stack-service';
import { postgresService } from './stack-postgres';
import { kafkaService } from './stack-kafka';
import { registryService } from './stack-registry';
import { redisService } from './stack-redis';

export type { StackEndpoints, StackSite } from './stack-plan';
export { defaultStackSite, localStackEndpoints, namedStackSite } from './stack-plan';
export { StackError } from './stack-process';

export interface StackUpOptions {
  /** Postgres shards to have running; default `CDC_STACK_SHARDS` or 2. More running ones are left alone. */
  shards?: number;
  log?: (line: string) => void;
  /** Which stack; default the checkout's own (`defaultStackSite()`). */
  site?: StackSite;
}

export interface StackDownOptions {
  log?: (line: string) => void;
  /** Also delete data, logs and the state file (the site's directory); downloads in the user cache stay. */
  wipe?: boolean;
  site?: StackSite;
}

/** A server of the stack that can be stopped and started on its own. */
export type StackServiceName = 'registry' | 'kafka' | 'redis' | `postgres-${number}`;

export interface StopServiceOptions {
  log?: LogFn;
  site?: StackSite;
  /**
   * How to stop it: default the server's own graceful stop; `SIGTERM` or `SIGKILL` send that signal to its
   * pid (and SIGKILL after the grace time, should SIGTERM not end it), as a crash or an orchestrator would.
   */
  signal?: 'SIGTERM' | 'SIGKILL';
  /** Also delete its persistent data (`StackService.dataDir`), so it starts again empty. */
  wipeData?: boolean;
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
function stackServices(site: StackSite, shards: number): StackService[] {
  return [
    registryService(site),
    kafkaService(site),
    redisService(site),
    ...Array.from({ length: shards }, (_, shard) => postgresService(shard, site)),
  ];
}

/** Shards that may have a server: the state file's count, or the pg-<i> directories (the file may be lost). */
function knownShards(site: StackSite, state: StackState | undefined): number {
  let fromDirs = 0;
  try {
    for (const entry of fs.readdirSync(site.dir)) {
      const match = /^pg-(\d+)$/.exec(entry);
      if (match?.[1] !== undefined) fromDirs = Math.max(fromDirs, Number(match[1]) + 1);
    }
  } catch {
    // no stack directory yet
  }
  return Math.max(state?.shards ?? 0, fromDirs);
}

function emptyState(site: StackSite, shards: number): StackState {
  return { version: 1, shards, portOffset: site.portOffset, services: {} };
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
  const site = opts.site ?? defaultStackSite();
  return withStackLock(site, log, async () => {
    const previous = readState(site);
    const store = new StateStore(site, previous ?? emptyState(site, shards));
    store.state.portOffset = site.portOffset;
    // Shards beyond the request that still run stay part of the stack (status, down); stopped ones drop out.
    let running = 0;
    for (let shard = 0; shard < knownShards(site, previous); shard++) {
      if (runningPid(postgresService(shard, site), store) !== undefined) running = shard + 1;
    }
    // Recorded before anything starts, so stackDown covers every shard even if this call fails half-way.
    store.setShards(Math.max(running, shards));
    const services = stackServices(site, shards);
    const results = await Promise.allSettled(services.map((service) => ensureRunning(service, store, log)));
    throwFailures('stack up', services, results);
    return localStackEndpoints(shards, site);
  });
}

/**
 * Stops every server this stack started (recorded pids, plus pids our Postgres/Redis wrote into our data
 * area), and waits until each is gone. Data stays unless `wipe`.
 */
export function stackDown(opts: StackDownOptions = {}): Promise<void> {
  const log = opts.log ?? silent;
  const site = opts.site ?? defaultStackSite();
  return withStackLock(site, log, async () => {
    const previous = readState(site);
    const store = new StateStore(site, previous ?? emptyState(site, 0));
    const services = stackServices(site, knownShards(site, previous));
    const results = await Promise.allSettled(
      services.map(async (service) => {
        const pid = runningPid(service, store);
        if (pid !== undefined) await stopService(service, pid, log);
        store.forget(service.name);
      }),
    );
    throwFailures('stack down', services, results);
    if (opts.wipe) {
      for (const entry of fs.readdirSync(site.dir)) {
        if (entry !== 'stack.lock') fs.rmSync(`${site.dir}/${entry}`, { recursive: true, force: true });
      }
      log(`wiped ${site.dir}`);
    } else if (previous) {
      writeState(site, { ...store.state, services: {} });
    }
  });
}

/** The service of that name in `site`'s stack, with the state store it is recorded in. */
function namedService(site: StackSite, name: StackServiceName): { service: StackService; store: StateStore } {
  const state = readState(site);
  const store = new StateStore(site, state ?? emptyState(site, 0));
  const service = stackServices(site, knownShards(site, state)).find((candidate) => candidate.name === name);
  if (!service) throw new StackError(`the stack in ${site.dir} has no ${name}`);
  return { service, store };
}

/**
 * Stops one server of the running stack (only a server this stack started) and waits until it is gone;
 * it stays down until `startStackService` or `stackUp`. The fault tests' outages.
 */
export function stopStackService(name: StackServiceName, opts: StopServiceOptions = {}): Promise<void> {
  const log = opts.log ?? silent;
  const site = opts.site ?? defaultStackSite();
  return withStackLock(site, log, async () => {
    const { service, store } = namedService(site, name);
    const pid = runningPid(service, store);
    if (pid !== undefined) {
      if (opts.signal) await signalService(service, pid, opts.signal, log);
      else await stopService(service, pid, log);
    }
    store.forget(service.name);
    if (opts.wipeData && service.dataDir) {
      fs.rmSync(service.dataDir, { recursive: true, force: true });
      log(`${service.name}: deleted its data (${service.dataDir})`);
    }
  });
}

/** Starts one server of the stack when it is not running; resolves once it answers. */
export function startStackService(name: StackServiceName, opts: { log?: LogFn; site?: StackSite } = {}): Promise<void> {
  const log = opts.log ?? silent;
  const site = opts.site ?? defaultStackSite();
  return withStackLock(site, log, async () => {
    const { service, store } = namedService(site, name);
    await ensureRunning(service, store, log);
  });
}

/**
 * Stops one server of the running stack and starts it again (e.g. the registry, to prove what survives a
 * restart); resolves once it answers. Only a server this stack started is stopped.
 */
export async function restartStackService(name: StackServiceName, opts: StopServiceOptions = {}): Promise<void> {
  await stopStackService(name, opts);
  await startStackService(name, opts);
}

/** One row per server of the last `stackUp`'s shard count: our pid if it runs, its port, whether it answers, its RSS. */
export async function stackStatus(site: StackSite = defaultStackSite()): Promise<ServiceStatus[]> {
  const state = readState(site);
  const shards = state?.shards || requestedShards();
  const store = new StateStore(site, state ?? emptyState(site, shards));
  const services = stackServices(site, shards);
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
export async function isStackUp(site: StackSite = defaultStackSite()): Promise<boolean> {
  return (await stackStatus(site)).every((row) => row.up);
}
