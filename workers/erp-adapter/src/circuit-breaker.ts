import type { CircuitState } from '@inventory-cdc/shared';

export interface CircuitOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** Time the circuit stays open before a single trial request is admitted. */
  openMs: number;
}

/** Whether a request may go now, or how long to wait before asking again. */
export type Admission = { admitted: true } | { admitted: false; retryInMs: number };

/** How often callers waiting behind a half-open circuit's trial ask again. */
const trialPollMs = 100;

/**
 * A circuit breaker as a pure state machine over an injected clock:
 * closed --(failureThreshold consecutive failures)--> open --(openMs)--> half-open,
 * half-open --(the trial succeeds)--> closed, half-open --(the trial fails)--> open.
 *
 * While open, nothing is sent: a struggling ERP gets time to recover instead of every partition's retries,
 * and callers wait (`admit` says how long) rather than spend their retry budget on requests bound to fail.
 * Half-open admits one trial at a time; the others wait for its outcome.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedAtMs = 0;
  private trialInFlight = false;

  constructor(
    private readonly options: CircuitOptions,
    private readonly now: () => number = Date.now,
    private readonly onChange: (state: CircuitState) => void = () => undefined,
  ) {}

  /** The current state; an open circuit becomes half-open once `openMs` has passed. */
  state(): CircuitState {
    if (this.current === 'open' && this.now() - this.openedAtMs >= this.options.openMs) this.move('half-open');
    return this.current;
  }

  /** Asks to send one request; an admitted caller must report `recordSuccess` or `recordFailure`. */
  admit(): Admission {
    switch (this.state()) {
      case 'closed':
        return { admitted: true };
      case 'open':
        return { admitted: false, retryInMs: Math.max(1, this.openedAtMs + this.options.openMs - this.now()) };
      case 'half-open':
        if (this.trialInFlight) return { admitted: false, retryInMs: Math.min(trialPollMs, this.options.openMs) };
        this.trialInFlight = true;
        return { admitted: true };
    }
  }

  /** The ERP answered (booked, duplicate, or a rejection of this posting: the ERP itself is healthy). */
  recordSuccess(): void {
    this.failures = 0;
    this.trialInFlight = false;
    if (this.current !== 'closed') this.move('closed');
  }

  /** The ERP did not answer usefully: a timeout, a network error, a 5xx or a 429. */
  recordFailure(): void {
    this.failures++;
    const wasTrial = this.trialInFlight;
    this.trialInFlight = false;
    if (this.current === 'half-open' && wasTrial) this.open();
    else if (this.current === 'closed' && this.failures >= this.options.failureThreshold) this.open();
  }

  private open(): void {
    this.openedAtMs = this.now();
    this.move('open');
  }

  private move(next: CircuitState): void {
    this.current = next;
    this.onChange(next);
  }
}
