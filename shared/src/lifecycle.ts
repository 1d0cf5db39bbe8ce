import type { Logger } from './logger';

export type LifecycleState = 'starting' | 'running' | 'stopping' | 'stopped';

const allowed: Record<LifecycleState, LifecycleState[]> = {
  starting: ['running', 'stopping'],
  running: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
};

/**
 * A worker's lifecycle: starting → running → stopping → stopped. Components register their cleanup with
 * `onStop` as they are built; `stop()` runs them in reverse order (intake first, connections last),
 * every one even if an earlier one fails, and is idempotent. `signal` aborts when stopping begins so
 * loops and retries end promptly.
 */
export class Lifecycle {
  private current: LifecycleState = 'starting';
  private readonly cleanups: { name: string; run: () => Promise<void> | void }[] = [];
  private readonly abort = new AbortController();
  private stopping?: Promise<number>;
  private exitCode = 0;

  constructor(private readonly logger: Logger) {}

  get state(): LifecycleState {
    return this.current;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  markRunning(): void {
    this.transition('running');
  }

  onStop(name: string, run: () => Promise<void> | void): void {
    this.cleanups.push({ name, run });
  }

  /** Stops once; later calls return the same result. Resolves with the exit code to use. */
  stop(reason: string, exitCode = 0): Promise<number> {
    this.exitCode = Math.max(this.exitCode, exitCode);
    this.stopping ??= this.runCleanups(reason);
    return this.stopping;
  }

  private async runCleanups(reason: string): Promise<number> {
    this.transition('stopping');
    this.logger.info({ reason }, 'stopping');
    this.abort.abort(new Error(`stopping: ${reason}`));
    for (const cleanup of [...this.cleanups].reverse()) {
      try {
        await cleanup.run();
      } catch (error) {
        this.exitCode = 1;
        this.logger.error({ err: error, cleanup: cleanup.name }, 'cleanup failed');
      }
    }
    this.transition('stopped');
    this.logger.info({ exitCode: this.exitCode }, 'stopped');
    return this.exitCode;
  }

  private transition(next: LifecycleState): void {
    if (!allowed[this.current].includes(next)) throw new Error(`lifecycle: ${this.current} → ${next} is not allowed`);
    this.current = next;
  }
}

/**
 * Stops the lifecycle on SIGTERM/SIGINT and exits with its code; if the graceful stop outlasts `graceMs`,
 * exits 1 anyway so an orchestrator never waits on a hung worker. A second signal forces the exit at once.
 */
export function exitOnSignals(lifecycle: Lifecycle, logger: Logger, graceMs: number, proc: NodeJS.Process = process): void {
  let received = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (received) {
      logger.warn({ signal }, 'second signal: exiting now');
      proc.exit(1);
    }
    received = true;
    exitAfterStop(lifecycle, logger, graceMs, `signal ${signal}`, 0, proc);
  };
  proc.on('SIGTERM', handle);
  proc.on('SIGINT', handle);
}

/** Stops the lifecycle, then exits the process with its code, or with 1 after `graceMs`. */
export function exitAfterStop(
  lifecycle: Lifecycle,
  logger: Logger,
  graceMs: number,
  reason: string,
  exitCode: number,
  proc: NodeJS.Process = process,
): void {
  const timer = setTimeout(() => {
    logger.error({ graceMs }, 'graceful stop timed out: forcing exit');
    proc.exit(1);
  }, graceMs);
  timer.unref();
  void lifecycle.stop(reason, exitCode).then(
    (code) => {
      logger.flush();
      proc.exit(code);
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'stopping failed: forcing exit');
      logger.flush();
      proc.exit(1);
    },
  );
}
