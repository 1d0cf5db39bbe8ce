import { CircuitBreaker } from '@inventory-cdc/shared';
import type { WmsCall } from './wms-call';
import type { WmsTransport } from './wms-client';
import { WmsDelivery, type DeliveryRetryOptions } from './wms-delivery';
import { WmsRejectedError, WmsUnauthorizedError, WmsUnavailableError } from './wms-response';

const call: WmsCall = {
  idempotencyKey: 'wms-0000:0000000000000001:00000000',
  change: {
    sku: 'SKU-1',
    warehouse: 'WH-A',
    onHand: 1,
    reserved: 0,
    available: 1,
    position: '0000:0000000000000001:00000000',
    op: 'u',
    commitTs: '',
  },
  commitTsMicros: 0n,
};

type Step = 'applied' | 'duplicate' | 'unavailable' | 'rejected' | 'unauthorized' | { retryAfterMs: number };

/** A WMS that answers the scripted steps in turn (the last one forever) and records when it was called. */
function scriptedWms(steps: Step[]): WmsTransport & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    send: () => {
      const step = steps[Math.min(calls.length, steps.length - 1)]!;
      calls.push(Date.now());
      if (step === 'applied' || step === 'duplicate') return Promise.resolve(step);
      return Promise.reject(failureOf(step));
    },
  };
}

function failureOf(step: Exclude<Step, 'applied' | 'duplicate'>): Error {
  if (step === 'rejected') return new WmsRejectedError('HTTP 400: {"error":"sku rejected"}');
  if (step === 'unauthorized') return new WmsUnauthorizedError('HTTP 401: {"error":"bad token"}', undefined);
  if (step === 'unavailable') return new WmsUnavailableError('HTTP 500: {"error":"injected error"}', undefined);
  return new WmsUnavailableError('HTTP 429: {}', step.retryAfterMs);
}

const fast: DeliveryRetryOptions = { initialDelayMs: 5, maxDelayMs: 20, budgetMs: 400 };

function setup(steps: Step[], retry = fast, circuit = { failureThreshold: 100, openMs: 100 }) {
  const wms = scriptedWms(steps);
  const states: string[] = [];
  const breaker = new CircuitBreaker(circuit, Date.now, (state) => states.push(state));
  const retries: number[] = [];
  const delivery = new WmsDelivery(wms, breaker, retry, { onRetry: (_call, _error, callNumber) => retries.push(callNumber) });
  return { wms, breaker, states, retries, delivery };
}

const never = new AbortController().signal;

describe('WmsDelivery', () => {
  it.each([
    ['applied', ['applied'], { kind: 'applied' }, 1],
    ['a duplicate', ['duplicate'], { kind: 'duplicate' }, 1],
    ['applied after two transient failures', ['unavailable', 'unavailable', 'applied'], { kind: 'applied' }, 3],
  ] as const)('%s', async (_name, steps, outcome, calls) => {
    const { delivery, wms, retries } = setup([...steps]);
    await expect(delivery.deliver(call, never)).resolves.toEqual(outcome);
    expect(wms.calls).toHaveLength(calls);
    expect(retries).toEqual(Array.from({ length: calls - 1 }, (_, i) => i + 2));
  });

  it('dead-letters a permanent refusal at once, with the response, without retrying', async () => {
    const { delivery, wms } = setup(['rejected']);
    await expect(delivery.deliver(call, never)).resolves.toEqual({
      kind: 'dead-letter',
      reason: 'rejected',
      detail: 'HTTP 400: {"error":"sku rejected"}',
    });
    expect(wms.calls).toHaveLength(1);
  });

  it('dead-letters after the retry budget with the last response', async () => {
    const { delivery, wms } = setup(['unavailable'], { initialDelayMs: 10, maxDelayMs: 20, budgetMs: 150 });
    const started = Date.now();
    const outcome = await delivery.deliver(call, never);
    expect(outcome).toMatchObject({ kind: 'dead-letter', reason: 'retries-exhausted' });
    expect(outcome.kind === 'dead-letter' && outcome.detail).toMatch(/last: HTTP 500: \{"error":"injected error"\}$/);
    expect(wms.calls.length).toBeGreaterThan(2);
    expect(Date.now() - started).toBeLessThan(400);
  });

  it('honours Retry-After when it is longer than the backoff', async () => {
    const { delivery, wms } = setup([{ retryAfterMs: 120 }, 'applied']);
    await expect(delivery.deliver(call, never)).resolves.toEqual({ kind: 'applied' });
    expect(wms.calls[1]! - wms.calls[0]!).toBeGreaterThanOrEqual(115);
  });

  it('waits while the circuit is open without spending the retry budget, then delivers', async () => {
    // Three failures open the circuit for 300 ms: longer than the whole 100 ms budget.
    const { delivery, wms, states } = setup(
      ['unavailable', 'unavailable', 'unavailable', 'applied'],
      { initialDelayMs: 1, maxDelayMs: 2, budgetMs: 100 },
      {
        failureThreshold: 3,
        openMs: 300,
      },
    );
    await expect(delivery.deliver(call, never)).resolves.toEqual({ kind: 'applied' });
    expect(wms.calls).toHaveLength(4);
    expect(wms.calls[3]! - wms.calls[2]!).toBeGreaterThanOrEqual(290);
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('holds other deliveries while one trial call tests a half-open circuit', async () => {
    const { delivery, breaker, wms } = setup(['applied'], fast, { failureThreshold: 1, openMs: 50 });
    const admission = breaker.tryAcquire();
    if (admission.admitted) breaker.release(admission.permit, 'failure');
    expect(breaker.state).toBe('open');
    const outcomes = await Promise.all([delivery.deliver(call, never), delivery.deliver(call, never), delivery.deliver(call, never)]);
    expect(outcomes).toEqual([{ kind: 'applied' }, { kind: 'applied' }, { kind: 'applied' }]);
    expect(wms.calls).toHaveLength(3);
    expect(breaker.state).toBe('closed');
  });

  it('stops waiting when aborted, with the abort reason', async () => {
    const { delivery } = setup(['unavailable'], { initialDelayMs: 1_000, maxDelayMs: 1_000, budgetMs: 60_000 });
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('stopping')), 30);
    await expect(delivery.deliver(call, abort.signal)).rejects.toThrow('stopping');
  });

  it('waits out refused credentials (401) past its retry budget, circuit open meanwhile, and never dead-letters', async () => {
    const steps: Step[] = Array.from({ length: 12 }, () => 'unauthorized' as const);
    const { delivery, wms, states } = setup(
      [...steps, 'applied'],
      { initialDelayMs: 5, maxDelayMs: 20, budgetMs: 1 },
      {
        failureThreshold: 3,
        openMs: 30,
      },
    );
    await expect(delivery.deliver(call, never)).resolves.toEqual({ kind: 'applied' });
    expect(wms.calls).toHaveLength(13);
    expect(states).toContain('open');
  });
});
