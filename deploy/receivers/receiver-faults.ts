/**
 * Fault injection for the reference receivers: what the test asked for (`PUT /admin/faults`) and, per
 * request, what the receiver does about it.
 *
 * Pure on purpose: the only source of chance is the injected `random`, so a unit test can replay any
 * sequence of draws and an integration test can use rates of exactly 0 or 1 and get the same answer
 * every time. A draw is consumed only for a rate strictly between 0 and 1, so the draws a test feeds
 * line up one-to-one with the fractional rates it configured.
 */
import { z } from 'zod';

/** Every fault knob, with its default. A PUT replaces the whole set: knobs left out go back to these. */
export interface FaultSettings {
  /** Fraction of requests answered 500 without being stored. */
  errorRate: number;
  /** Delay added before every answer the receiver does give (not to held or dropped requests). */
  latencyMs: number;
  /** Fraction of requests never answered: the socket stays open until the client gives up. */
  timeoutRate: number;
  /** Fraction of requests answered 429 with `Retry-After`. */
  rateLimitRate: number;
  /** The `Retry-After` of a 429, in seconds. */
  retryAfterSeconds: number;
  /** SKUs refused permanently (400): the client must not retry these, it must dead-letter them. */
  rejectSkus: string[];
  /** Fraction of requests stored normally whose socket is then destroyed unanswered: the retry is a duplicate. */
  dropAfterProcessingRate: number;
}

export const noFaults: Readonly<FaultSettings> = Object.freeze({
  errorRate: 0,
  latencyMs: 0,
  timeoutRate: 0,
  rateLimitRate: 0,
  retryAfterSeconds: 1,
  rejectSkus: [],
  dropAfterProcessingRate: 0,
});

const rate = z.number().min(0).max(1);

/** The body of `PUT /admin/faults`. Strict, so a misspelt knob is a 400 instead of a silently healthy receiver. */
export const faultSettingsSchema = z
  .object({
    errorRate: rate,
    latencyMs: z.number().int().min(0).max(600_000),
    timeoutRate: rate,
    rateLimitRate: rate,
    retryAfterSeconds: z.number().int().min(0).max(86_400),
    rejectSkus: z.array(z.string().min(1)).max(10_000),
    dropAfterProcessingRate: rate,
  })
  .partial()
  .strict();

export type FaultSettingsInput = z.infer<typeof faultSettingsSchema>;

export type ParsedFaults = { ok: true; faults: FaultSettings } | { ok: false; error: string };

/** Validates a `PUT /admin/faults` body and fills the knobs it leaves out with their defaults. */
export function parseFaultSettings(body: unknown): ParsedFaults {
  const parsed = faultSettingsSchema.safeParse(body);
  if (!parsed.success) return { ok: false, error: describeZodError(parsed.error) };
  return { ok: true, faults: { ...noFaults, rejectSkus: [...noFaults.rejectSkus], ...parsed.data } };
}

/** One line naming the first offending field, which is what a test author needs to fix the request. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid body';
  if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.join(', ')}`;
  const field = issue.path.join('.');
  return field ? `invalid field ${field}: ${issue.message}` : issue.message;
}

/**
 * What to do with one authenticated, well-formed request. Every variant that answers carries the
 * latency to wait first; `timeout` never answers, so it has none.
 */
export type FaultDecision =
  | { action: 'reject-sku'; sku: string; latencyMs: number }
  | { action: 'rate-limit'; retryAfterSeconds: number; latencyMs: number }
  | { action: 'error'; latencyMs: number }
  | { action: 'timeout' }
  | { action: 'process'; dropAfterProcessing: boolean; latencyMs: number };

/** True with probability `rate`; draws only when the outcome is actually uncertain. */
export function fires(rate: number, random: () => number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return random() < rate;
}

/**
 * The decision for one request naming `skus`, in the order the brief fixes: rejected SKU, rate limit,
 * error, timeout, then process (and maybe drop after processing). Authentication is checked before this
 * by the server; latency applies to whatever answer comes out.
 */
export function decideFault(faults: FaultSettings, skus: readonly string[], random: () => number): FaultDecision {
  const latencyMs = faults.latencyMs;
  const rejected = skus.find((sku) => faults.rejectSkus.includes(sku));
  if (rejected !== undefined) return { action: 'reject-sku', sku: rejected, latencyMs };
  if (fires(faults.rateLimitRate, random)) return { action: 'rate-limit', retryAfterSeconds: faults.retryAfterSeconds, latencyMs };
  if (fires(faults.errorRate, random)) return { action: 'error', latencyMs };
  if (fires(faults.timeoutRate, random)) return { action: 'timeout' };
  return { action: 'process', dropAfterProcessing: fires(faults.dropAfterProcessingRate, random), latencyMs };
}

/**
 * The receiver's current faults. Lives in memory, not in Postgres: faults are a property of one running
 * test, and a restarted receiver should come back healthy.
 */
export class FaultState {
  private settings: FaultSettings = { ...noFaults, rejectSkus: [] };

  constructor(private readonly random: () => number = Math.random) {}

  current(): FaultSettings {
    return { ...this.settings, rejectSkus: [...this.settings.rejectSkus] };
  }

  replace(settings: FaultSettings): void {
    this.settings = { ...settings, rejectSkus: [...settings.rejectSkus] };
  }

  clear(): void {
    this.replace(noFaults);
  }

  decide(skus: readonly string[]): FaultDecision {
    return decideFault(this.settings, skus, this.random);
  }
}
