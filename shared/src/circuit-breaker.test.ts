import type { CircuitState } from './sink-metrics';
import { CircuitBreaker, type CircuitAdmission, type CircuitPermit } from './circuit-breaker';

function setup(failureThreshold = 3, openMs = 1_000): { breaker: CircuitBreaker; clock: { now: number }; changes: CircuitState[] } {
  const clock = { now: 10_000 };
  const changes: CircuitState[] = [];
  const breaker = new CircuitBreaker(
    { failureThreshold, openMs },
    () => clock.now,
    (state) => changes.push(state),
  );
  return { breaker, clock, changes };
}

function permitOf(admission: CircuitAdmission): CircuitPermit {
  if (!admission.admitted) throw new Error(`expected a permit, got a wait of ${admission.waitMs} ms`);
  return admission.permit;
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.release(permitOf(breaker.tryAcquire()), 'failure');
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold, and a success resets the count of consecutive failures', () => {
    const { breaker, changes } = setup(3);
    fail(breaker, 2);
    breaker.release(permitOf(breaker.tryAcquire()), 'success');
    fail(breaker, 2);
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([]);
  });

  it('opens after the threshold of consecutive failures and refuses calls with the time left', () => {
    const { breaker, clock, changes } = setup(3, 1_000);
    fail(breaker, 3);
    expect(breaker.state).toBe('open');
    clock.now += 400;
    expect(breaker.tryAcquire()).toEqual({ admitted: false, waitMs: 600 });
    expect(changes).toEqual(['open']);
  });

  it('turns half-open after openMs and lets exactly one trial call through', () => {
    const { breaker, clock } = setup(1, 1_000);
    fail(breaker, 1);
    clock.now += 1_000;
    expect(breaker.state).toBe('half-open');
    const trial = permitOf(breaker.tryAcquire());
    expect(trial.trial).toBe(true);
    expect(breaker.tryAcquire().admitted).toBe(false);
  });

  it.each([
    ['success', 'closed'],
    ['failure', 'open'],
  ] as const)('a trial %s makes the circuit %s', (outcome, state) => {
    const { breaker, clock, changes } = setup(1, 1_000);
    fail(breaker, 1);
    clock.now += 1_000;
    breaker.release(permitOf(breaker.tryAcquire()), outcome);
    expect(breaker.state).toBe(state);
    expect(changes).toEqual(['open', 'half-open', state]);
  });

  it('a failed trial opens the circuit for another full openMs', () => {
    const { breaker, clock } = setup(1, 1_000);
    fail(breaker, 1);
    clock.now += 1_500;
    breaker.release(permitOf(breaker.tryAcquire()), 'failure');
    expect(breaker.tryAcquire()).toEqual({ admitted: false, waitMs: 1_000 });
  });

  it('a neutral trial (aborted) frees the trial slot without deciding anything', () => {
    const { breaker, clock } = setup(1, 1_000);
    fail(breaker, 1);
    clock.now += 1_000;
    breaker.release(permitOf(breaker.tryAcquire()), 'neutral');
    expect(breaker.state).toBe('half-open');
    expect(permitOf(breaker.tryAcquire()).trial).toBe(true);
  });

  it('ignores outcomes of calls that started before the circuit changed state', () => {
    const { breaker, clock } = setup(2, 1_000);
    const slow = permitOf(breaker.tryAcquire());
    fail(breaker, 2);
    clock.now += 1_000;
    const trial = permitOf(breaker.tryAcquire());
    breaker.release(slow, 'success');
    expect(breaker.state).toBe('half-open');
    breaker.release(trial, 'success');
    breaker.release(slow, 'failure');
    expect(breaker.state).toBe('closed');
  });

  it('counts neither a neutral outcome as a failure nor as a success while closed', () => {
    const { breaker } = setup(2);
    fail(breaker, 1);
    breaker.release(permitOf(breaker.tryAcquire()), 'neutral');
    fail(breaker, 1);
    expect(breaker.state).toBe('open');
  });
});
