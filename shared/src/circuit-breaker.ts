import { z } from 'zod';
import type { CircuitState } from './sink-metrics';

/** A sink's `circuit` config section. */
export const circuitConfigSchema = z
  .object({
    /** Consecutive failed calls (timeouts, 5xx, 429, connection errors) that open the circuit. Default 5. */
    failureThreshold: z.number().int().positive().default(5),
    /** How long the circuit stays open before one trial call may test the service again, in ms. Default 5000. */
    openMs: z.number().int().positive().default(5_000),
  })
  .strict();

export type CircuitBreakerOptions = z.infer<typeof circuitConfigSchema>;

/**
 * The right to make one call. `generation` ties the call's outcome to the circuit period it started in, so
 * a slow call that began before the circuit opened cannot close (or re-open) a later period; `trial` marks
 * the single call a half-open circuit lets through.
 */
export interface CircuitPermit {
  generation: number;
  trial: boolean;
}

/** What `tryAcquire` gives: a permit, or how long to wait before asking again. */
export type CircuitAdmission = { admitted: true; permit: CircuitPermit } | { admitted: false; waitMs: number };

/** How a call ended, from the circuit's point of view. `neutral`: it says nothing about the service (aborted, a bug). */
export type CallOutcome = 'success' | 'failure' | 'neutral';

type Phase = { state: 'closed'; failures: number } | { state: 'open'; until: number } | { state: 'half-open'; trialInFlight: boolean };

/** While half-open with the trial in flight, callers poll this often (ms) for the trial's verdict. */
const trialPollMs = 50;

/**
 * A circuit breaker for one downstream service, as a small state machine over an injected clock:
 *
 * - closed: every call goes through; `failureThreshold` consecutive failures open it.
 * - open: no call goes through for `openMs`; then it turns half-open (lazily, when next asked).
 * - half-open: exactly one trial call; its success closes the circuit, its failure opens it again.
 *
 * A permanent refusal (a 4xx) is a success here: the service answered, it is the request that is bad. The
 * breaker never sleeps itself; callers wait `waitMs` and ask again, so a waiting delivery spends none of
 * its retry budget.
 */
export class CircuitBreaker {
  private phase: Phase = { state: 'closed', failures: 0 };
  private generation = 0;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly clock: () => number = Date.now,
    /** Told about every state change (the `cdc_sink_circuit_state` gauge, a log line). */
    private readonly onChange: (state: CircuitState) => void = () => undefined,
  ) {}

  get state(): CircuitState {
    this.settle();
    return this.phase.state;
  }

  /** How long until a call would be admitted: 0 now; else the rest of the open period, or a poll interval for a trial's verdict. */
  waitMs(): number {
    this.settle();
    const phase = this.phase;
    if (phase.state === 'open') return Math.max(1, phase.until - this.clock());
    if (phase.state === 'half-open' && phase.trialInFlight) return Math.min(trialPollMs, this.options.openMs);
    return 0;
  }

  tryAcquire(): CircuitAdmission {
    const waitMs = this.waitMs();
    if (waitMs > 0) return { admitted: false, waitMs };
    const trial = this.phase.state === 'half-open';
    if (this.phase.state === 'half-open') this.phase.trialInFlight = true;
    return { admitted: true, permit: { generation: this.generation, trial } };
  }

  /** Reports how the call made under `permit` ended. Outcomes of calls from an earlier period are ignored. */
  release(permit: CircuitPermit, outcome: CallOutcome): void {
    this.settle();
    if (permit.generation !== this.generation) return;
    const phase = this.phase;
    if (phase.state === 'closed') {
      if (outcome === 'success') phase.failures = 0;
      else if (outcome === 'failure' && ++phase.failures >= this.options.failureThreshold) this.open();
    } else if (phase.state === 'half-open' && permit.trial) {
      if (outcome === 'success') this.enter({ state: 'closed', failures: 0 });
      else if (outcome === 'failure') this.open();
      else phase.trialInFlight = false;
    }
  }

  private open(): void {
    this.enter({ state: 'open', until: this.clock() + this.options.openMs });
  }

  /** The only time-driven transition: open → half-open once `openMs` has passed. */
  private settle(): void {
    if (this.phase.state === 'open' && this.clock() >= this.phase.until) this.enter({ state: 'half-open', trialInFlight: false });
  }

  private enter(phase: Phase): void {
    this.phase = phase;
    this.generation++;
    this.onChange(phase.state);
  }
}
