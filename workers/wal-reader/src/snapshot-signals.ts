import type { Logger, ReaderProgress } from '@inventory-cdc/shared';
import { parseSnapshotSignal, type SnapshotRequest } from './adhoc-snapshot';
import type { ChangeCommitter } from './change-committer';
import { runSnapshot, type SnapshotRunnerPorts } from './snapshot-runner';
import type { CompiledTable } from './table-schema';
import type { AssembledTransaction } from './transaction-assembler';

type PendingSnapshot = NonNullable<ReaderProgress['pendingSnapshots']>[number];

export interface SnapshotSignalPorts {
  runner: SnapshotRunnerPorts;
  committer: Pick<ChangeCommitter, 'flush' | 'commitRecords'>;
  /** The ad-hoc snapshots asked for and not finished: written into every progress record. */
  pending: PendingSnapshot[];
  /** Throws the reason when the request names a table this reader does not capture. */
  check(request: SnapshotRequest): Promise<void>;
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
  constructor(private readonly ports: SnapshotSignalPorts) {}

  /** Takes the signals of a transaction just handed to the committer. */
  async onTransaction(transaction: AssembledTransaction): Promise<void> {
    const { logger, pending } = this.ports;
    const txId = transaction.context.txId.toString();
    let accepted = 0;
    for (const content of transaction.signals) {
      const { request, problem } = parseSnapshotSignal(content);
      const reason =
        problem ??
        (await this.ports.check(request!).then(
          () => undefined,
          (error: unknown) => String(error),
        ));
      if (reason || !request) {
        logger.error({ signal: content.toString('utf8').slice(0, 500), reason }, 'ad-hoc snapshot request refused');
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
