import type { CircuitState } from '@inventory-cdc/shared';
import { CircuitBreaker } from './circuit-breaker';

function breaker(): { circuit: CircuitBreaker; clock: { now: number }; states: CircuitState[] } {
  const clock = { now: 0 };
  const states: CircuitState[] = [];
  const circuit = new CircuitBreaker(
    { failureThreshold: 3, openMs: 1_000 },
    () => clock.now,
    (state) => states.push(state),
  );
  return { circuit, clock, states };
}

describe('CircuitBreaker', () => {
  it('stays closed below the failure threshold, and a success resets the count', () => {
    const { circuit } = breaker();
    circuit.recordFailure();
    circuit.recordFailure();
    circuit.recordSuccess();
    circuit.recordFailure();
    circuit.recordFailure();
    expect(circuit.state()).toBe('closed');
    expect(circuit.admit()).toEqual({ admitted: true });
  });

  it('opens after the threshold and tells callers how long to wait', () => {
    const { circuit, clock } = breaker();
    for (let i = 0; i < 3; i++) circuit.recordFailure();
    expect(circuit.state()).toBe('open');
    clock.now = 400;
    expect(circuit.admit()).toEqual({ admitted: false, retryInMs: 600 });
  });

  it('half-opens after openMs and admits one trial at a time', () => {
    const { circuit, clock } = breaker();
    for (let i = 0; i < 3; i++) circuit.recordFailure();
    clock.now = 1_000;
    expect(circuit.admit()).toEqual({ admitted: true });
    expect(circuit.state()).toBe('half-open');
    expect(circuit.admit()).toEqual({ admitted: false, retryInMs: 100 });
  });

  it.each<[string, 'recordSuccess' | 'recordFailure', CircuitState]>([
    ['a successful trial closes it', 'recordSuccess', 'closed'],
    ['a failed trial opens it again', 'recordFailure', 'open'],
  ])('%s', (_name, outcome, expected) => {
    const { circuit, clock, states } = breaker();
    for (let i = 0; i < 3; i++) circuit.recordFailure();
    clock.now = 1_500;
    circuit.admit();
    circuit[outcome]();
    expect(circuit.state()).toBe(expected);
    expect(states).toEqual(['open', 'half-open', expected]);
    if (expected === 'open') expect(circuit.admit()).toEqual({ admitted: false, retryInMs: 1_000 });
  });

  it('a late failure of a request sent while closed does not re-open a half-open circuit', () => {
    const { circuit, clock } = breaker();
    for (let i = 0; i < 3; i++) circuit.recordFailure();
    clock.now = 1_000;
    expect(circuit.state()).toBe('half-open');
    circuit.recordFailure();
    expect(circuit.state()).toBe('half-open');
    expect(circuit.admit()).toEqual({ admitted: true });
  });
});
