import { setTimeout as sleep } from 'node:timers/promises';
import { retry, RetryExhaustedError, type CallOutcome, type CircuitBreaker } from '@inventory-cdc/shared';
import type { WmsAnyCall } from './wms-call';
import type { WmsTransport } from './wms-client';
import { CircuitOpenError, WmsRejectedError, WmsUnauthorizedError, WmsUnavailableError } from './wms-response';

export interface DeliveryRetryOptions {
  /** First backoff delay in ms. */
  initialDelayMs: number;
  /** Upper bound of one backoff delay in ms (a longer `Retry-After` wins). */
  maxDelayMs: number;
  /** Time one event may spend on failed attempts and backoff, in ms; waits on an open circuit excluded. */
  budgetMs: number;
}

/** How one event's delivery ended. The two dead-letter reasons are the bounded `reason` label values. */
export type DeliveryOutcome =
  { kind: 'applied' } | { kind: 'duplicate' } | { kind: 'dead-letter'; reason: 'rejected' | 'retries-exhausted'; detail: string };

export interface DeliveryHooks {
  /** Before each repeated call for one event (the retries metric, a log line); `error` is the last call's. */
  onRetry(call: WmsAnyCall, error: unknown, callNumber: number): void;
}

function circuitOutcomeOf(error: unknown): CallOutcome {
  if (error instanceof WmsUnavailableError) return 'failure';
  if (error instanceof WmsRejectedError) return 'success';
  return 'neutral';
}

/**
 * Delivers one event to the WMS until it is taken or can never be: retries with exponential backoff and
 * full jitter (or the WMS's `Retry-After`, when longer) on transient failures, dead-letters a permanent
 * refusal at once and an event whose retry budget runs out. Every attempt goes through the circuit
 * breaker; while it is open the delivery waits — that time is not charged to the budget, so an outage of
 * the whole WMS pauses the pipeline instead of dead-lettering everything in flight.
 *
 * Safe to repeat: every attempt carries the event's idempotency key, so an attempt that reached the WMS
 * but lost its answer comes back as a duplicate on the next one.
 */
export class WmsDelivery {
  constructor(
    private readonly transport: WmsTransport,
    private readonly breaker: CircuitBreaker,
    private readonly options: DeliveryRetryOptions,
    private readonly hooks: DeliveryHooks,
    private readonly clock: () => number = Date.now,
  ) {}

  async deliver(call: WmsAnyCall, signal: AbortSignal): Promise<DeliveryOutcome> {
    const state: AttemptState = { calls: 0, lastError: undefined };
    let spentMs = 0;
    for (;;) {
      await this.waitForCircuit(signal);
      const started = this.clock();
      try {
        const result = await retry(() => this.attempt(call, state, signal), {
          initialDelayMs: this.options.initialDelayMs,
          maxDelayMs: this.options.maxDelayMs,
          maxElapsedMs: Math.max(0, this.options.budgetMs - spentMs),
          signal,
          retryOn: (error) => error instanceof WmsUnavailableError && !signal.aborted,
          delayHintMs: (error) => (error instanceof WmsUnavailableError ? error.retryAfterMs : undefined),
        });
        return { kind: result };
      } catch (error) {
        spentMs += this.clock() - started;
        if (signal.aborted) throw signal.reason ?? error;
        if (error instanceof CircuitOpenError) continue;
        if (error instanceof WmsRejectedError) return { kind: 'dead-letter', reason: 'rejected', detail: error.detail };
        // Refused credentials are the WMS's outage, not this event's: keep waiting on the circuit, budget afresh.
        if (error instanceof RetryExhaustedError && error.cause instanceof WmsUnauthorizedError) {
          spentMs = 0;
          continue;
        }
        if (error instanceof RetryExhaustedError) {
          const last = error.cause instanceof WmsUnavailableError ? error.cause.detail : String(error.cause);
          return {
            kind: 'dead-letter',
            reason: 'retries-exhausted',
            detail: `gave up after ${state.calls} calls in ${spentMs} ms; last: ${last}`,
          };
        }
        throw error;
      }
    }
  }

  /** One call under a circuit permit; throws `CircuitOpenError` without calling when the circuit refuses. */
  private async attempt(call: WmsAnyCall, state: AttemptState, signal: AbortSignal): Promise<'applied' | 'duplicate'> {
    const admission = this.breaker.tryAcquire();
    if (!admission.admitted) throw new CircuitOpenError(admission.waitMs);
    if (state.calls++ > 0) this.hooks.onRetry(call, state.lastError, state.calls);
    let outcome: CallOutcome = 'neutral';
    try {
      const result = await this.transport.send(call, signal);
      outcome = 'success';
      return result;
    } catch (error) {
      state.lastError = error;
      outcome = signal.aborted ? 'neutral' : circuitOutcomeOf(error);
      throw error;
    } finally {
      this.breaker.release(admission.permit, outcome);
    }
  }

  /** Waits, without spending retry budget, until the circuit would admit a call. */
  private async waitForCircuit(signal: AbortSignal): Promise<void> {
    for (let waitMs = this.breaker.waitMs(); waitMs > 0; waitMs = this.breaker.waitMs()) {
      await sleep(waitMs, undefined, { signal });
    }
    signal.throwIfAborted();
  }
}

interface AttemptState {
  /** Calls made to the WMS for this event so far. */
  calls: number;
  lastError: unknown;
}
