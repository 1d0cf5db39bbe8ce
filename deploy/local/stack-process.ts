/**
 * Process and port mechanics of the local stack: spawning detached servers, recognising our own pids,
 * probing ports, waiting with a deadline, stopping with SIGTERM then SIGKILL.
 *
 * The stack outlives the CLI that started it, so the only link to a server is the pid we recorded. Pids get
 * reused, so a pid alone is never enough to signal a process: it must also carry our marker in its command
 * line (see `isOurProcess`), which keeps us away from the machine's own Postgres and Redis.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A failure the CLI prints as-is (no stack trace): it already says what to do. */
export class StackError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StackError';
  }
}

export type LogFn = (line: string) => void;

/** Looks `name` up on PATH, like the shell would; undefined when it is not installed. */
export function findExecutable(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Runs a short-lived command to completion. The error message carries the command and the tail of its
 * output, because "exit code 1" alone never tells what went wrong with initdb or mvn.
 */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 300_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, stderr });
        const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-20).join('\n');
        const shown = [file, ...args].join(' ');
        reject(new StackError(`command failed: ${shown}\n${error.message.split('\n')[0]}\n${output}`, { cause: error }));
      },
    );
  });
}

/**
 * Starts a server that must outlive us: its own process group (so a Ctrl-C of the CLI does not reach it),
 * output appended to `logFile`, not referenced by our event loop. Resolves with its pid once it exists.
 */
export async function spawnDetached(
  file: string,
  args: readonly string[],
  options: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv },
): Promise<number> {
  const logFd = fs.openSync(options.logFile, 'a');
  try {
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new StackError(`could not start ${file}: ${error.message}`, { cause: error })));
    });
    child.unref();
    if (child.pid === undefined) throw new StackError(`could not start ${file}: no pid`);
    return child.pid;
  } finally {
    fs.closeSync(logFd);
  }
}

/** Alive means it exists and is not a zombie (a dead child not yet reaped still answers kill(pid, 0)). */
export function isProcessAlive(pid: number): boolean {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return !/^State:\s+[ZX]/m.test(status);
  } catch {
    return false;
  }
}

export function processCommandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The recorded pid is still our server: alive, and its command line carries our marker (pid reuse guard). */
export function isOurProcess(pid: number | undefined, marker: string): pid is number {
  return pid !== undefined && pid > 1 && isProcessAlive(pid) && processCommandLine(pid).includes(marker);
}

/** Resident set size from /proc/<pid>/status (VmRSS, in kB there). */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Something accepts TCP connections on host:port. */
export function portAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** We could listen on host:port right now (nothing else holds it, including a 0.0.0.0 listener). */
export function portBindable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Fails before starting anything when a port of the plan is held by a process that is not ours: otherwise the
 * server would die with a bind error deep in its log, or worse, a client would talk to the wrong server.
 */
export async function assertPortsFree(service: string, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    if (!(await portBindable(port)) || (await portAnswers(port))) {
      throw new StackError(
        `port ${port} (${service}) is already in use by another process, not by this stack; ` +
          `stop it or shift the stack's ports with CDC_STACK_PORT_BASE=<offset>`,
      );
    }
  }
}

/** Current sizes of log files, taken before a start so a failure shows only what that start wrote. */
export function logSizes(files: readonly string[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const file of files) {
    try {
      sizes.set(file, fs.statSync(file).size);
    } catch {
      sizes.set(file, 0);
    }
  }
  return sizes;
}

/**
 * The last lines of each log file, labelled, for error messages; with `since`, only of what was appended
 * after those sizes (the logs accumulate over restarts, and an old shutdown would mislead).
 */
export function logTail(files: readonly string[], since?: ReadonlyMap<string, number>, lines = 25): string {
  const parts: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      const size = fs.statSync(file).size;
      const mark = since?.get(file) ?? 0;
      const from = mark <= size ? mark : 0; // a smaller file was rotated: all of it is new
      const fd = fs.openSync(file, 'r');
      try {
        const length = Math.min(size - from, 64 * 1024);
        const buffer = Buffer.alloc(length);
        fs.readSync(fd, buffer, 0, length, size - length);
        text = buffer.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      continue;
    }
    const tail = text.trimEnd().split('\n').slice(-lines);
    if (tail.length > 0 && tail.join('').trim()) parts.push(`--- ${file} (last ${tail.length} lines) ---\n${tail.join('\n')}`);
  }
  return parts.length > 0 ? parts.join('\n') : '(no log output)';
}

export interface WaitOptions {
  service: string;
  timeoutMs: number;
  logFiles: readonly string[];
  /** Log sizes before the start (see `logSizes`). */
  logsSince?: ReadonlyMap<string, number>;
  /** When it turns false the server died: fail now instead of waiting out the timeout. */
  stillRunning?: () => boolean;
  intervalMs?: number;
}

/** Polls `probe` until it answers true; on timeout or death fails with the service's log tail. */
export async function waitUntilReady(probe: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (options.stillRunning && !options.stillRunning()) {
      throw new StackError(`${options.service} exited during startup\n${logTail(options.logFiles, options.logsSince)}`);
    }
    if (Date.now() >= deadline) {
      throw new StackError(
        `${options.service} did not become ready within ${Math.round(options.timeoutMs / 1000)} s\n${logTail(options.logFiles, options.logsSince)}`,
      );
    }
    await sleep(options.intervalMs ?? 250);
  }
}

export interface StopOptions {
  service: string;
  graceMs: number;
  log: LogFn;
  /** The polite signal; Postgres wants SIGINT ("fast": SIGTERM would wait for clients to disconnect). */
  signal?: NodeJS.Signals;
}

/**
 * Stops one of our servers: the polite signal (SIGTERM by default), then SIGKILL after `graceMs`. Signals
 * only a pid that is still ours, and resolves once it is gone.
 */
export async function stopProcess(pid: number, marker: string, options: StopOptions): Promise<void> {
  if (!isOurProcess(pid, marker)) return;
  sendSignal(pid, options.signal ?? 'SIGTERM');
  if (await waitForExit(pid, options.graceMs)) return;
  options.log(
    `${options.service}: pid ${pid} still running ${Math.round(options.graceMs / 1000)} s after ${options.signal ?? 'SIGTERM'}, sending SIGKILL`,
  );
  if (isOurProcess(pid, marker)) sendSignal(pid, 'SIGKILL');
  if (!(await waitForExit(pid, 10_000))) throw new StackError(`${options.service}: pid ${pid} survived SIGKILL`);
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

function sendSignal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Reads the first line of a pid file (Postgres' postmaster.pid, Redis' pidfile) as a pid. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]?.trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}
