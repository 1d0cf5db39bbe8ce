import {
  HaltError,
  dispositionOf,
  pgClientConfig,
  retry,
  type AvroCodec,
  type FleetMetrics,
  type Logger,
  type Readiness,
} from '@inventory-cdc/shared';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { Client } from 'pg';
import { slotNamesOfConfig, type ReaderConfig } from './reader-config';
import type { ReaderMetrics } from './reader-metrics';
import { ReaderSession } from './reader-session';

/** Identical failures in a row, without progress, after which the reader halts (see `failingForGood`). */
const maxIdenticalFailures = 8;

function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface WalReaderDeps {
  config: ReaderConfig;
  kafka: Kafka;
  codec: AvroCodec;
  metrics: ReaderMetrics;
  fleetMetrics: FleetMetrics;
  readiness: Readiness;
  logger: Logger;
  signal: AbortSignal;
}

/**
 * The shard's reader process: waits for leadership (a session advisory lock on the shard's Postgres,
 * released by Postgres when the holder dies), then runs reader sessions until stopped. A session that
 * fails for a transient reason is restarted with backoff from the progress in Kafka; a halt (lost slot,
 * refused schema, bad table) ends the process so an operator looks at it.
 */
export class WalReader {
  private session: ReaderSession | undefined;
  private producer: Producer | undefined;
  private lockClient: Client | undefined;
  private running: Promise<void> | undefined;
  private lastFailure = '';
  private lastFailureDurableLsn = 0n;
  /** Highest commit LSN any session of this process made durable in Kafka. */
  private durableLsn = 0n;
  private identicalFailures = 0;

  constructor(private readonly deps: WalReaderDeps) {
    // Ready means streaming: not before the first session is.
    deps.readiness.set('replication', false, 'starting');
  }

  run(): Promise<void> {
    this.running ??= this.runTerms();
    return this.running;
  }

  private async runTerms(): Promise<void> {
    const { signal, logger, fleetMetrics } = this.deps;
    await retry(() => this.leadershipTerm(), {
      initialDelayMs: 500,
      maxDelayMs: 10_000,
      maxElapsedMs: Infinity,
      signal,
      retryOn: (error) => !signal.aborted && dispositionOf(error) === 'retryable' && !this.failingForGood(error),
      onRetry: (error, attempt, delayMs) => {
        fleetMetrics.countError(error);
        logger.error({ err: error, attempt, delayMs }, 'reader session failed; restarting from the progress in Kafka');
      },
    }).catch((error: unknown) => {
      if (signal.aborted) return;
      if (dispositionOf(error) === 'retryable') {
        const halt = new HaltError(
          'repeated_failure',
          `the reader failed ${this.identicalFailures} times in a row with the same error, without progress: ${errorMessageOf(error)}`,
          'this error will not go away by retrying: fix its cause (the message names it), then restart the reader',
          { cause: error },
        );
        logger.fatal({ err: halt, hint: halt.hint }, 'reader halted');
        throw halt;
      }
      throw error;
    });
  }

  /**
   * An error that repeats identically, session after session, with no transaction made durable in between,
   * will not heal (a value Kafka refuses, a row above the broker's size limit): after
   * `maxIdenticalFailures` of them the reader halts with the error instead of holding the slot's WAL forever.
   */
  private failingForGood(error: unknown): boolean {
    const message = errorMessageOf(error);
    const progressed = this.durableLsn > this.lastFailureDurableLsn;
    this.identicalFailures = message === this.lastFailure && !progressed ? this.identicalFailures + 1 : 1;
    this.lastFailure = message;
    this.lastFailureDurableLsn = this.durableLsn;
    return this.identicalFailures >= maxIdenticalFailures;
  }

  private async leadershipTerm(): Promise<void> {
    const { config, metrics, readiness, logger, signal } = this.deps;
    try {
      await this.acquireLeadership();
      if (signal.aborted) return;
      metrics.leader.set({ shard: metrics.shard }, 1);
      readiness.set('leadership', true, 'leader');
      // A transactional producer with this id fences every older producer with the same id: a zombie
      // reader of this shard can no longer commit anything.
      this.producer = this.deps.kafka.producer({
        transactionalId: `${config.topics.prefix}.wal-reader.shard-${config.shard.id}`,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: config.kafkaTransaction.timeoutMs,
        createPartitioner: Partitioners.DefaultPartitioner,
        // Back-to-back transactions get CONCURRENT_TRANSACTIONS until the coordinator has written the previous
        // commit's markers, a few milliseconds. kafkajs's backoff doubles per retry (10, 20, 40, 80… ms),
        // which measured up to 170 ms of idle per Kafka transaction; capped at 25 ms the next transaction
        // starts soon after the markers are written. 200 retries still give a broker ~5 s to come back
        // before the session fails and restarts from its progress.
        retry: { initialRetryTime: 5, maxRetryTime: 25, retries: 200 },
      });
      await this.producer.connect();
      // kafkajs registers the transactional id only at the first transaction: do it now, before the
      // progress is read, so the predecessor's open transaction is aborted and the log's end is settled.
      await (await this.producer.transaction()).abort();
      this.session = new ReaderSession({ ...this.deps, producer: this.producer });
      await this.session.run();
    } catch (error) {
      if (error instanceof HaltError) logger.fatal({ err: error, hint: error.hint }, 'reader halted');
      throw error;
    } finally {
      metrics.leader.set({ shard: metrics.shard }, 0);
      readiness.set('leadership', false, 'not leading');
      await this.releaseTerm();
    }
  }

  /** Blocks until this process holds the shard's advisory lock (a standby waits here). */
  private async acquireLeadership(): Promise<void> {
    const { config, logger, readiness, signal } = this.deps;
    const client = new Client(pgClientConfig(config.shard.connection, `${config.serviceName}-leader`));
    client.on('error', (error) => {
      logger.error({ err: error }, 'leadership connection lost');
      this.session?.fail(error);
    });
    await client.connect();
    this.lockClient = client;
    const lockName = `cdc-wal-reader:${slotNamesOfConfig(config).slot}`;
    let announced = false;
    while (!signal.aborted) {
      const result = await client.query<{ locked: boolean }>('select pg_try_advisory_lock(hashtext($1)) as locked', [lockName]);
      if (result.rows[0]?.locked) return;
      if (!announced) logger.info({ lockName }, 'another reader leads this shard: standing by');
      announced = true;
      readiness.set('leadership', false, 'standing by');
      await sleep(config.standby.pollIntervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  private async releaseTerm(): Promise<void> {
    const sessionDurable = this.session?.durableLsn ?? 0n;
    if (sessionDurable > this.durableLsn) this.durableLsn = sessionDurable;
    this.session = undefined;
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
    await this.lockClient?.end().catch(() => undefined);
    this.lockClient = undefined;
  }

  /** Graceful stop: the session commits or aborts its Kafka transaction and releases the slot. */
  async stop(): Promise<void> {
    await this.session?.stop();
    await this.running?.catch(() => undefined);
  }
}
