import { crashPoint, type AvroCodec, type Logger } from '@inventory-cdc/shared';
import { parseSnapshotSignal, snapshotSignalPrefix, type SnapshotRequest } from './adhoc-snapshot';
import { recordsOf, type ChangeRecord, type RowChange, type TransactionContext } from './change-builder';
import type { ChangePublisher } from './change-publisher';
import type { PgoutputMessage } from './pgoutput-decode';
import { progressMessage, type ReaderProgress } from './reader-progress';
import type { ReaderMetrics } from './reader-metrics';
import type { TableCatalog } from './table-catalog';

export interface StreamHandlerOptions {
  shard: number;
  database: string;
  transactionsTopic: string;
  progressTopic: string;
  /** Transactions committed at or below this LSN are already in Kafka (from the progress record). */
  skipThroughLsn: bigint;
  /** Progress fields that stay the same while streaming. */
  progressBase: Pick<ReaderProgress, 'snapshotComplete' | 'snapshotLsn' | 'slotCreatedAtLsn'>;
  maxTransactions: number;
  maxBytes: number;
  maxDelayMs: number;
  heartbeatPrefix: string;
  /** Which transaction boundary records go to the transactions topic. */
  boundaries: 'begin-end' | 'end' | 'none';
  /** Ad-hoc snapshots a previous session recorded as asked for and not finished. */
  pendingSnapshots: NonNullable<ReaderProgress['pendingSnapshots']>;
  /** Reads one ad-hoc snapshot as chunks of change records (see adhoc-snapshot.ts). */
  snapshotChunks: (request: SnapshotRequest, signalTxId: bigint) => AsyncGenerator<{ records: ChangeRecord[]; rows: number }>;
  /** Checks that an ad-hoc snapshot request names a table this reader can read; throws the reason. */
  checkSnapshotRequest: (request: SnapshotRequest) => Promise<void>;
}

interface OpenTransaction {
  context: TransactionContext;
  seq: bigint;
  skip: boolean;
  eventsByTopic: Map<string, number>;
  snapshotRequests: SnapshotRequest[];
}

/**
 * Turns the slot's messages into Kafka transactions. Whole Postgres transactions only: a Kafka
 * transaction is committed between Postgres transactions, never inside one, with the progress record
 * naming the last Postgres commit it contains. Small transactions share a Kafka transaction (bounded by
 * count, bytes and `maxDelayMs`), a large one is streamed through in chunks inside its own.
 *
 * All entry points run one at a time (`exclusive`): the replication handler and the batching timer
 * must never interleave.
 */
export class StreamHandler {
  private open: OpenTransaction | undefined;
  private batchedCommits: bigint[] = [];
  private batchCommitLsn = 0n;
  private batchStartedAt = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private transactionSchemaIds: { key: number; value: number } | undefined;
  private closed = false;
  private flushDue = false;
  /** Commit LSN of the last progress record committed to Kafka. */
  private durableLsn: bigint;
  private pendingSnapshots: NonNullable<ReaderProgress['pendingSnapshots']>;

  constructor(
    private readonly options: StreamHandlerOptions,
    private readonly catalog: TableCatalog,
    private readonly publisher: ChangePublisher,
    private readonly codec: AvroCodec,
    private readonly metrics: ReaderMetrics,
    private readonly logger: Logger,
    /** Tells Postgres that everything through the given LSN is durable downstream. */
    private readonly acknowledge: (lsn: bigint) => void,
    /** Reports a failure of a timer-driven flush (the replication handler's failures reject its promise). */
    private readonly onFailure: (error: unknown) => void,
  ) {
    this.durableLsn = options.skipThroughLsn;
    this.pendingSnapshots = [...options.pendingSnapshots];
  }

  setTransactionSchemas(ids: { key: number; value: number }): void {
    this.transactionSchemaIds = ids;
  }

  /** Runs `task` after every earlier task; the chain survives a failed task. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  handle(message: PgoutputMessage): Promise<void> {
    // After close, messages are left unacknowledged: Postgres sends them again to the next session.
    return this.exclusive(() => (this.closed ? Promise.resolve() : this.apply(message)));
  }

  /** Stops taking messages (inside `exclusive`, so nothing is half-handled). */
  close(): void {
    this.closed = true;
  }

  private async apply(message: PgoutputMessage): Promise<void> {
    switch (message.tag) {
      case 'relation':
        await this.catalog.onRelation(message);
        return;
      case 'type':
        // Non-built-in types (enums, domains) map to their text; the name is not needed.
        return;
      case 'begin':
        return this.begin(message);
      case 'insert':
        return this.change(message.relationOid, { kind: 'insert', after: message.after });
      case 'update':
        return this.change(message.relationOid, { kind: 'update', before: message.before, after: message.after });
      case 'delete':
        return this.change(message.relationOid, { kind: 'delete', before: message.before });
      case 'truncate':
        for (const relationOid of message.relationOids) await this.change(relationOid, { kind: 'truncate' });
        return;
      case 'commit':
        return this.commit(message.commitLsn);
      case 'message':
        if (message.transactional && message.prefix === snapshotSignalPrefix) return this.snapshotSignal(message.content);
        // A non-transactional heartbeat is decoded at its place in the WAL: every transaction that
        // committed before it has already been handled. With nothing in flight, everything below it is
        // durable downstream, so the slot may move up to it even when no captured table changes.
        if (!message.transactional && message.prefix === this.options.heartbeatPrefix && this.isIdle()) this.acknowledge(message.lsn);
        return;
      case 'origin':
        return;
    }
  }

  private async begin(message: Extract<PgoutputMessage, { tag: 'begin' }>): Promise<void> {
    const context: TransactionContext = {
      shard: this.options.shard,
      database: this.options.database,
      commitLsn: message.finalLsn,
      txId: BigInt(message.xid),
      commitTsMicros: message.commitTimeMicros,
      snapshot: false,
    };
    // Replayed after a restart: Kafka already has this transaction (its commit is at or below the
    // progress record's), so none of it is produced again.
    const skip = message.finalLsn <= this.options.skipThroughLsn;
    this.open = { context, seq: 0n, skip, eventsByTopic: new Map(), snapshotRequests: [] };
    if (!skip && this.options.boundaries === 'begin-end') await this.pushBoundary('BEGIN', this.open);
  }

  private async change(relationOid: number, change: RowChange): Promise<void> {
    const open = this.open;
    if (!open) throw new Error('row change outside a transaction');
    if (open.skip) return;
    const table = this.catalog.table(relationOid);
    const records = recordsOf(change, table, open.context, () => open.seq++, BigInt(Date.now()));
    open.eventsByTopic.set(table.topic, (open.eventsByTopic.get(table.topic) ?? 0) + records.filter((record) => record.value).length);
    await this.publisher.append(records);
  }

  private async commit(commitLsn: bigint): Promise<void> {
    const open = this.open;
    this.open = undefined;
    if (!open) throw new Error('commit without begin');
    if (open.skip) {
      if (this.isIdle()) this.acknowledge(commitLsn);
      return;
    }
    if (this.options.boundaries !== 'none') await this.pushBoundary('END', open);
    this.batchedCommits.push(open.context.commitTsMicros);
    this.batchCommitLsn = commitLsn;
    if (open.snapshotRequests.length > 0) {
      // The requests go into the progress record with this transaction, so a crash from here on runs them
      // again after the restart; then they run, the stream waiting meanwhile.
      const txId = open.context.txId.toString();
      this.pendingSnapshots.push(...open.snapshotRequests.map((request) => ({ ...request, txId })));
      await this.flush();
      await this.runPendingSnapshots();
      return;
    }
    if (this.batchedCommits.length === 1) this.batchStartedAt = Date.now();
    const full = this.batchedCommits.length >= this.options.maxTransactions || this.publisher.transactionBytes >= this.options.maxBytes;
    if (full || this.flushDue || this.options.maxDelayMs === 0) {
      await this.flush();
    } else if (!this.flushTimer) {
      const wait = Math.max(0, this.options.maxDelayMs - (Date.now() - this.batchStartedAt));
      // When the delay is up the batch is committed: at once if no transaction is open, else at the end of
      // the open one (flushDue) — under a steady stream there is always a next transaction open.
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.flushDue = true;
        this.exclusive(() => this.flush()).catch(this.onFailure);
      }, wait);
    }
  }

  /** Commits the batched Postgres transactions into Kafka, then acknowledges them to Postgres. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.batchedCommits.length === 0 || this.open) return;
    this.flushDue = false;
    const commitLsn = this.batchCommitLsn;
    await this.publisher.commit(this.progressRecord(commitLsn));
    this.durableLsn = commitLsn;
    const nowMicros = BigInt(Date.now()) * 1000n;
    for (const commitTs of this.batchedCommits)
      this.metrics.commitLag.observe({ shard: this.metrics.shard }, Number(nowMicros - commitTs) / 1e6);
    this.metrics.transactions.inc({ shard: this.metrics.shard }, this.batchedCommits.length);
    this.batchedCommits = [];
    crashPoint('after-kafka-commit');
    // Safe: the Kafka commit above succeeded, so every transaction through commitLsn is durable in Kafka.
    // Acknowledging commitLsn (the commit record's start, not its end) makes Postgres skip exactly these
    // transactions on restart, never a later one whose commit starts at this one's end.
    this.acknowledge(commitLsn);
  }

  /** Abandons the open Kafka transaction (on shutdown mid-transaction); Postgres will resend it. */
  async abort(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.batchedCommits = [];
    this.flushDue = false;
    this.open = undefined;
    await this.publisher.abort();
  }

  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  private progressRecord(commitLsn: bigint): { topic: string; message: ReturnType<typeof progressMessage> } {
    const pendingSnapshots = this.pendingSnapshots.length > 0 ? { pendingSnapshots: this.pendingSnapshots } : {};
    return {
      topic: this.options.progressTopic,
      message: progressMessage({
        shard: this.options.shard,
        commitLsn,
        ...this.options.progressBase,
        ...pendingSnapshots,
        updatedAtMs: Date.now(),
      }),
    };
  }

  /** A `fleet snapshot` signal inside the open transaction; an unusable one is logged and dropped, never retried. */
  private async snapshotSignal(content: Buffer): Promise<void> {
    const open = this.open;
    if (!open || open.skip) return;
    const { request, problem } = parseSnapshotSignal(content);
    const reason =
      problem ??
      (await this.options.checkSnapshotRequest(request!).then(
        () => undefined,
        (error: unknown) => String(error),
      ));
    if (reason || !request) {
      this.logger.error({ signal: content.toString('utf8').slice(0, 500), reason }, 'ad-hoc snapshot request refused');
      return;
    }
    this.logger.info({ id: request.id, table: request.table }, 'ad-hoc snapshot requested');
    open.snapshotRequests.push(request);
  }

  /**
   * Runs the recorded ad-hoc snapshots one after the other, each chunk its own Kafka transaction with the
   * progress record (unchanged position, the snapshot still pending); the last one's completion is
   * recorded by a progress record without it.
   */
  async runPendingSnapshots(): Promise<void> {
    while (this.pendingSnapshots.length > 0) {
      const job = this.pendingSnapshots[0]!;
      const started = Date.now();
      let rows = 0;
      for await (const chunk of this.options.snapshotChunks(job, BigInt(job.txId))) {
        await this.publisher.append(chunk.records);
        await this.publisher.commit(this.progressRecord(this.durableLsn));
        crashPoint('mid-adhoc-snapshot');
        rows += chunk.rows;
        this.metrics.snapshotRows.inc({ shard: this.metrics.shard, table: job.table }, chunk.rows);
      }
      this.pendingSnapshots.shift();
      await this.publisher.commit(this.progressRecord(this.durableLsn));
      this.logger.info({ id: job.id, table: job.table, rows, seconds: (Date.now() - started) / 1000 }, 'ad-hoc snapshot finished');
    }
  }

  private isIdle(): boolean {
    return this.open === undefined && this.batchedCommits.length === 0 && !this.publisher.inTransaction;
  }

  private async pushBoundary(status: 'BEGIN' | 'END', open: OpenTransaction): Promise<void> {
    const ids = this.transactionSchemaIds;
    if (!ids) throw new Error('transaction topic schemas are not registered');
    const topic = this.options.transactionsTopic;
    const { context } = open;
    const key = await this.codec.serialize(topic, 'key', ids.key, { shard: context.shard, txId: context.txId });
    const dataCollections =
      status === 'END' ? [...open.eventsByTopic].map(([name, count]) => ({ topic: name, eventCount: BigInt(count) })) : [];
    const value = await this.codec.serialize(topic, 'value', ids.value, {
      status,
      shard: context.shard,
      txId: context.txId,
      lsn: context.commitLsn,
      commitTs: context.commitTsMicros,
      eventCount: BigInt(status === 'END' ? Number(open.seq) : 0),
      dataCollections,
    });
    this.publisher.push(topic, { key, value });
  }
}
