import type { Logger, ReaderProgress } from '@inventory-cdc/shared';
import { parseSnapshotSignal, type SnapshotRequest } from './adhoc-snapshot';
import type { ChangeCommitter } from './change-committer';
import { runSnapshot, type SnapshotRunnerPorts } from './snapshot-runner';
import type { CompiledTable } from './table-schema';
import type { AssembledTransaction } from './transaction-assembler';

type PendingSnapshot = NonNullable<ReaderProgress['pendingSnapshots']>[number];

/** Why a signal was refused: the bounded values of the refusal metric's `reason` label. */
export type SignalRefusal = 'too_large' | 'malformed' | 'not_requested' | 'not_captured' | 'rate';

export interface SignalLimits {
  /** Largest signal content accepted, in bytes. */
  maxBytes: number;
  /** Signals accepted per minute; more are refused (each one re-reads a whole table while the shard waits). */
  maxPerMinute: number;
}

export interface SnapshotSignalPorts {
  runner: SnapshotRunnerPorts;
  committer: Pick<ChangeCommitter, 'flush' | 'commitRecords'>;
  /** The ad-hoc snapshots asked for and not finished: written into every progress record. */
  pending: PendingSnapshot[];
  limits: SignalLimits;
  /** Whether the request was recorded in the request table (the path only the operator can write). */
  recorded(request: SnapshotRequest): Promise<boolean>;
  /** Whether the request names a table this reader captures. */
  captured(request: SnapshotRequest): Promise<boolean>;
  refused(reason: SignalRefusal): void;
  /** Describes and compiles the table afresh (its shape may have changed since the session started). */
  compile(schema: string, table: string): Promise<CompiledTable>;
  stopping(): boolean;
  logger: Logger;
}

/**
 * Ad-hoc snapshots asked for by `fleet snapshot <table>` (a transactional logical message). A request is
 * recorded in the progress record committed with its transaction, so a crash from then on runs it again
 * after the restart; then it runs, the stream waiting meanwhile, and a last progress record without it
 * marks it done.
 */
export class SnapshotSignals {
  /** When the signals accepted in the last minute were accepted. */
  private acceptedAt: number[] = [];

  constructor(private readonly ports: SnapshotSignalPorts) {}

  /** Takes the signals of a transaction just handed to the committer. */
  async onTransaction(transaction: AssembledTransaction): Promise<void> {
    const { logger, pending } = this.ports;
    const txId = transaction.context.txId.toString();
    let accepted = 0;
    for (const content of transaction.signals) {
      const { request, refusal, detail } = await this.judge(content);
      if (refusal || !request) {
        this.ports.refused(refusal ?? 'malformed');
        logger.error(
          { signal: content.toString('utf8').slice(0, 200), bytes: content.length, reason: refusal, detail },
          'ad-hoc snapshot request refused',
        );
        continue;
      }
      logger.info({ id: request.id, table: request.table }, 'ad-hoc snapshot requested');
      pending.push({ ...request, txId });
      accepted++;
    }
    if (accepted === 0) return;
    await this.ports.committer.flush();
    await this.runPending();
  }

  /**
   * A signal is acted on only when it is small, well-formed, recorded in the request table (which only the
   * operator can write; anyone can emit a logical message), names a captured table, and within the rate.
   */
  private async judge(content: Buffer): Promise<{ request?: SnapshotRequest; refusal?: SignalRefusal; detail?: string }> {
    const { limits } = this.ports;
    if (content.length > limits.maxBytes) return { refusal: 'too_large', detail: `${content.length} bytes, more than ${limits.maxBytes}` };
    const { request, problem } = parseSnapshotSignal(content);
    if (!request) return { refusal: 'malformed', detail: problem ?? 'unreadable' };
    if (!(await this.ports.recorded(request))) return { refusal: 'not_requested', detail: 'no such request in the request table' };
    if (!(await this.ports.captured(request))) return { refusal: 'not_captured', detail: `${request.table} is not captured` };
    const now = Date.now();
    this.acceptedAt = this.acceptedAt.filter((at) => now - at < 60_000);
    if (this.acceptedAt.length >= limits.maxPerMinute) return { refusal: 'rate', detail: `more than ${limits.maxPerMinute} per minute` };
    this.acceptedAt.push(now);
    return { request };
  }

  /** Runs the recorded snapshots one after the other (also those a previous session left unfinished). */
  async runPending(): Promise<void> {
    const { pending, logger } = this.ports;
    while (pending.length > 0) {
      const job = pending[0]!;
      const started = Date.now();
      const [schema, table] = job.table.split('.') as [string, string];
      const compiled = await this.ports.compile(schema, table);
      const { rows } = await runSnapshot(this.ports.runner, {
        label: job.id,
        tables: [compiled],
        txId: BigInt(job.txId),
        crashPoint: 'mid-adhoc-snapshot',
        stopping: () => this.ports.stopping(),
      });
      pending.shift();
      await this.ports.committer.commitRecords([]);
      logger.info({ id: job.id, table: job.table, rows, seconds: (Date.now() - started) / 1000 }, 'ad-hoc snapshot finished');
    }
  }
}
