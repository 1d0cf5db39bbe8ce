import type { Consumer, Kafka } from 'kafkajs';
import { ChangeDecoder } from './change-decoder';
import { crashPoint } from './crash-points';
import type { ConsumedChange } from './change-event';
import type { DeadLetter, DeadLetterQueue } from './dead-letter';
import { dispositionOf } from './errors';
import { watchConsumer } from './kafka-client';
import type { Logger } from './logger';
import type { Readiness } from './readiness';
import { retry } from './retry';
import type { AvroCodec } from './schema-registry';
import type { SinkMetrics } from './sink-metrics';

/** Crash points (see crash-points.ts) of the shared consumer. */
export const sinkCrashPoints = { afterDeadLetters: 'sink-after-dead-letters', afterApply: 'sink-after-apply' } as const;

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: string;
}

/**
 * A sink: applies one partition's consumed records, in offset order.
 *
 * Contract: `apply` may see the same records again (after a crash, a rebalance, a replay) and must end in
 * the same state — it stores its progress with its effect or dedupes on the source position / an
 * idempotency key. It returns the records it could never deliver, which go to the dead-letter topic; a
 * thrown retryable error retries the whole batch. The partition's offset is committed only after `apply`
 * and the dead letters are done, so a committed offset never runs ahead of the effect.
 */
export interface ChangeSink {
  /**
   * `deadLetter` sends dead letters at once: a sink that stores its progress with its effect must send the
   * batch's dead letters through it before it stores progress past them (what it returns is sent after).
   */
  apply(changes: ConsumedChange[], signal: AbortSignal, deadLetter: (letters: DeadLetter[]) => Promise<void>): Promise<DeadLetter[]>;
  /** Where to resume newly assigned partitions when the sink keeps its own progress (seeks past Kafka's). */
  resumePositions?(assigned: { topic: string; partition: number }[]): Promise<TopicPartitionOffset[]>;
}

export interface ChangeConsumerOptions {
  kafka: Kafka;
  codec: AvroCodec;
  groupId: string;
  topics: string[];
  sink: ChangeSink;
  /** A content check every decoded change must pass, else it is dead-lettered (see ChangeDecoder). */
  validate?: (change: ConsumedChange) => string | undefined;
  deadLetters: DeadLetterQueue;
  metrics: SinkMetrics;
  logger: Logger;
  readiness: Readiness;
  signal: AbortSignal;
  /** Partitions processed at once; one slow or failing partition never blocks the others. */
  partitionsConsumedConcurrently: number;
  /** Group session timeout and heartbeat period (see sink-config.ts); kafkajs's defaults when absent. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Record bytes fetched per partition at once (kafkajs's default 1 MiB): bounds one batch, so one commit. */
  maxBytesPerPartition?: number;
  /**
   * The consumer crashed and kafkajs will not restart it: the member has left its group for good and no
   * partition of this worker moves again. kafkajs restarts only after errors it deems retriable; after a
   * broker restart it also gives up on some that are transient (`KafkaJSGroupCoordinatorNotFound` while the
   * coordinator loads), and on any error a sink throws that is not retried. A worker would stay up with a
   * dead stream, so the caller ends it (exit non-zero) and its supervisor starts it again.
   */
  onStopped: (error: Error) => void;
}

/**
 * Runs `task` while calling `heartbeat` every `intervalMs`.
 *
 * Why: kafkajs heartbeats only between batches. A batch can legitimately take longer than the session
 * timeout (an HTTP sink's retries with backoff, or an open circuit holding deliveries until the service is
 * back), and a member that stops heartbeating is expelled, its uncommitted batch re-sent by the next owner,
 * again and again. A heartbeat that fails (a rebalance has begun) is left to the batch's own end: the
 * commit then fails and the next owner re-sends the batch, which the sink's idempotence absorbs.
 */
export async function heartbeatWhile<T>(task: () => Promise<T>, heartbeat: () => Promise<void>, intervalMs: number): Promise<T> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), intervalMs);
  try {
    return await task();
  } finally {
    clearInterval(timer);
  }
}

/**
 * Runs a consumer-group member feeding `sink` (read_committed, so only committed reader transactions are
 * seen). Records that can never be decoded go to the dead-letter topic with the reason and the partition
 * moves on; a schema registry that is down or does not know an id yet holds the partition (see ChangeDecoder).
 */
export async function startChangeConsumer(options: ChangeConsumerOptions): Promise<Consumer> {
  const { kafka, codec, sink, metrics, logger, signal } = options;
  const decoder = new ChangeDecoder({
    codec,
    metrics,
    logger,
    readiness: options.readiness,
    ...(options.validate ? { validate: options.validate } : {}),
  });
  const consumer = kafka.consumer({
    groupId: options.groupId,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    ...(options.sessionTimeoutMs ? { sessionTimeout: options.sessionTimeoutMs } : {}),
    ...(options.heartbeatIntervalMs ? { heartbeatInterval: options.heartbeatIntervalMs } : {}),
    ...(options.maxBytesPerPartition ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
  });
  options.readiness.set('kafka', false, 'joining the group');
  watchConsumer(consumer, options.readiness, 'kafka', (error, willRestart) => {
    logger.error({ err: error, willRestart }, 'consumer crashed');
    if (!willRestart && !signal.aborted) options.onStopped(error);
  });
  if (sink.resumePositions) {
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assigned = Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
        partitions.map((partition) => ({ topic, partition })),
      );
      sink.resumePositions!(assigned)
        .then((positions) => positions.forEach((position) => consumer.seek(position)))
        .catch((error: unknown) => logger.error({ err: error }, 'could not read the sink’s stored progress; resuming from Kafka’s'));
    });
  }
  const commits = new PartitionCommits(consumer);
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    // A fetch of only records no read_committed consumer is given (a commit or abort marker, aborted
    // records) never reaches eachBatch: kafkajs moves past it without committing. Everything before it was
    // applied and committed (a partition's fetch position moves only after its batch), so the offset after
    // it may be committed, and an idle partition's lag reaches 0. A partition still inside an open reader
    // transaction is never fetched past its last stable offset, so this never commits past a record to come.
    if (payload.batchSize !== 0 || payload.firstOffset === null) return;
    commits
      .commit(payload.topic, payload.partition, BigInt(payload.lastOffset) + 1n)
      .then(() => metrics.lagMessages.set(partitionLabels(metrics, payload), Number(payload.offsetLag)))
      .catch((error: unknown) =>
        logger.warn({ err: error, topic: payload.topic, partition: payload.partition }, 'could not commit past markers'),
      );
  });
  await consumer.connect();
  await consumer.subscribe({ topics: options.topics, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    // kafkajs builds these payload functions as closures; its types merely declare them as methods.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    eachBatch: async ({ batch, resolveOffset, heartbeat, isStale }) => {
      if (batch.messages.length === 0 || isStale()) return;
      const changes: ConsumedChange[] = [];
      const undecodable: DeadLetter[] = [];
      const deliver = async (): Promise<void> => {
        // A registry outage holds the batch here (nothing applied, nothing committed) until it answers.
        for (const message of batch.messages) {
          const record = {
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            rawKey: message.key,
            rawValue: message.value,
            headers: message.headers,
          };
          const outcome = await decoder.decode(record, signal);
          if (outcome.kind === 'change') changes.push(outcome.change);
          else undecodable.push(outcome.letter);
        }
        metrics.consumed.inc({ sink: metrics.sink }, batch.messages.length);
        // A crash after dead letters are sent and before the batch's effect repeats them (at least once).
        const sendLetters = async (letters: DeadLetter[]): Promise<void> => {
          if (letters.length === 0) return;
          await options.deadLetters.send(letters);
          crashPoint(sinkCrashPoints.afterDeadLetters);
        };
        // Before the sink may store its progress past them (it may keep its own, see resumePositions).
        await sendLetters(undecodable);
        // Once per record, however often a failing batch is retried.
        const sent = new Set<string>();
        const deadLetter = async (letters: DeadLetter[]): Promise<void> => {
          const fresh = letters.filter((letter) => !sent.has(letter.record.offset));
          await sendLetters(fresh);
          fresh.forEach((letter) => sent.add(letter.record.offset));
        };
        const undeliverable = await retry(() => sink.apply(changes, signal, deadLetter), {
          initialDelayMs: 200,
          maxDelayMs: 10_000,
          maxElapsedMs: Infinity,
          signal,
          retryOn: (error) => !signal.aborted && dispositionOf(error) === 'retryable',
          onRetry: (error, attempt) => {
            metrics.retries.inc({ sink: metrics.sink });
            logger.warn({ err: error, attempt, topic: batch.topic, partition: batch.partition }, 'sink batch failed; retrying');
          },
        });
        // A crash here must lose no dead letter: the sink may already have stored its progress past them.
        crashPoint(sinkCrashPoints.afterApply);
        await options.deadLetters.send(undeliverable);
      };
      await heartbeatWhile(deliver, heartbeat, options.heartbeatIntervalMs ?? 3_000);
      resolveOffset(batch.lastOffset());
      // Explicitly: with autoCommit off, commitOffsetsIfNecessary() commits nothing.
      await commits.commit(batch.topic, batch.partition, BigInt(batch.lastOffset()) + 1n);
      await heartbeat();
      const labels = partitionLabels(metrics, batch);
      const behind = Number(batch.offsetLag());
      metrics.lagMessages.set(labels, behind);
      // Caught up means no staleness; otherwise the age of the newest change this batch applied.
      const last = changes.findLast((change) => change.envelope)?.envelope;
      if (behind === 0) metrics.lagSeconds.set(labels, 0);
      else if (last) metrics.lagSeconds.set(labels, Math.max(0, (Date.now() * 1000 - Number(last.source.commitTs)) / 1e6));
    },
  });
  return consumer;
}

function partitionLabels(
  metrics: SinkMetrics,
  at: { topic: string; partition: number },
): { sink: string; topic: string; partition: string } {
  return { sink: metrics.sink, topic: at.topic, partition: String(at.partition) };
}

/**
 * Commits offsets one partition at a time, in the order asked: a commit past markers (from an event) and
 * the next batch's commit must not reach the coordinator the other way round, moving the offset back.
 */
class PartitionCommits {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly consumer: Pick<Consumer, 'commitOffsets'>) {}

  commit(topic: string, partition: number, offset: bigint): Promise<void> {
    const key = `${topic}:${partition}`;
    const next = (this.chains.get(key) ?? Promise.resolve()).then(() =>
      this.consumer.commitOffsets([{ topic, partition, offset: offset.toString() }]),
    );
    this.chains.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  }
}
