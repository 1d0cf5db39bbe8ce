import { asEnvelope, positionOf, type ConsumedChange } from './change-event';
import type { DeadLetter } from './dead-letter';
import { PoisonEventError, dispositionOf } from './errors';
import type { Logger } from './logger';
import type { Readiness } from './readiness';
import { retry } from './retry';
import { schemaFingerprintOf, schemaHeaders } from './schema-archive';
import type { AvroCodec } from './schema-registry';
import type { SinkMetrics } from './sink-metrics';
import { encodePosition } from './source-position';

/** A consumed record before decoding: where it came from and its bytes. */
export type RawRecord = DeadLetter['record'];

/** A decoded record, or the dead letter of one that can never be decoded. */
export type DecodeOutcome = { kind: 'change'; change: ConsumedChange } | { kind: 'poison'; letter: DeadLetter };

export interface ChangeDecoderOptions {
  codec: AvroCodec;
  metrics: SinkMetrics;
  logger: Logger;
  readiness: Readiness;
  /**
   * A check of a decoded change that only its content can fail (e.g. `stockKeyProblem`): a problem it names
   * makes the record poison for this sink, dead-lettered with reason `invalid` and the problem as detail.
   */
  validate?: (change: ConsumedChange) => string | undefined;
  /** Backoff while the registry is unavailable: first delay and ceiling, ms. Defaults 500 and 10_000. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** Readiness check owned by the decoder: false while any record waits for the schema registry. */
const registryCheck = 'registry';

/**
 * Decodes consumed records for the sinks, telling an outage from poison.
 *
 * Only a record that can never be decoded — no wire header, bytes that are not valid Avro for a schema the
 * registry knows, an Avro value that is not a change envelope — becomes a dead letter. A registry that is
 * down, slow, answers 5xx or does not know the record's schema id (an in-memory registry restarted empty,
 * before the writers registered again) is an outage: the record is retried with backoff until it decodes or
 * `signal` aborts, the worker is not ready meanwhile, each wait counts in `cdc_sink_registry_waits_total`
 * and is logged. The caller commits nothing past a record that has not been decoded or dead-lettered.
 */
export class ChangeDecoder {
  private waiting = 0;

  constructor(private readonly options: ChangeDecoderOptions) {}

  async decode(record: RawRecord, signal: AbortSignal): Promise<DecodeOutcome> {
    let waited = false;
    try {
      const change = await retry(() => this.decodeOnce(record), {
        initialDelayMs: this.options.initialDelayMs ?? 500,
        maxDelayMs: this.options.maxDelayMs ?? 10_000,
        maxElapsedMs: Infinity,
        signal,
        retryOn: (error) => !signal.aborted && dispositionOf(error) === 'retryable',
        onRetry: (error, attempt, delayMs) => {
          if (!waited) this.startWaiting(error);
          waited = true;
          this.options.metrics.registryWaits.inc({ sink: this.options.metrics.sink });
          if (attempt % 10 === 1)
            this.options.logger.warn(
              { err: error, attempt, delayMs, topic: record.topic, partition: record.partition, offset: record.offset },
              'schema registry unavailable; holding the partition until it answers',
            );
        },
      });
      const problem = this.options.validate?.(change);
      if (problem !== undefined) return { kind: 'poison', letter: { record, reason: 'invalid', detail: describeAt(record, problem) } };
      return { kind: 'change', change };
    } catch (error) {
      if (dispositionOf(error) !== 'poison') throw error;
      return { kind: 'poison', letter: { record, reason: 'undecodable', detail: describeAt(record, (error as Error).message) } };
    } finally {
      if (waited) this.stopWaiting(record);
    }
  }

  /** One attempt; throws the codec's classified errors, and poison for a value that is not an envelope. */
  private async decodeOnce(record: RawRecord): Promise<ConsumedChange> {
    const { codec } = this.options;
    const key = record.rawKey
      ? ((await codec.deserialize(record.topic, 'key', record.rawKey, schemaFingerprintOf(record.headers, schemaHeaders.key))) as Record<
          string,
          unknown
        >)
      : null;
    const value = record.rawValue
      ? await codec.deserialize(record.topic, 'value', record.rawValue, schemaFingerprintOf(record.headers, schemaHeaders.value))
      : null;
    let envelope = null;
    try {
      envelope = value === null ? null : asEnvelope(value);
    } catch (error) {
      throw new PoisonEventError('undecodable', (error as Error).message, { cause: error });
    }
    const position = envelope ? positionOf(envelope) : null;
    return { ...record, key, envelope, position, positionText: position ? encodePosition(position) : null };
  }

  private startWaiting(error: unknown): void {
    this.waiting++;
    this.options.readiness.set(registryCheck, false, `waiting for the schema registry: ${(error as Error)?.message ?? String(error)}`);
  }

  private stopWaiting(record: RawRecord): void {
    this.waiting--;
    if (this.waiting > 0) return;
    this.options.readiness.set(registryCheck, true, 'ok');
    this.options.logger.info({ topic: record.topic, partition: record.partition }, 'schema registry answers again; resuming');
  }
}

function describeAt(record: RawRecord, problem: string): string {
  return `${record.topic}:${record.partition}@${record.offset}: ${problem}`;
}
