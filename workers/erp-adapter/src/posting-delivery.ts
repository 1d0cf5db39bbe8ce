import { setTimeout as sleep } from 'node:timers/promises';
import { RetryExhaustedError, retry, type CircuitBreaker, type CircuitPermit } from '@inventory-cdc/shared';
import { ErpRejectedError, ErpUnavailableError, type ErpAnswer } from './erp-client';
import type { Posting } from './posting-builder';

/** One attempt at sending a posting (the ERP client). */
export interface PostingSender {
  post(posting: Posting, signal: AbortSignal): Promise<ErpAnswer>;
}

/** How a posting's delivery ended. `rejected` and `exhausted` mean its window goes to the dead-letter topic. */
export type DeliveryOutcome =
  { kind: 'booked' } | { kind: 'duplicate' } | { kind: 'rejected'; detail: string } | { kind: 'exhausted'; detail: string };

export interface DeliveryOptions {
  /** First backoff, ms. */
  initialDelayMs: number;
  /** Longest backoff, ms (a longer Retry-After still wins). */
  maxDelayMs: number;
  /** Time in attempts and backoff before giving up, ms; waiting for an open circuit is not counted. */
  budgetMs: number;
}

/**
 * Delivers one posting: attempts through the circuit breaker, backoff with full jitter between them (the
 * shared `retry`), the ERP's `Retry-After` honoured, a time budget per posting. Rejections are final at
 * once; a halt (bad credentials) and an abort (shutdown) are thrown to the caller.
 */
export class PostingDelivery {
  constructor(
    private readonly sender: PostingSender,
    private readonly breaker: CircuitBreaker,
    private readonly options: DeliveryOptions,
    private readonly onRetry: (error: unknown, attempt: number, delayMs: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  async deliver(posting: Posting, signal: AbortSignal): Promise<DeliveryOutcome> {
    let spentMs = 0;
    const attempt = async (): Promise<ErpAnswer> => {
      const permit = await this.admitted(signal);
      const started = this.now();
      try {
        const answer = await this.sender.post(posting, signal);
        this.breaker.release(permit, 'success');
        return answer;
      } catch (error) {
        // A rejection is a healthy ERP saying no to this posting; an abort says nothing about the ERP;
        // anything else counts against it.
        this.breaker.release(permit, error instanceof ErpRejectedError ? 'success' : signal.aborted ? 'neutral' : 'failure');
        throw error;
      } finally {
        spentMs += this.now() - started;
      }
    };
    try {
      const answer = await retry(attempt, {
        initialDelayMs: this.options.initialDelayMs,
        maxDelayMs: this.options.maxDelayMs,
        maxElapsedMs: Infinity,
        signal,
        retryOn: (error) => !signal.aborted && error instanceof ErpUnavailableError,
        delayHintMs: (error) => (error instanceof ErpUnavailableError ? error.retryAfterMs : undefined),
        onRetry: (error, attemptNumber, delayMs) => {
          // The budget is checked before each wait, so a delivery never sleeps past it.
          if (spentMs + delayMs > this.options.budgetMs) throw new RetryExhaustedError(attemptNumber, { cause: error });
          spentMs += delayMs;
          this.onRetry(error, attemptNumber, delayMs);
        },
      });
      return { kind: answer };
    } catch (error) {
      if (signal.aborted) throw error;
      if (error instanceof ErpRejectedError) return { kind: 'rejected', detail: `${error.status} ${error.responseBody}` };
      if (error instanceof RetryExhaustedError)
        return { kind: 'exhausted', detail: `${error.attempts} attempts in ${spentMs} ms; last: ${messageOf(error.cause)}` };
      throw error;
    }
  }

  /** Waits, without spending the budget, until the circuit lets a request through. */
  private async admitted(signal: AbortSignal): Promise<CircuitPermit> {
    for (;;) {
      signal.throwIfAborted();
      const admission = this.breaker.tryAcquire();
      if (admission.admitted) return admission.permit;
      await sleep(admission.waitMs, undefined, { signal });
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
