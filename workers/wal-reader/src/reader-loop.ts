import type { Logger } from '@inventory-cdc/shared';
import type { ChangeCommitter } from './change-committer';
import type { ChangeEncoder } from './change-encoder';
import type { Mailbox } from './reader-mailbox';
import type { SourceEvent } from './replication-source';
import type { SnapshotSignals } from './snapshot-signals';
import type { TableCatalog } from './table-catalog';
import type { TransactionAssembler } from './transaction-assembler';
import type { TransactionBoundaries } from './transaction-boundaries';

/** Everything the loop reacts to, in one mailbox. */
export type ReaderEvent =
  SourceEvent | { kind: 'commit-settled'; error?: unknown } | { kind: 'watch-failed'; error: unknown } | { kind: 'stop' };

export interface ReaderLoopParts {
  mailbox: Mailbox<ReaderEvent>;
  assembler: TransactionAssembler;
  catalog: Pick<TableCatalog, 'onRelation'>;
  encoder: Pick<ChangeEncoder, 'encode' | 'countEvents'>;
  boundaries: Pick<TransactionBoundaries, 'begin' | 'end' | 'mode'>;
  committer: ChangeCommitter;
  signals: Pick<SnapshotSignals, 'onTransaction'>;
  logger: Logger;
  /** Told, after each batch of events, the bytes gathered and not yet committed to Kafka. */
  reportGathered: (bytes: number) => void;
  /** Told when the loop takes a whole transaction: its Postgres commit time and the time it was taken. */
  reportReceived: (commitTsMicros: bigint, nowMs: bigint) => void;
}

/**
 * The shard's core loop, from replication messages to acknowledged LSNs. It owns the streaming state; every
 * input — messages, the settling of a background Kafka commit, a slot-watch failure, the stop request —
 * arrives in one mailbox and is handled here, in order:
 *
 *   1. a failure (stream, watch, commit) ends the session before anything after it is handled, so nothing
 *      received after a failure is ever acknowledged; the next session resumes from the progress in Kafka;
 *   2. a stop commits what is whole and abandons an open transaction (Postgres sends it again);
 *   3. messages, in WAL order: assembled into transactions, encoded, handed to the committer;
 *   4. then the committer starts the next group commit if none is in flight.
 *
 * The committer is the only place that acknowledges (see change-committer.ts for why that is safe).
 */
export class ReaderLoop {
  private begun = false;

  constructor(private readonly parts: ReaderLoopParts) {}

  async run(): Promise<void> {
    const { mailbox, committer } = this.parts;
    for (;;) {
      const events = await mailbox.take();
      const failure = events.find(
        (event) => event.kind === 'stream-failed' || event.kind === 'watch-failed' || (event.kind === 'commit-settled' && event.error),
      );
      if (failure) throw (failure as { error: unknown }).error;
      if (events.some((event) => event.kind === 'stop')) return this.finish();
      const nowMs = BigInt(Date.now());
      for (const event of events) {
        if (event.kind !== 'message') continue;
        // Most messages need no waiting: an await per message would cost a promise and a turn each.
        const waiting = this.onMessage(event, nowMs);
        if (waiting) await waiting;
      }
      this.parts.encoder.countEvents();
      committer.commitIfDue();
      this.parts.reportGathered(committer.gatheredBytes);
    }
  }

  /** Handles one message; returns a promise only when the loop must wait before the next one. */
  private onMessage(event: Extract<SourceEvent, { kind: 'message' }>, nowMs: bigint): Promise<void> | undefined {
    const { assembler, catalog, encoder, boundaries, committer, signals } = this.parts;
    const assembled = assembler.accept(event.message, nowMs);
    if (!assembled) return undefined;
    switch (assembled.kind) {
      case 'relation':
        return catalog.onRelation(assembled.message).then(() => undefined);
      case 'heartbeat':
        committer.passedIdle(assembled.lsn);
        return undefined;
      case 'part':
      case 'transaction': {
        const { transaction } = assembled;
        const { commitLsn, commitTsMicros } = transaction.context;
        const complete = assembled.kind === 'transaction';
        // A transaction Postgres sends again after a restart is already in Kafka: not even encoded.
        if (committer.isDurable(commitLsn)) {
          if (complete) committer.passedIdle(commitLsn);
          return undefined;
        }
        if (complete) this.parts.reportReceived(commitTsMicros, nowMs);
        let records = encoder.encode(transaction.records);
        if (!this.begun && boundaries.mode === 'begin-end') records = [...boundaries.begin(transaction), ...records];
        this.begun = !complete;
        if (complete && boundaries.mode !== 'none') records.push(...boundaries.end(transaction));
        const waiting = committer.add(commitLsn, commitTsMicros, records, complete);
        if (!complete || transaction.signals.length === 0) return waiting;
        return (async () => {
          await waiting;
          await signals.onTransaction(transaction);
        })();
      }
    }
  }

  /** Graceful end: whole transactions are committed and acknowledged; an open one is abandoned. */
  private async finish(): Promise<void> {
    const { assembler, committer, logger } = this.parts;
    try {
      if (assembler.inTransaction) await committer.abort();
      else await committer.flush();
    } catch (error) {
      logger.warn({ err: error }, 'final commit failed; the next session resends');
    }
  }
}
