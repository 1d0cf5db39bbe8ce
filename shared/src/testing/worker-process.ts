import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitFor } from './wait-for';

const repositoryRoot = resolve(__dirname, '../../..');

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
 * A worker started as its own process from its compiled `dist/main.js` (as in production), configured
 * through `CDC__…` variables, with its output in `.local/<logDirectory>/<name>.log`. `kill()` is kill -9:
 * no cleanup code of the worker runs.
 */
export class WorkerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  readonly logFile: string;

  constructor(
    /** The worker package's folder name, e.g. `wal-reader`. */
    private readonly worker: string,
    private readonly env: Record<string, string>,
    readonly name: string,
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
    const log = createWriteStream(this.logFile, { flags: 'a' });
    buildWorkspace();
    const child = spawn(process.execPath, [join(repositoryRoot, 'workers', this.worker, 'dist', 'main.js')], {
      cwd: repositoryRoot,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
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
        if (!this.isRunning()) throw new Error(`${this.name} exited (see ${this.logFile})`);
        const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        return response?.status === 200;
      },
      timeoutMs,
      200,
    );
  }
}

/** Reads a worker's /metrics and returns the value of one series (first match of name and labels). */
export async function scrapeMetric(port: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (.+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(match[3]);
  }
  return undefined;
}
