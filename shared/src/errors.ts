/**
 * The fleet's error classes. One classification decides what a worker does with a failure:
 * - `retryable`: transient (network, broker/registry unavailable, 5xx); retry with backoff.
 * - `poison`: this one input can never succeed (undecodable, permanently refused); dead-letter it.
 * - `halt`: continuing would lose or corrupt data (slot invalidated, schema refused, bad config);
 *   stop the stream and tell the operator what to do (`hint`).
 * - `programming`: a bug; never retried.
 */
export type ErrorDisposition = 'retryable' | 'poison' | 'halt' | 'programming';

export abstract class FleetError extends Error {
  abstract readonly disposition: ErrorDisposition;
  /** Bounded label value for the `errors_total{kind}` metric. */
  readonly kind: string;

  constructor(kind: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
  }
}

export class RetryableError extends FleetError {
  readonly disposition = 'retryable' as const;
}

export class PoisonEventError extends FleetError {
  readonly disposition = 'poison' as const;
}

export class HaltError extends FleetError {
  readonly disposition = 'halt' as const;
  /** What the operator should do, e.g. "set REPLICA IDENTITY FULL on inventory.stock". */
  readonly hint: string;

  constructor(kind: string, message: string, hint: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.hint = hint;
  }
}

/** A configuration problem found at start; `issues` each name the key path and the rule broken. */
export class ConfigError extends HaltError {
  readonly issues: readonly string[];

  constructor(source: string, issues: readonly string[]) {
    super(
      'config',
      `invalid configuration (${source}):\n  - ${issues.join('\n  - ')}`,
      'fix the named keys in the config file or their environment overrides',
    );
    this.issues = issues;
  }
}

const programmingErrors = [TypeError, ReferenceError, SyntaxError, RangeError];

/** Classifies any thrown value; unknown errors count as retryable, JS engine errors as bugs. */
export function dispositionOf(error: unknown): ErrorDisposition {
  if (error instanceof FleetError) return error.disposition;
  if (programmingErrors.some((type) => error instanceof type)) return 'programming';
  return 'retryable';
}

/** A short, bounded error kind for metrics and logs. */
export function errorKindOf(error: unknown): string {
  if (error instanceof FleetError) return error.kind;
  if (error instanceof Error) return dispositionOf(error) === 'programming' ? 'bug' : 'unclassified';
  return 'unclassified';
}
