/**
 * The lifecycle every local server shares: leave it alone when it is ours and answering, otherwise check its
 * ports, prepare, spawn, record the pid, wait for readiness; and the matching stop.
 *
 * Each server module (`stack-postgres.ts`, `stack-kafka.ts`, ...) only describes itself as a `StackService`;
 * the rules about pids, ports and timeouts live here once.
 */
import * as fs from 'node:fs';
import {
  type LogFn,
  assertPortsFree,
  isOurProcess,
  isProcessAlive,
  logSizes,
  portAnswers,
  readPidFile,
  stopProcess,
  waitForExit,
  waitUntilReady,
} from './stack-process';
import type { StateStore } from './stack-state';

export interface StackService {
  /** `postgres-0`, `kafka`, `registry`, `redis`: the key in the state file and in status output. */
  name: string;
  /** Every port it binds; the first is the client port, by which "up" is judged. */
  ports: number[];
  /** A substring of our server's /proc/<pid>/cmdline, unique to this stack (usually a path in its data area). */
  marker: string;
  /** Logs whose tail explains a failed start. */
  logFiles: string[];
  readyTimeoutMs: number;
  /** Time between the polite signal and SIGKILL. */
  stopGraceMs: number;
  /** The polite signal when stopping by pid; SIGTERM unless the server treats it too politely. */
  stopSignal?: NodeJS.Signals;
  /**
   * A second record of the pid, in the service's data area, so ours is found even if stack.json was lost:
   * written by the server itself (postmaster.pid, Redis' pidfile) or, for the JVMs, by us at spawn time.
   */
  pidFile: string;
  /** True when the server writes `pidFile` itself; otherwise `ensureRunning` writes it after the spawn. */
  serverWritesPidFile?: boolean;
  /**
   * Persistent data a stop may be asked to delete (`stopStackService(…, { wipeData })`), so the server
   * starts again empty, as one without persistence would. Only where that is a fault worth proving.
   */
  dataDir?: string;
  /** Whatever may be slow before the spawn: downloads, initdb, config files. */
  prepare(log: LogFn): Promise<void> | void;
  /** Starts the server and returns its pid. */
  start(log: LogFn): Promise<number>;
  /** Answers like a client would expect (a query, a PING, an HTTP 200), not just an open port. */
  isReady(): Promise<boolean>;
  /** Idempotent work once it answers (e.g. CREATE DATABASE when missing). */
  afterReady?(log: LogFn): Promise<void>;
  /** A server-specific stop (pg_ctl); `stopService` still makes sure the pid is gone afterwards. */
  stop?(pid: number, log: LogFn): Promise<void>;
}

export function mainPort(service: StackService): number {
  const port = service.ports[0];
  if (port === undefined) throw new Error(`${service.name} declares no port`);
  return port;
}

/** The pid of our running server: the recorded one, else the one it wrote itself; only if still ours. */
export function runningPid(service: StackService, store: StateStore): number | undefined {
  const recorded = store.get(service.name)?.pid;
  if (isOurProcess(recorded, service.marker)) return recorded;
  const discovered = readPidFile(service.pidFile);
  if (isOurProcess(discovered, service.marker)) return discovered;
  return undefined;
}

/**
 * Makes `service` run and answer. A server that is ours and answers on its port is left alone (idempotent
 * `stack:up`); one that is ours but silent (hung, or started on another port plan) is restarted; one that
 * fails to become ready in time is stopped again, so no half-started server lingers unrecorded.
 */
export async function ensureRunning(service: StackService, store: StateStore, log: LogFn): Promise<void> {
  const port = mainPort(service);
  const existing = runningPid(service, store);
  if (existing !== undefined) {
    if (await portAnswers(port)) {
      if (store.get(service.name)?.pid !== existing) store.record(service.name, existing, port);
      if (!service.serverWritesPidFile && readPidFile(service.pidFile) !== existing) {
        fs.writeFileSync(service.pidFile, `${existing}\n`);
      }
      log(`${service.name}: already running (pid ${existing}, port ${port})`);
      await waitReady(service, existing);
      await service.afterReady?.(log);
      return;
    }
    // Started by an interrupted `stack:up` moments ago (the JVMs take seconds to bind): let it finish.
    const recordedAt = Date.parse(store.get(service.name)?.recordedAt ?? '');
    if (Date.now() - recordedAt < service.readyTimeoutMs) {
      log(`${service.name}: pid ${existing} is still starting; waiting for it`);
      const answered = await waitReady(service, existing).then(
        () => true,
        () => false,
      );
      if (answered) {
        await service.afterReady?.(log);
        log(`${service.name}: ready (pid ${existing})`);
        return;
      }
    }
    log(`${service.name}: pid ${existing} is ours but port ${port} does not answer; restarting it`);
    await stopService(service, existing, log);
  }
  store.forget(service.name);

  await assertPortsFree(service.name, service.ports);
  await service.prepare(log);
  const started = Date.now();
  const logsSince = logSizes(service.logFiles);
  log(`${service.name}: starting on port ${port}`);
  let pid: number;
  try {
    pid = await service.start(log);
  } catch (error) {
    // A start that failed half-way (pg_ctl timed out) may still have left a server running.
    const leftover = readPidFile(service.pidFile);
    if (isOurProcess(leftover, service.marker)) await stopService(service, leftover, log).catch(() => undefined);
    throw error;
  }
  store.record(service.name, pid, port);
  if (!service.serverWritesPidFile) fs.writeFileSync(service.pidFile, `${pid}\n`);
  try {
    await waitReady(service, pid, logsSince);
  } catch (error) {
    await stopService(service, pid, log).catch(() => undefined);
    store.forget(service.name);
    throw error;
  }
  await service.afterReady?.(log);
  log(`${service.name}: ready in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${pid})`);
}

function waitReady(service: StackService, pid: number, logsSince?: ReadonlyMap<string, number>): Promise<void> {
  return waitUntilReady(() => service.isReady(), {
    service: service.name,
    timeoutMs: service.readyTimeoutMs,
    logFiles: service.logFiles,
    ...(logsSince ? { logsSince } : {}),
    // Plain liveness: the pid is fresh, and a server may rewrite its command line while starting.
    stillRunning: () => isProcessAlive(pid),
    intervalMs: 200,
  });
}

/** Stops our server by its pid: the service's own way first, then signals until the pid is gone. */
export async function stopService(service: StackService, pid: number, log: LogFn): Promise<void> {
  if (!isOurProcess(pid, service.marker)) return;
  log(`${service.name}: stopping pid ${pid}`);
  let stopped = false;
  if (service.stop) {
    try {
      await service.stop(pid, log);
    } catch (error) {
      log(`${service.name}: ${(error as Error).message.split('\n')[0]}; falling back to signals`);
    }
    stopped = await waitForExit(pid, 1_000);
  }
  if (!stopped) {
    await stopProcess(pid, service.marker, {
      service: service.name,
      graceMs: service.stopGraceMs,
      log,
      ...(service.stopSignal ? { signal: service.stopSignal } : {}),
    });
  }
  if (!service.serverWritesPidFile) fs.rmSync(service.pidFile, { force: true });
}

/**
 * Stops our server with `signal` instead of its own way (a crash with SIGKILL, an orchestrator's SIGTERM),
 * SIGKILL after its grace time should SIGTERM not end it; resolves once the pid is gone.
 */
export async function signalService(service: StackService, pid: number, signal: 'SIGTERM' | 'SIGKILL', log: LogFn): Promise<void> {
  if (!isOurProcess(pid, service.marker)) return;
  log(`${service.name}: ${signal} to pid ${pid}`);
  await stopProcess(pid, service.marker, { service: service.name, graceMs: service.stopGraceMs, log, signal });
  if (!service.serverWritesPidFile) fs.rmSync(service.pidFile, { force: true });
}
