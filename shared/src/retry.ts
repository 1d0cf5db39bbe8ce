import { setTimeout as sleep } from 'node:timers/promises';
import { dispositionOf } from './errors';

export interface RetryOptions {
  /** First delay in ms before the second attempt. Default 100. */
  initialDelayMs?: number;
  /** Upper bound of one delay in ms. Default 10_000. */
  maxDelayMs?: number;
  /** Growth factor of the delay per attempt. Default 2. */
  multiplier?: number;
  /** Total time budget in ms across all attempts and waits; `Infinity` retries forever. Default 60_000. */
  maxElapsedMs?: number;
  /** Maximum attempts (including the first). Default unlimited (bounded by time). */
  maxAttempts?: number;
  /** Aborts the waits and the retry loop. */
  signal?: AbortSignal;
  /** Decides whether an error is worth another attempt. Default: the error's disposition is `retryable`. */
  retryOn?: (error: unknown) => boolean;
  /** A delay demanded by the other side (e.g. HTTP Retry-After), used instead of backoff when longer. */
  delayHintMs?: (error: unknown) => number | undefined;
  /** Called before each wait; for logs and retry metrics. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export class RetryExhaustedError extends Error {
  constructor(
    readonly attempts: number,
    options: { cause: unknown },
  ) {
    super(`gave up after ${attempts} attempts: ${String((options.cause as Error)?.message ?? options.cause)}`, options);
    this.name = 'RetryExhaustedError';
  }
}

/**
 * "Full jitter" exponential backoff: a uniformly random delay in [0, min(max, initial * multiplier^n)].
 * Spreading retries this way keeps many workers from hammering a recovering service in lockstep.
 */
export function backoffDelayMs(attempt: number, options: RetryOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const ceiling = Math.min(max, initial * (options.multiplier ?? 2) ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

/**
 * Runs `operation` until it succeeds, the error is not retryable, the attempts or time budget run out, or
 * `signal` aborts. Programming errors are never retried. The last error is the `cause` when giving up.
 */
export async function retry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const started = Date.now();
  const maxElapsed = options.maxElapsedMs ?? 60_000;
  const retryOn = options.retryOn ?? ((error: unknown) => dispositionOf(error) === 'retryable');
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await operation(attempt);
    } catch (error) {
      if (dispositionOf(error) === 'programming' || !retryOn(error)) throw error;
      const backoff = backoffDelayMs(attempt, options);
      const delay = Math.max(backoff, options.delayHintMs?.(error) ?? 0);
      const outOfAttempts = options.maxAttempts !== undefined && attempt >= options.maxAttempts;
      const outOfTime = Date.now() - started + delay > maxElapsed;
      if (outOfAttempts || outOfTime) throw new RetryExhaustedError(attempt, { cause: error });
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
}
