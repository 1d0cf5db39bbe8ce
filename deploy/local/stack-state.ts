/**
 * The state file (`<stack dir>/stack.json`) and the lock that serialises `stack:up` / `stack:down`.
 *
 * The state file is the only record of which pids are ours. It is rewritten (atomically, via rename) right
 * after each spawn, not at the end of `stackUp`, so that a failed or interrupted start still leaves every
 * started server findable by `stackDown`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type StackSite, stateFilePath } from './stack-plan';
import { StackError, isProcessAlive } from './stack-process';

export interface ServiceRecord {
  pid: number;
  /** The main port it was started on (a changed CDC_STACK_PORT_BASE makes it differ from the plan). */
  port: number;
  /** When this pid was recorded (spawned, or adopted from a pid file). */
  recordedAt: string;
}

export interface StackState {
  version: 1;
  /** Highest shard count ever brought up and not yet brought down; `stackDown` stops that many. */
  shards: number;
  portOffset: number;
  services: Record<string, ServiceRecord>;
}

export function readState(site: StackSite): StackState | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(stateFilePath(site), 'utf8')) as Partial<StackState>;
    if (parsed.version !== 1 || typeof parsed.shards !== 'number' || typeof parsed.services !== 'object') return undefined;
    return { version: 1, shards: parsed.shards, portOffset: parsed.portOffset ?? 0, services: parsed.services ?? {} };
  } catch {
    return undefined;
  }
}

/** Synchronous write + rename: concurrent service starts in this process never interleave a write. */
export function writeState(site: StackSite, state: StackState): void {
  fs.mkdirSync(site.dir, { recursive: true });
  const file = stateFilePath(site);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(temporary, file);
}

/** Mutations of the state that persist immediately. */
export class StateStore {
  constructor(
    readonly site: StackSite,
    readonly state: StackState,
  ) {}

  get(service: string): ServiceRecord | undefined {
    return this.state.services[service];
  }

  record(service: string, pid: number, port: number): void {
    this.state.services[service] = { pid, port, recordedAt: new Date().toISOString() };
    writeState(this.site, this.state);
  }

  forget(service: string): void {
    if (!(service in this.state.services)) return;
    delete this.state.services[service];
    writeState(this.site, this.state);
  }

  setShards(shards: number): void {
    this.state.shards = shards;
    writeState(this.site, this.state);
  }
}

const LOCK_WAIT_MS = 300_000;
/** Per stack directory: stacks of different sites never wait for each other. */
const inProcessQueues = new Map<string, Promise<unknown>>();

/**
 * Runs `action` holding the stack lock. Two lock levels: a promise queue for callers in this process (a
 * test setup calling `stackUp` twice), and an exclusive-create lock file with our pid for other processes
 * (parallel jest projects, a second terminal). A lock whose pid is dead is stale and taken over.
 */
export function withStackLock<T>(site: StackSite, log: (line: string) => void, action: () => Promise<T>): Promise<T> {
  const queue = inProcessQueues.get(site.dir) ?? Promise.resolve();
  const run = queue.then(async () => {
    const release = await acquireLockFile(site, log);
    try {
      return await action();
    } finally {
      release();
    }
  });
  inProcessQueues.set(
    site.dir,
    run.catch(() => undefined),
  );
  return run;
}

async function acquireLockFile(site: StackSite, log: (line: string) => void): Promise<() => void> {
  fs.mkdirSync(site.dir, { recursive: true });
  const lockFile = path.join(site.dir, 'stack.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let text: string;
    let ageMs: number;
    try {
      text = fs.readFileSync(lockFile, 'utf8').trim();
      ageMs = Date.now() - fs.statSync(lockFile).mtimeMs;
    } catch {
      continue; // released between our create attempt and this read
    }
    if (text === '' && ageMs < 5_000) {
      await sleep(50); // its creator has not written its pid yet
      continue;
    }
    const holder = Number(text);
    if (!Number.isInteger(holder) || holder <= 1 || holder === process.pid || !isProcessAlive(holder)) {
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new StackError(`another stack command (pid ${holder}) still holds ${lockFile} after ${LOCK_WAIT_MS / 1000} s`);
    }
    if (!announced) log(`waiting for another stack command (pid ${holder}) to finish`);
    announced = true;
    await sleep(200);
  }
}
