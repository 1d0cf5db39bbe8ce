import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeDecoder,
  HaltError,
  heartbeatWhile,
  stockKeyProblem,
  watchConsumer,
  type AvroCodec,
  type DeadLetterQueue,
  type Logger,
  type Readiness,
  type SinkMetrics,
} from '@inventory-cdc/shared';
import type { Admin, Batch, Consumer, ConsumerCommitOffsetsEvent, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { WindowLimits } from './erp-config';
import { PartitionWindows, type WindowEntry } from './partition-windows';
import type { PostingDelivery } from './posting-delivery';
import { stockDeltaOf } from './stock-delta';
import { WindowAssembler } from './window-assembler';
import { decodeMarker } from './window-marker';

export interface WindowConsumerOptions {
  kafka: Kafka;
  codec: AvroCodec;
  groupId: string;
  topic: string;
  limits: WindowLimits;
  delivery: PostingDelivery;
  deadLetters: DeadLetterQueue;
  metrics: SinkMetrics;
  logger: Logger;
  readiness: Readiness;
  partitionsConsumedConcurrently: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** How long `close()` lets deliveries in flight finish before aborting them. */
  drainTimeoutMs: number;
  /** A failure that must stop the worker (bad ERP credentials, a consumer that will not restart). */
  onHalt: (error: unknown) => void;
}

/**
 * The erp-adapter's consumer-group member, on kafkajs `eachBatch` directly rather than the shared
 * `startChangeConsumer`: a window spans fetches (a time cut of an idle partition happens between them),
 * its offsets are committed per window — first with the window marker, then past it — rather than per
 * fetched batch, and a newly assigned partition must read the marker committed with its offset. See the
 * README ("Why not the shared change consumer").
 *
 * Each assignment (GROUP_JOIN) starts an epoch: the previous epoch's partitions are aborted (their open
 * windows are dropped, nothing of them was posted unmarked) and every partition restarts from what the
 * group has committed. A partition whose flush fails is resumed the same way, by seeking back.
 */
export class WindowConsumer {
  private readonly partitions = new Map<string, PartitionWindows>();
  /** Partitions seeking back to the committed offset after a failure; their batches are dropped meanwhile. */
  private readonly reseeking = new Set<string>();
  private readonly commitWatchers = new Set<(event: ConsumerCommitOffsetsEvent) => void>();
  private epoch = new AbortController();
  private closing: Promise<void> | undefined;
  private readonly decoder: ChangeDecoder;

  private constructor(
    private readonly options: WindowConsumerOptions,
    private readonly consumer: Consumer,
    private readonly admin: Admin,
  ) {
    this.decoder = new ChangeDecoder({
      codec: options.codec,
      metrics: options.metrics,
      logger: options.logger,
      readiness: options.readiness,
      // The same key rule as every sink: a row no sink can key on is dead-lettered, never posted.
      validate: (change) => stockKeyProblem(change.envelope),
    });
  }

  static async start(options: WindowConsumerOptions): Promise<WindowConsumer> {
    const consumer = options.kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
    });
    const admin = options.kafka.admin();
    const self = new WindowConsumer(options, consumer, admin);
    options.readiness.set('kafka', false, 'joining the group');
    watchConsumer(consumer, options.readiness, 'kafka', (error, willRestart) => {
      options.logger.error({ err: error, willRestart }, 'consumer crashed');
      if (!willRestart) options.onHalt(error);
    });
    consumer.on(consumer.events.GROUP_JOIN, () => self.newEpoch());
    consumer.on(consumer.events.COMMIT_OFFSETS, (event) => self.commitWatchers.forEach((watch) => watch(event)));
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => self.onFilteredBatch(event.payload));
    await admin.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
      eachBatch: (payload) => self.onBatch(payload),
    });
    return self;
  }

  /** Lets deliveries in flight finish (up to the drain timeout), then aborts the rest and leaves the group. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const states = [...this.partitions.values()];
      states.forEach((state) => state.close());
      const drainTimer = new AbortController();
      const drainTimeout = sleep(this.options.drainTimeoutMs, undefined, { signal: drainTimer.signal }).catch(() => undefined);
      await Promise.race([Promise.all(states.map((state) => state.idle())), drainTimeout]);
      drainTimer.abort();
      this.epoch.abort(new Error('stopping'));
      await this.consumer.disconnect();
      await this.admin.disconnect();
    })();
    return this.closing;
  }

  private newEpoch(): void {
    this.epoch.abort(new Error('partitions reassigned'));
    this.epoch = new AbortController();
    for (const state of this.partitions.values()) state.close();
    // The aborted states stay in the map until their chains are idle: the next owner waits for them.
  }

  /**
   * Feeds one fetched batch to its partition's windows, a window's worth of records at a time, heartbeating in
   * between: a rebalance is noticed (the heartbeat throws, kafkajs rejoins) after at most one chunk, not after
   * a whole fetch of postings.
   */
  // kafkajs builds these payload functions as closures; its types merely declare them as methods.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  private async onBatch({ batch, resolveOffset, heartbeat, isStale, isRunning }: EachBatchPayload): Promise<void> {
    if (this.closing || batch.messages.length === 0 || isStale()) return;
    const state = await this.startPartition(batch, heartbeat);
    if (!state) return;
    const chunkSize = this.options.limits.maxEvents;
    for (let start = 0; start < batch.messages.length; start += chunkSize) {
      if (this.closing || isStale() || !isRunning()) return;
      const chunk = batch.messages.slice(start, start + chunkSize);
      const last = start + chunkSize >= batch.messages.length ? batch.lastOffset() : chunk[chunk.length - 1]!.offset;
      try {
        // Decoding may wait out a registry outage: heartbeat meanwhile, as during a delivery.
        await heartbeatWhile(
          () =>
            this.decode(batch.topic, batch.partition, chunk, state.startOffset, state.signal).then((entries) =>
              state.offer(entries, BigInt(last) + 1n, BigInt(batch.highWatermark)),
            ),
          heartbeat,
          this.options.heartbeatIntervalMs,
        );
      } catch (error) {
        return this.onPartitionFailure(state, error);
      }
      this.options.metrics.consumed.inc({ sink: this.options.metrics.sink }, chunk.length);
      // Moves only the fetch position: offsets are committed by the window protocol, never here.
      resolveOffset(last);
      await heartbeat();
    }
  }

  /**
   * A fetch that held only records no consumer is given (a commit marker, aborted records) never reaches
   * `eachBatch`: kafkajs moves past it itself. The partition's windows learn of it here, so an idle
   * partition's committed offset can reach the log end.
   */
  private onFilteredBatch(batch: {
    topic: string;
    partition: number;
    batchSize: number;
    firstOffset: string | null;
    lastOffset: string;
  }): void {
    if (batch.batchSize !== 0 || batch.firstOffset === null || this.closing) return;
    const key = `${batch.topic}:${batch.partition}`;
    const state = this.partitions.get(key);
    if (!state || state.failed || state.signal !== this.epoch.signal || this.reseeking.has(key)) return;
    state
      .passFiltered(BigInt(batch.firstOffset), BigInt(batch.lastOffset) + 1n)
      .catch((error: unknown) => this.onPartitionFailure(state, error));
  }

  private async startPartition(batch: Batch, heartbeat: () => Promise<void>): Promise<PartitionWindows | undefined> {
    try {
      return await heartbeatWhile(() => this.stateFor(batch), heartbeat, this.options.heartbeatIntervalMs);
    } catch (error) {
      if (error instanceof HaltError) return void this.options.onHalt(error);
      // Nothing was resolved, so kafkajs fetches the same records again; pace it.
      this.options.logger.warn({ err: error, topic: batch.topic, partition: batch.partition }, 'could not start the partition; retrying');
      await sleep(1_000);
      return undefined;
    }
  }

  /**
   * A partition's windows failed: unless that is the end of their assignment anyway, the partition seeks back
   * to the committed offset and starts over from the committed marker, as after a crash. Until the seek is
   * in place, its batches are dropped, so no new windows start from a position past uncommitted records.
   */
  private onPartitionFailure(state: PartitionWindows, error: unknown): void {
    if (error instanceof HaltError) return this.options.onHalt(error);
    if (this.closing || state.signal.aborted) return;
    const key = `${state.topic}:${state.partition}`;
    if (this.reseeking.has(key)) return;
    this.options.logger.warn({ err: error, partition: key }, 'partition failed; resuming from the committed offset and window marker');
    this.reseeking.add(key);
    void this.seekBack(state).finally(() => this.reseeking.delete(key));
  }

  private async seekBack(state: PartitionWindows): Promise<void> {
    const { topic, partition } = state;
    for (;;) {
      try {
        await state.idle();
        const offset = String((await this.committedOf(topic, partition)).offset ?? state.origin);
        if (this.closing || state.signal.aborted) return;
        this.options.logger.info({ partition: `${topic}:${partition}`, offset }, 'seeking back to the committed offset');
        this.consumer.seek({ topic, partition, offset });
        return;
      } catch (error) {
        this.options.logger.warn({ err: error, topic, partition }, 'could not read the committed offset; retrying');
        await sleep(1_000);
      }
    }
  }

  /**
   * The partition's windows for the current epoch, created on its first batch from the committed offset and
   * marker. Undefined while the partition is seeking back after a failure.
   */
  private async stateFor(batch: Batch): Promise<PartitionWindows | undefined> {
    const { topic, partition } = batch;
    const key = `${topic}:${partition}`;
    if (this.reseeking.has(key)) return undefined;
    const signal = this.epoch.signal;
    const existing = this.partitions.get(key);
    if (existing && !existing.failed && existing.signal === signal) return existing;
    // A previous owner (an older epoch) finishes whatever it is doing before this one reads the commit.
    existing?.close();
    await existing?.idle();
    if (this.partitions.get(key) === existing) this.partitions.delete(key);
    const committed = await this.committedOf(topic, partition);
    const reading = committed.offset === undefined ? ({ kind: 'none' } as const) : decodeMarker(committed.metadata, committed.offset);
    if (reading.kind === 'invalid')
      this.options.logger.warn({ partition: key, detail: reading.detail }, 'ignoring the committed offset metadata');
    if (reading.kind === 'pending')
      this.options.logger.info(
        { partition: key, from: String(reading.range.from), to: String(reading.range.to) },
        'replaying a marked window',
      );
    const state: PartitionWindows = new PartitionWindows(
      {
        topic,
        partition,
        startOffset: committed.offset ?? 0n,
        ports: {
          commit: (offset, metadata, commitSignal) => this.commit(topic, partition, offset, metadata, commitSignal),
          deliver: (posting, deliverSignal) => this.options.delivery.deliver(posting, deliverSignal),
          deadLetter: (letters) => this.options.deadLetters.send(letters),
        },
        metrics: this.options.metrics,
        logger: this.options.logger.child({ partition: key }),
        signal,
        ...(reading.kind === 'pending' && reading.split ? { splitWindow: reading.range } : {}),
        onFailure: (error) => this.onPartitionFailure(state, error),
      },
      new WindowAssembler<WindowEntry>(this.options.limits, reading.kind === 'pending' ? reading.range : undefined),
    );
    this.partitions.set(key, state);
    return state;
  }

  private async committedOf(topic: string, partition: number): Promise<{ offset?: bigint; metadata: string | null }> {
    const topics = await this.admin.fetchOffsets({ groupId: this.options.groupId, topics: [topic] });
    const found = topics.find((entry) => entry.topic === topic)?.partitions.find((entry) => entry.partition === partition);
    if (!found || Number(found.offset) < 0) return { metadata: null };
    return { offset: BigInt(found.offset), metadata: found.metadata };
  }

  /** Decodes a batch's records (those below the partition's committed offset were delivered before). */
  private async decode(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    startOffset: bigint,
    signal: AbortSignal,
  ): Promise<{ offset: bigint; entry: WindowEntry }[]> {
    const entries: { offset: bigint; entry: WindowEntry }[] = [];
    for (const message of messages) {
      const offset = BigInt(message.offset);
      if (offset < startOffset) continue;
      entries.push({ offset, entry: await this.entryOf(topic, partition, message, signal) });
    }
    return entries;
  }

  /** A registry outage waits inside `decode` (never a dead letter); only a record that can never decode is poison. */
  private async entryOf(topic: string, partition: number, message: KafkaMessage, signal: AbortSignal): Promise<WindowEntry> {
    const record = { topic, partition, offset: message.offset, rawKey: null, rawValue: message.value, headers: message.headers };
    const where = `${topic}:${partition}@${message.offset}`;
    if (!message.value) return { record: { ...record, rawKey: message.key }, outcome: { kind: 'none' }, commitTsMicros: null };
    const decoded = await this.decoder.decode(record, signal);
    const withKey = { ...record, rawKey: message.key };
    if (decoded.kind === 'poison')
      return {
        record: withKey,
        outcome: { kind: 'poison', reason: decoded.letter.reason === 'invalid' ? 'invalid' : 'undecodable', detail: decoded.letter.detail },
        commitTsMicros: null,
      };
    const envelope = decoded.change.envelope!;
    return { record: withKey, outcome: stockDeltaOf(envelope, where), commitTsMicros: envelope.source.commitTs };
  }

  /**
   * Commits one partition's offset, and proves it happened: kafkajs skips a commit silently once the consumer
   * is stopping, and a marker that was never stored must not be followed by a POST. The commit carries the
   * group generation, so a member that lost the partition in a rebalance is refused by the coordinator.
   */
  private async commit(topic: string, partition: number, offset: bigint, metadata: string | null, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    let stored = false;
    const watch = (event: ConsumerCommitOffsetsEvent): void => {
      const committed = event.payload.topics
        .find((entry) => entry.topic === topic)
        ?.partitions.find((entry) => Number(entry.partition) === partition);
      if (committed && String(committed.offset) === offset.toString()) stored = true;
    };
    this.commitWatchers.add(watch);
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset: offset.toString(), metadata }]);
    } finally {
      this.commitWatchers.delete(watch);
    }
    if (!stored) throw new Error(`offset ${offset} of ${topic}:${partition} was not committed (the consumer is stopping)`);
  }
}
