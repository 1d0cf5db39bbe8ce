import { HaltError, CircuitBreaker } from '@inventory-cdc/shared';
import { ErpRejectedError, ErpUnavailableError, type ErpAnswer } from './erp-client';
import type { Posting } from './posting-builder';
import { PostingDelivery } from './posting-delivery';

const posting: Posting = { postingId: 't:0:1-2', lines: [], window: { from: '1', to: '2' }, createdAt: '2026-01-01T00:00:00.000Z' };
const unavailable = (retryAfterMs?: number): ErpUnavailableError => new ErpUnavailableError('erp_unavailable', 'down', 500, retryAfterMs);

/** A sender answering from a script: an answer, or an error to throw. */
function scripted(script: (ErpAnswer | Error)[]): { post: () => Promise<ErpAnswer>; calls: () => number } {
  let calls = 0;
  return {
    post: () => {
      const next = script[Math.min(calls++, script.length - 1)]!;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
    calls: () => calls,
  };
}

function delivery(
  sender: { post: () => Promise<ErpAnswer> },
  budgetMs = 1_000,
  circuit = new CircuitBreaker({ failureThreshold: 100, openMs: 50 }),
) {
  const retries: number[] = [];
  const subject = new PostingDelivery(sender, circuit, { initialDelayMs: 1, maxDelayMs: 5, budgetMs }, (_error, attempt) =>
    retries.push(attempt),
  );
  return { subject, retries };
}

describe('PostingDelivery', () => {
  const signal = new AbortController().signal;

  it.each<[string, (ErpAnswer | Error)[], string, number]>([
    ['booked at once', ['booked'], 'booked', 1],
    ['duplicate at once', ['duplicate'], 'duplicate', 1],
    ['booked after two 5xx', [unavailable(), unavailable(), 'booked'], 'booked', 3],
    ['rejected without a retry', [new ErpRejectedError(400, 'sku rejected')], 'rejected', 1],
  ])('%s', async (_name, script, kind, attempts) => {
    const sender = scripted(script);
    const { subject, retries } = delivery(sender);
    expect((await subject.deliver(posting, signal)).kind).toBe(kind);
    expect(sender.calls()).toBe(attempts);
    expect(retries).toHaveLength(attempts - 1);
  });

  it('gives up when the budget is spent, without sleeping past it', async () => {
    const sender = scripted([unavailable()]);
    const { subject } = delivery(sender, 30);
    const started = Date.now();
    const outcome = await subject.deliver(posting, signal);
    expect(outcome).toMatchObject({ kind: 'exhausted', detail: expect.stringMatching(/attempts/) });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('honours Retry-After, which may exhaust the budget at once', async () => {
    const sender = scripted([unavailable(5_000), 'booked']);
    const { subject } = delivery(sender, 1_000);
    expect((await subject.deliver(posting, signal)).kind).toBe('exhausted');
    expect(sender.calls()).toBe(1);
  });

  it('waits for an open circuit without spending the budget', async () => {
    const circuit = new CircuitBreaker({ failureThreshold: 1, openMs: 150 });
    const admission = circuit.tryAcquire();
    if (admission.admitted) circuit.release(admission.permit, 'failure');
    expect(circuit.state).toBe('open');
    const sender = scripted(['booked']);
    const { subject } = delivery(sender, 20, circuit);
    expect((await subject.deliver(posting, signal)).kind).toBe('booked');
    expect(circuit.state).toBe('closed');
  });

  it('throws a halt (bad credentials) to the caller', async () => {
    const { subject } = delivery(scripted([new HaltError('erp_auth', 'no', 'fix it')]));
    await expect(subject.deliver(posting, signal)).rejects.toBeInstanceOf(HaltError);
  });

  it('stops retrying when aborted', async () => {
    const controller = new AbortController();
    const { subject } = delivery(scripted([unavailable()]), 60_000);
    const delivering = subject.deliver(posting, controller.signal);
    setTimeout(() => controller.abort(new Error('stopping')), 20);
    await expect(delivering).rejects.toThrow();
  });
});
