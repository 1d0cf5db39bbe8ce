import { HaltError, RetryableError } from './errors';
import { RetryExhaustedError, backoffDelayMs, retry } from './retry';

const fast = { initialDelayMs: 1, maxDelayMs: 2 };

describe('backoffDelayMs', () => {
  it('grows exponentially up to the cap, scaled by jitter', () => {
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, { initialDelayMs: 100, maxDelayMs: 1000 }, top))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect(backoffDelayMs(3, { initialDelayMs: 100 }, () => 0)).toBe(0);
    expect(backoffDelayMs(3, { initialDelayMs: 100 }, () => 0.5)).toBe(200);
  });
});

describe('retry', () => {
  it('retries transient failures until the operation succeeds', async () => {
    const retried: number[] = [];
    const result = await retry(
      (attempt) => (attempt < 3 ? Promise.reject(new RetryableError('network', `try ${attempt}`)) : Promise.resolve('done')),
      { ...fast, onRetry: (_error, attempt) => retried.push(attempt) },
    );
    expect(result).toBe('done');
    expect(retried).toEqual([1, 2]);
  });

  it('never retries a programming error or a halt', async () => {
    let calls = 0;
    await expect(
      retry(() => {
        calls++;
        return Promise.reject(new TypeError('bug'));
      }, fast),
    ).rejects.toThrow(TypeError);
    await expect(
      retry(() => {
        calls++;
        return Promise.reject(new HaltError('slot', 'gone', 'recreate'));
      }, fast),
    ).rejects.toThrow(HaltError);
    expect(calls).toBe(2);
  });

  it('gives up after maxAttempts with the last error as cause', async () => {
    const failure = retry((attempt) => Promise.reject(new RetryableError('network', `fail ${attempt}`)), { ...fast, maxAttempts: 4 });
    await expect(failure).rejects.toBeInstanceOf(RetryExhaustedError);
    await expect(failure).rejects.toMatchObject({ attempts: 4, cause: { message: 'fail 4' } });
  });

  it('gives up when the total time budget would be exceeded', async () => {
    const started = Date.now();
    await expect(
      retry(() => Promise.reject(new RetryableError('network', 'down')), { initialDelayMs: 20, maxDelayMs: 20, maxElapsedMs: 100 }),
    ).rejects.toBeInstanceOf(RetryExhaustedError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('honours a longer delay demanded by the other side', async () => {
    const delays: number[] = [];
    await retry((attempt) => (attempt === 1 ? Promise.reject(new RetryableError('http', '429')) : Promise.resolve()), {
      ...fast,
      delayHintMs: () => 30,
      onRetry: (_e, _a, delay) => delays.push(delay),
    });
    expect(delays).toEqual([30]);
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const running = retry(() => Promise.reject(new RetryableError('network', 'down')), {
      initialDelayMs: 10_000,
      maxDelayMs: 10_000,
      maxElapsedMs: Infinity,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('stopping')), 20);
    await expect(running).rejects.toThrow();
  });
});
