import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePrometheusText, sumOf } from './metrics-text';
import { WaitAbandoned, waitFor } from './wait-for';

const repositoryRoot = resolve(__dirname, '../..');

let built = false;

/**
 * Compiles the workspace (`tsc -b`, incremental) once per process, so workers run from their built
 * `dist/` exactly as deployed — and start in a fraction of the time a TypeScript loader needs.
 */
export function buildWorkspace(): void {
  if (built) return;
  execFileSync(join(repositoryRoot, 'node_modules', '.bin', 'tsc'), ['-b'], { cwd: repositoryRoot, stdio: 'inherit' });
  built = true;
}

/**
 * A Node program started as its own process (`node <argv>`), configured through its environment, with
 * stdout and stderr appended to `.local/<logDirectory>/<name>.log`. The log file is the child's own
 * descriptor, not a pipe through this process, so a child outlives its starter when asked to (the demo's
 * `--keep`). `kill()` is kill -9: no cleanup code of the program runs.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  readonly logFile: string;

  constructor(
    readonly name: string,
    /** Arguments of `node`: the script and its arguments. */
    private readonly argv: string[],
    private readonly env: Record<string, string>,
    logDirectory = 'test-logs',
  ) {
    const logs = join(repositoryRoot, '.local', logDirectory);
    mkdirSync(logs, { recursive: true });
    this.logFile = join(logs, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const log = openSync(this.logFile, 'a');
    try {
      // CDC_WORKER_NODE_ARGS passes options to node itself, e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles`
      // to profile the workers a benchmark starts.
      const nodeArgs = process.env.CDC_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
      const child = spawn(process.execPath, [...nodeArgs, ...this.argv], {
        cwd: repositoryRoot,
        env: { ...process.env, ...this.env },
        stdio: ['ignore', log, log],
      });
      this.child = child;
      this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    } finally {
      closeSync(log);
    }
  }

  /** Lets this process end without waiting for the child (which keeps running). */
  detach(): void {
    this.child?.unref();
  }

  /** kill -9, then waits for the process to be gone. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then the exit code. */
  async terminate(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    return this.exited ?? null;
  }

  /** Resolves with the exit code when the process ends by itself. */
  exitCode(): Promise<number | null> {
    return this.exited ?? Promise.resolve(null);
  }

  isRunning(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until the worker's /readyz answers 200. */
  async waitReady(port: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${this.name} ready`,
      async () => {
        if (!this.isRunning()) throw new WaitAbandoned(`${this.name} exited (see ${this.logFile})`);
        const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        return response?.status === 200;
      },
      timeoutMs,
      200,
    );
  }
}

/** A worker of the fleet, run from its compiled `workers/<worker>/dist/main.js` exactly as deployed. */
export class WorkerProcess extends ManagedProcess {
  constructor(
    /** The worker package's folder name, e.g. `wal-reader`. */
    worker: string,
    env: Record<string, string>,
    name: string,
    logDirectory = 'test-logs',
  ) {
    super(name, [join(repositoryRoot, 'workers', worker, 'dist', 'main.js')], env, logDirectory);
  }

  override start(): void {
    buildWorkspace();
    super.start();
  }
}

/** Reads a worker's /metrics and returns the sum of the series of `name` whose labels include `labels`. */
export async function scrapeMetric(port: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return sumOf(parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()), name, labels);
}
