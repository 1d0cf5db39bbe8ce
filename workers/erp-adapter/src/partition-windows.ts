import { crashPoint, type DeadLetter, type Logger, type SinkMetrics } from '@inventory-cdc/shared';
import type { DeliveryOutcome } from './posting-delivery';
import { postingOf, type Posting } from './posting-builder';
import type { DeltaOutcome, StockLine } from './stock-delta';
import type { ClosedWindow, WindowAssembler, WindowRange } from './window-assembler';
import { encodeMarker } from './window-marker';

/** One consumed record as a window holds it: the raw bytes (for dead letters) and what it means for the ERP. */
export interface WindowEntry {
  record: DeadLetter['record'];
  outcome: DeltaOutcome;
  /** Source commit time (µs) of a change event; null for tombstones and undecodable records. */
  commitTsMicros: bigint | null;
}

/** What a partition's windows need from the outside world. */
export interface WindowPorts {
  /**
   * Commits the partition's offset with `metadata` (a window marker, or null), and resolves only once the
   * group coordinator has stored it; throws otherwise (rebalance, consumer stopping).
   */
  commit(offset: bigint, metadata: string | null, signal: AbortSignal): Promise<void>;
  deliver(posting: Posting, signal: AbortSignal): Promise<DeliveryOutcome>;
  deadLetter(letters: DeadLetter[]): Promise<void>;
}

/** Crash points (see shared crash-points.ts) at the instants the window protocol must survive. */
export const erpCrashPoints = { afterMarker: 'erp-after-window-marked', afterPosting: 'erp-after-posting' } as const;

/** Where a partition's windows come from and report to. */
export interface PartitionContext {
  topic: string;
  partition: number;
  /** The committed offset this assignment starts from; records below it were delivered before. */
  startOffset: bigint;
  ports: WindowPorts;
  metrics: SinkMetrics;
  logger: Logger;
  /** Aborted when this assignment ends (rebalance, shutdown): stops deliveries and forbids commits. */
  signal: AbortSignal;
  /** The replayed window (the committed marker's) was being sent one line per posting: send it so again. */
  splitWindow?: WindowRange;
  /** Called when a time-cut flush fails outside any caller's await. */
  onFailure: (error: unknown) => void;
  now?: () => number;
}

/**
 * The windows of one assigned partition, for one assignment (a rebalance or a failure starts a fresh one
 * from the committed offset and marker). Records are offered in offset order; closed windows are flushed
 * one at a time, in order, by the window protocol described in window-marker.ts. Every operation runs on
 * one serial chain, so a time cut firing while a batch is being offered never overlaps it.
 *
 * A failed flush fails the whole object (`failed`): what is in memory can no longer be trusted to match
 * what is committed, so the consumer discards it and resumes from the committed state.
 */
export class PartitionWindows {
  readonly topic: string;
  readonly partition: number;
  readonly signal: AbortSignal;
  private readonly ports: WindowPorts;
  private readonly metrics: SinkMetrics;
  private readonly logger: Logger;
  private readonly now: () => number;
  private tail: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failure: unknown;
  private highWatermark = 0n;
  private firstOffered: bigint | undefined;
  /** The fetch position after everything offered so far, and the offset this assignment last committed. */
  private fetchPosition: bigint;
  private committed: bigint;

  constructor(
    private readonly context: PartitionContext,
    private readonly assembler: WindowAssembler<WindowEntry>,
  ) {
    this.topic = context.topic;
    this.partition = context.partition;
    this.signal = context.signal;
    this.ports = context.ports;
    this.metrics = context.metrics;
    this.logger = context.logger;
    this.now = context.now ?? Date.now;
    this.fetchPosition = context.startOffset;
    this.committed = context.startOffset;
  }

  get startOffset(): bigint {
    return this.context.startOffset;
  }

  /** The offset to seek back to after a failure when the group has none committed: where this began. */
  get origin(): bigint {
    return this.firstOffered ?? this.context.startOffset;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Adds one fetched batch's records; `nextOffset` is the fetch position after the batch. */
  offer(entries: { offset: bigint; entry: WindowEntry }[], nextOffset: bigint, highWatermark: bigint): Promise<void> {
    this.highWatermark = highWatermark;
    this.firstOffered ??= entries[0]?.offset;
    return this.serial(async () => {
      for (const { offset, entry } of entries) {
        const commitMs = entry.commitTsMicros === null ? undefined : Number(entry.commitTsMicros / 1000n);
        await this.flushAll(this.assembler.add(offset, entry, this.now(), commitMs));
      }
      if (nextOffset > this.fetchPosition) this.fetchPosition = nextOffset;
      await this.flushAll(this.assembler.passPosition(nextOffset));
      await this.flushAll(this.assembler.tick(this.now()));
    });
  }

  /**
   * The fetch moved to `nextOffset` over records no consumer is given (a transaction's commit marker,
   * aborted records): kafkajs resolves such a fetch itself. Counted only when it continues from where this
   * assignment's fetch stands (`firstOffset`), so a stale fetch from before a seek is ignored.
   */
  passFiltered(firstOffset: bigint, nextOffset: bigint): Promise<void> {
    return this.serial(async () => {
      if (firstOffset < this.fetchPosition || nextOffset <= this.fetchPosition) return;
      this.fetchPosition = nextOffset;
      await this.flushAll(this.assembler.passPosition(nextOffset));
    });
  }

  /** Resolves when nothing is running on this partition's chain. */
  idle(): Promise<void> {
    return this.tail;
  }

  /** Stops the time cuts; the caller aborts `signal` to end a delivery in flight. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const run = this.tail.then(async () => {
      if (this.failure !== undefined) throw this.failure as unknown;
      this.signal.throwIfAborted();
      try {
        await work();
        await this.commitIdle();
      } catch (error) {
        this.failure = error;
        this.close();
        throw error;
      }
      this.schedule();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Arms the time cut of the open window, if it has one. */
  private schedule(): void {
    clearTimeout(this.timer);
    const due = this.assembler.dueAtMs();
    if (due === undefined || this.signal.aborted) return;
    this.timer = setTimeout(
      () => {
        this.serial(() => this.flushAll(this.assembler.tick(this.now()))).catch((error: unknown) => this.context.onFailure(error));
      },
      Math.max(0, due - this.now()),
    );
  }

  private async flushAll(windows: ClosedWindow<WindowEntry>[]): Promise<void> {
    for (const window of windows) await this.flush(window);
  }

  /** The window protocol: marker, POST, dead letters, commit past the window (see window-marker.ts). */
  private async flush(window: ClosedWindow<WindowEntry>): Promise<void> {
    const { range, records } = window;
    const letters: DeadLetter[] = [];
    const changes: { line: StockLine; entry: WindowEntry }[] = [];
    for (const entry of records) {
      if (entry.outcome.kind === 'delta') changes.push({ line: entry.outcome.delta, entry });
      else if (entry.outcome.kind === 'balance') changes.push({ line: entry.outcome.balance, entry });
      else if (entry.outcome.kind === 'poison')
        letters.push({ record: entry.record, reason: entry.outcome.reason, detail: entry.outcome.detail });
    }
    const posting = postingOf(
      this.topic,
      this.partition,
      range,
      changes.map((change) => change.line),
      new Date(this.now()),
    );
    if (posting) {
      const replayedSplit = this.context.splitWindow;
      let split = replayedSplit !== undefined && replayedSplit.from === range.from && replayedSplit.to === range.to;
      await this.ports.commit(range.from, encodeMarker(range, split), this.signal);
      crashPoint(erpCrashPoints.afterMarker);
      if (!split) {
        const outcome = await this.ports.deliver(posting, this.signal);
        // One refused line must not cost the window's other lines: send them one by one instead.
        split = outcome.kind === 'rejected' && posting.lines.length > 1;
        if (split) {
          this.logger.warn(
            { postingId: posting.postingId, detail: outcome.kind === 'rejected' ? outcome.detail : '' },
            'posting refused; sending its lines one by one',
          );
          await this.ports.commit(range.from, encodeMarker(range, true), this.signal);
        } else this.account(posting, outcome, changes, letters);
      }
      if (split) await this.deliverLines(posting, changes, letters);
      crashPoint(erpCrashPoints.afterPosting);
    }
    await this.ports.deadLetter(letters);
    await this.ports.commit(range.to + 1n, null, this.signal);
    this.committed = range.to + 1n;
    this.reportLag(range.to + 1n, records);
  }

  /** Sends each line of a refused posting as a posting of its own; only refused lines' records become dead letters. */
  private async deliverLines(posting: Posting, changes: { line: StockLine; entry: WindowEntry }[], letters: DeadLetter[]): Promise<void> {
    for (const [index, line] of posting.lines.entries()) {
      const single: Posting = { ...posting, postingId: `${posting.postingId}/line/${index}`, lines: [line] };
      const contributing = changes.filter((change) => change.line.sku === line.sku && change.line.warehouse === line.warehouse);
      this.account(single, await this.ports.deliver(single, this.signal), contributing, letters);
    }
  }

  private account(posting: Posting, outcome: DeliveryOutcome, changes: { entry: WindowEntry }[], letters: DeadLetter[]): void {
    const sink = { sink: this.metrics.sink };
    const log = { postingId: posting.postingId, lines: posting.lines.length, events: changes.length };
    switch (outcome.kind) {
      case 'booked':
        for (const { entry } of changes) if (entry.commitTsMicros !== null) this.metrics.observeApplied(entry.commitTsMicros);
        this.logger.debug(log, 'posting booked');
        return;
      case 'duplicate':
        this.metrics.deduplicated.inc(sink, changes.length);
        this.logger.info(log, 'posting was booked before (replayed window)');
        return;
      case 'rejected':
      case 'exhausted': {
        const reason = outcome.kind === 'rejected' ? 'rejected' : 'retries-exhausted';
        const detail = `posting ${posting.postingId}: ${outcome.detail}`;
        for (const { entry } of changes) letters.push({ record: entry.record, reason, detail });
        this.logger.error({ ...log, reason, detail }, 'posting not delivered: its records go to the dead-letter topic');
        return;
      }
    }
  }

  /**
   * With no window open, commits the fetch position when it is past the committed offset. A reader's
   * transaction ends in a commit marker after its last record, which no consumer is given: without this,
   * an idle partition's committed offset would stay one (or more) below the log end, its lag never 0.
   * Nothing is skipped: every record below the fetch position is in a window that was flushed.
   */
  private async commitIdle(): Promise<void> {
    if (this.assembler.buffered > 0 || this.assembler.replaying || this.fetchPosition <= this.committed) return;
    await this.ports.commit(this.fetchPosition, null, this.signal);
    this.committed = this.fetchPosition;
    this.reportLag(this.fetchPosition, []);
  }

  private reportLag(committed: bigint, records: WindowEntry[]): void {
    const labels = { sink: this.metrics.sink, topic: this.topic, partition: String(this.partition) };
    const behind = this.highWatermark > committed ? this.highWatermark - committed : 0n;
    this.metrics.lagMessages.set(labels, Number(behind));
    const newest = records.findLast((entry) => entry.commitTsMicros !== null)?.commitTsMicros;
    // Caught up means no staleness; otherwise the age of the newest change this window delivered.
    if (behind === 0n && this.assembler.buffered === 0) this.metrics.lagSeconds.set(labels, 0);
    else if (newest !== undefined && newest !== null)
      this.metrics.lagSeconds.set(labels, Math.max(0, (this.now() * 1000 - Number(newest)) / 1e6));
  }
}
