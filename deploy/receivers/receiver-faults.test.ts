import { FaultState, decideFault, fires, noFaults, parseFaultSettings, type FaultDecision, type FaultSettings } from './receiver-faults';

/** A random source that hands out `draws` in order and fails the test if the code draws more. */
function scripted(draws: number[]): { random: () => number; used: () => number } {
  let next = 0;
  return {
    random: () => {
      const value = draws[next++];
      if (value === undefined) throw new Error(`drew more than the ${draws.length} scripted values`);
      return value;
    },
    used: () => next,
  };
}

const faults = (overrides: Partial<FaultSettings>): FaultSettings => ({ ...noFaults, rejectSkus: [], ...overrides });

describe('decideFault', () => {
  const cases: [string, Partial<FaultSettings>, string[], number[], FaultDecision][] = [
    ['no faults: process, no draw', {}, ['A'], [], { action: 'process', dropAfterProcessing: false, latencyMs: 0 }],
    ['latency rides on the answer', { latencyMs: 250 }, ['A'], [], { action: 'process', dropAfterProcessing: false, latencyMs: 250 }],
    ['rejected SKU', { rejectSkus: ['B'] }, ['A', 'B'], [], { action: 'reject-sku', sku: 'B', latencyMs: 0 }],
    ['other SKUs are not rejected', { rejectSkus: ['B'] }, ['A'], [], { action: 'process', dropAfterProcessing: false, latencyMs: 0 }],
    [
      'rejectSkus wins over every rate',
      { rejectSkus: ['A'], rateLimitRate: 1, errorRate: 1, timeoutRate: 1 },
      ['A'],
      [],
      { action: 'reject-sku', sku: 'A', latencyMs: 0 },
    ],
    [
      'rate limit at rate 1 carries Retry-After',
      { rateLimitRate: 1, retryAfterSeconds: 7, errorRate: 1 },
      ['A'],
      [],
      { action: 'rate-limit', retryAfterSeconds: 7, latencyMs: 0 },
    ],
    [
      'rate limit when the draw is under the rate',
      { rateLimitRate: 0.5 },
      ['A'],
      [0.49],
      { action: 'rate-limit', retryAfterSeconds: 1, latencyMs: 0 },
    ],
    [
      'no rate limit when the draw is at the rate',
      { rateLimitRate: 0.5 },
      ['A'],
      [0.5],
      { action: 'process', dropAfterProcessing: false, latencyMs: 0 },
    ],
    ['error before timeout', { errorRate: 1, timeoutRate: 1 }, ['A'], [], { action: 'error', latencyMs: 0 }],
    ['rate limit missed, then error hit', { rateLimitRate: 0.2, errorRate: 0.2 }, ['A'], [0.9, 0.1], { action: 'error', latencyMs: 0 }],
    ['timeout never answers, so no latency', { timeoutRate: 1, latencyMs: 100 }, ['A'], [], { action: 'timeout' }],
    [
      'every rate missed: process',
      { rateLimitRate: 0.3, errorRate: 0.3, timeoutRate: 0.3, dropAfterProcessingRate: 0.3 },
      ['A'],
      [0.5, 0.5, 0.5, 0.5],
      { action: 'process', dropAfterProcessing: false, latencyMs: 0 },
    ],
    [
      'drop after processing',
      { dropAfterProcessingRate: 1, latencyMs: 10 },
      ['A'],
      [],
      { action: 'process', dropAfterProcessing: true, latencyMs: 10 },
    ],
    [
      'drop drawn last',
      { errorRate: 0.5, dropAfterProcessingRate: 0.5 },
      ['A'],
      [0.7, 0.2],
      { action: 'process', dropAfterProcessing: true, latencyMs: 0 },
    ],
  ];

  it.each(cases)('%s', (_name, overrides, skus, draws, expected) => {
    const source = scripted(draws);
    expect(decideFault(faults(overrides), skus, source.random)).toEqual(expected);
    expect(source.used()).toBe(draws.length);
  });
});

describe('fires', () => {
  it.each([
    [0, 0.0, false],
    [1, 0.999, true],
    [0.25, 0.24, true],
    [0.25, 0.25, false],
  ])('rate %d with draw %d → %s', (rate, draw, expected) => {
    expect(fires(rate, () => draw)).toBe(expected);
  });
});

describe('parseFaultSettings', () => {
  it('fills what is left out with the defaults', () => {
    expect(parseFaultSettings({ errorRate: 0.5 })).toEqual({ ok: true, faults: faults({ errorRate: 0.5 }) });
  });

  it.each([
    [{ errorRate: 1.5 }, /errorRate/],
    [{ latencyMs: -1 }, /latencyMs/],
    [{ rejectSkus: 'A' }, /rejectSkus/],
    [{ timeoutRatio: 1 }, /unknown field timeoutRatio/],
    [[], /Expected object/],
  ])('refuses %j', (body, message) => {
    const parsed = parseFaultSettings(body);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});

describe('FaultState', () => {
  it('replaces, reports and clears the faults without sharing arrays with callers', () => {
    const state = new FaultState(() => 0);
    const settings = faults({ rejectSkus: ['A'], latencyMs: 5 });
    state.replace(settings);
    settings.rejectSkus.push('B');
    state.current().rejectSkus.push('C');
    expect(state.current()).toEqual(faults({ rejectSkus: ['A'], latencyMs: 5 }));
    expect(state.decide(['B'])).toEqual({ action: 'process', dropAfterProcessing: false, latencyMs: 5 });
    state.clear();
    expect(state.current()).toEqual(noFaults);
    expect(state.decide(['A'])).toEqual({ action: 'process', dropAfterProcessing: false, latencyMs: 0 });
  });
});
