import {
  HaltError,
  changeTopicOf,
  dropSlot,
  formatLsn,
  heartbeatPrefix,
  pgClientConfig,
  progressMessage,
  readProgress,
  readSlot,
  readerTopicsOf,
  schemaArchiveTopicOf,
  slotIdentityProblem,
  slotProblem,
  snapshotRequestTable,
  snapshotRequestTableDdl,
  snapshotSignalPrefix,
  systemIdentifierOf,
  type AvroCodec,
  type Logger,
  type Readiness,
  type ReaderProgress,
} from '@inventory-cdc/shared';
import type { Kafka, Producer } from 'kafkajs';
import { Client } from 'pg';
import { ChangeCommitter, type OutgoingRecord } from './change-committer';
import { ChangeEncoder } from './change-encoder';
import { KafkaTransactionLimit } from './kafka-transaction-limit';
import { keyPartition } from './key-partition';
import { slotNamesOfConfig, type ReaderConfig } from './reader-config';
import { ReaderLoop, type ReaderEvent } from './reader-loop';
import { Mailbox } from './reader-mailbox';
import type { ReaderMetrics } from './reader-metrics';
import { ensureReaderTopics } from './reader-topics';
import { ReplicationSource } from './replication-source';
import { checkCapturable, checkWalLevel, createSlotWithSnapshot, describeTables, ensurePublication, estimateRows } from './source-catalog';
import { SlotWatch } from './slot-watch';
import { runSnapshot, type SnapshotRunnerPorts } from './snapshot-runner';
import { SnapshotSignals } from './snapshot-signals';
import { TableCatalog } from './table-catalog';
import type { TableShape } from './table-schema';
import { TransactionAssembler } from './transaction-assembler';
import { TransactionBoundaries } from './transaction-boundaries';

export interface SessionDeps {
  config: ReaderConfig;
  kafka: Kafka;
  producer: Producer;
  codec: AvroCodec;
  metrics: ReaderMetrics;
  readiness: Readiness;
  logger: Logger;
}

/**
 * One leadership term of the shard's reader: check the source, settle what Kafka already has, snapshot
 * if needed, then run the core loop (reader-loop.ts) until stopped or failed. The producer is connected by
 * the caller (which fences any older instance of this shard's reader before anything is read).
 */
export class ReaderSession {
  private readonly client: Client;
  private readonly mailbox = new Mailbox<ReaderEvent>();
  private source: ReplicationSource | undefined;
  private watch: SlotWatch | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly names: { slot: string; publication: string };
  private readonly topics: { transactions: string; progress: string };
  /** What the next progress record says besides its commit LSN. */
  private progress: ReaderProgress;
  private committerOfTerm: ChangeCommitter | undefined;
  /** Partition count of each topic the session writes. */
  private readonly partitionCounts = new Map<string, number>();

  constructor(private readonly deps: SessionDeps) {
    this.client = new Client(pgClientConfig(deps.config.shard.connection, `${deps.config.serviceName}-control`));
    // A dropped control connection (a Postgres restart) fails the session, which restarts from Kafka.
    this.client.on('error', (error) => this.mailbox.post({ kind: 'watch-failed', error }));
    this.names = slotNamesOfConfig(deps.config);
    this.topics = readerTopicsOf(deps.config.topics.prefix, deps.config.shard.id);
    this.progress = emptyProgress(deps.config.shard.id);
  }

  run(): Promise<void> {
    this.running ??= this.runTerm();
    return this.running;
  }

  private async runTerm(): Promise<void> {
    const { config, logger, codec, metrics } = this.deps;
    await this.client.connect();
    try {
      await checkWalLevel(this.client);
      const tables = await describeTables(this.client, config.capture.tables, config.capture.schemas);
      tables.forEach(checkCapturable);
      await ensurePublication(this.client, this.names.publication, config.capture.tables, config.capture.schemas);
      await this.ensureSnapshotRequestTable();
      this.notePartitions(await ensureReaderTopics(this.deps.kafka, config, tables));
      const stored = await readProgress(this.deps.kafka, this.topics.progress, config.shard.id, logger);
      if (stored) this.progress = { ...stored, pendingSnapshots: [...(stored.pendingSnapshots ?? [])] };
      const encoder = new ChangeEncoder(
        codec,
        metrics,
        logger,
        config.registry.compatibility,
        config.registry.subjectCompatibility,
        config.batch.maxRecordBytes,
        config.registry.confirmWithinMs,
        schemaArchiveTopicOf(config.topics.prefix),
      );
      const catalog = this.catalog(tables, encoder);
      const committer = this.committer(this.progress.commitLsn, encoder);
      this.committerOfTerm = committer;
      const runner: SnapshotRunnerPorts = {
        connection: config.shard.connection,
        serviceName: config.serviceName,
        shard: config.shard.id,
        database: config.shard.connection.database,
        chunkRows: config.snapshot.chunkRows,
        encoder,
        committer,
        metrics,
        logger,
      };
      const confirmedFlushLsn = await this.settleStart(stored, tables, catalog, runner, committer);
      if (this.stopping) return;
      await this.stream(confirmedFlushLsn, catalog, encoder, committer, runner);
    } finally {
      this.watch?.stop();
      await this.source?.stop();
      await this.client.end().catch(() => undefined);
    }
  }

  /**
   * Decides where streaming starts and returns the slot's confirmed position. Progress with a finished
   * snapshot and a healthy slot: resume. No progress (first start) or an unfinished snapshot: (re)create
   * the slot and snapshot (mode `initial`). A lost or dropped slot under existing progress is a gap we
   * cannot fill from the WAL: halt, unless the mode is `when-needed`, which re-snapshots. So is a slot of
   * the same name that is not the one the progress was made on (see `slotIdentityProblem`).
   */
  private async settleStart(
    stored: ReaderProgress | undefined,
    tables: TableShape[],
    catalog: TableCatalog,
    runner: SnapshotRunnerPorts,
    committer: ChangeCommitter,
  ): Promise<bigint> {
    const { config, logger, metrics } = this.deps;
    const mode = config.snapshot.mode;
    const systemIdentifier = await systemIdentifierOf(this.client);
    this.progress.systemIdentifier = systemIdentifier;
    const slot = await readSlot(this.client, this.names.slot);
    const problem =
      slot &&
      (slotProblem(slot, this.names.slot, config.shard.connection.database) ??
        (stored && slotIdentityProblem(this.names.slot, slot, stored, systemIdentifier)));
    metrics.slotHealthy.set({ shard: metrics.shard }, slot && !problem ? 1 : 0);
    const resumable = stored && (stored.snapshotComplete || mode === 'never');
    if (resumable && slot && !problem) {
      await this.adoptLegacySlot(stored, slot.confirmedFlushLsn, committer);
      return slot.confirmedFlushLsn ?? 0n;
    }
    // Streaming only, from a slot made elsewhere (e.g. provisioned by an operator): take it as it is.
    if (!stored && mode === 'never' && slot && !problem) return slot.confirmedFlushLsn ?? 0n;
    if (resumable && mode !== 'when-needed') {
      throw new HaltError(
        'slot_lost',
        problem ??
          `replication slot ${this.names.slot} is missing, but Kafka holds progress through ${formatLsn(stored.commitLsn)}: changes after it are lost`,
        `re-snapshot the shard: fleet slots reset --shard ${config.shard.id} (or snapshot.mode when-needed), after checking max_slot_wal_keep_size and who drops or re-creates slots`,
      );
    }
    if (slot) {
      logger.warn({ slot: this.names.slot, problem }, 'dropping the slot to start over with a snapshot');
      await dropSlot(this.client, this.names.slot);
    }
    const replication = new Client({
      ...pgClientConfig(config.shard.connection, `${config.serviceName}-slot`),
      replication: 'database',
    } as never);
    replication.on('error', (error) => logger.warn({ err: error }, 'slot connection lost'));
    await replication.connect();
    try {
      const exportSnapshot = mode !== 'never';
      const created = await createSlotWithSnapshot(replication, this.names.slot, exportSnapshot);
      logger.info({ slot: this.names.slot, consistentPoint: formatLsn(created.consistentPoint) }, 'replication slot created');
      this.progress = { ...emptyProgress(config.shard.id), slotCreatedAtLsn: created.consistentPoint, systemIdentifier };
      if (!exportSnapshot || !created.snapshotName) return created.consistentPoint;
      this.progress.snapshotLsn = created.consistentPoint;
      const compiled = await Promise.all(tables.map((table) => catalog.compileForSnapshot(table)));
      await runSnapshot(runner, {
        label: 'initial',
        tables: compiled,
        txId: 0n,
        exported: { snapshotName: created.snapshotName, consistentPoint: created.consistentPoint },
        crashPoint: 'mid-snapshot',
        estimatedRows: await estimateRows(this.client, tables),
        stopping: () => this.stopping,
      });
      // Only this record marks the snapshot complete: a crash before it snapshots again from a new slot.
      this.progress.snapshotComplete = true;
      await committer.commitRecords([], created.consistentPoint - 1n);
      metrics.snapshotProgress.set({ shard: metrics.shard }, 1);
      return created.consistentPoint;
    } finally {
      await replication.end().catch(() => undefined);
    }
  }

  /**
   * A progress record of an older reader (no system identifier) may trail its slot: that reader acknowledged
   * heartbeats without recording them in Kafka. Recording the slot's position now (nothing at or below
   * `confirmed_flush - 1` is sent again) makes every later record carry the identity and cover the slot.
   */
  private async adoptLegacySlot(stored: ReaderProgress, confirmedFlushLsn: bigint | null, committer: ChangeCommitter): Promise<void> {
    if (stored.systemIdentifier !== undefined || confirmedFlushLsn === null) return;
    const slotPosition = confirmedFlushLsn - 1n;
    await committer.commitRecords([], slotPosition > stored.commitLsn ? slotPosition : stored.commitLsn);
  }

  private async stream(
    confirmedFlushLsn: bigint,
    catalog: TableCatalog,
    encoder: ChangeEncoder,
    committer: ChangeCommitter,
    runner: SnapshotRunnerPorts,
  ): Promise<void> {
    const { config, readiness, logger } = this.deps;
    const boundaries = new TransactionBoundaries(config.topics.transactionBoundaries, this.topics.transactions, this.deps.codec, encoder);
    await boundaries.prepare();
    const signals = new SnapshotSignals({
      runner,
      committer,
      pending: this.progress.pendingSnapshots!,
      limits: { maxBytes: config.snapshot.signalMaxBytes, maxPerMinute: config.snapshot.signalsPerMinute },
      recorded: (request) => this.snapshotRequested(request),
      captured: (request) => this.captures(request.table),
      refused: (reason) => this.deps.metrics.signalsRefused.inc({ shard: this.deps.metrics.shard, reason }),
      compile: (schema, table) => catalog.compileFresh(schema, table),
      stopping: () => this.stopping,
      logger,
    });
    if (this.progress.pendingSnapshots!.length > 0) {
      logger.info({ snapshots: this.progress.pendingSnapshots }, 'resuming ad-hoc snapshots the previous session did not finish');
      await signals.runPending();
    }
    const assembler = new TransactionAssembler(
      {
        shard: config.shard.id,
        database: config.shard.connection.database,
        heartbeatPrefix,
        signalPrefix: snapshotSignalPrefix,
        partRecords: config.batch.chunkEvents,
      },
      (relationOid) => catalog.table(relationOid),
    );
    this.source = new ReplicationSource(
      {
        clientConfig: pgClientConfig(config.shard.connection, `${config.serviceName}-stream`),
        slot: this.names.slot,
        publication: this.names.publication,
        statusIntervalMs: config.heartbeat.statusIntervalMs,
        maxBufferedBytes: config.batch.maxBufferedBytes,
        logger,
      },
      this.mailbox,
      confirmedFlushLsn,
    );
    this.watch = new SlotWatch(this.client, this.names.slot, config, this.deps.metrics, readiness, logger, heartbeatPrefix);
    this.watch.start().catch((error: unknown) => this.mailbox.post({ kind: 'watch-failed', error }));
    this.source.start();
    readiness.set('replication', true, `streaming slot ${this.names.slot}`);
    try {
      const shard = { shard: this.deps.metrics.shard };
      await new ReaderLoop({
        mailbox: this.mailbox,
        assembler,
        catalog,
        encoder,
        boundaries,
        committer,
        signals,
        logger,
        reportGathered: (bytes) => this.deps.metrics.bufferedBytes.set(shard, bytes),
        reportReceived: (commitTsMicros, nowMs) =>
          this.deps.metrics.sourceToReceived.observe(shard, Math.max(0, Number(nowMs * 1000n - commitTsMicros) / 1e6)),
      }).run();
    } finally {
      readiness.set('replication', false, 'not streaming');
    }
  }

  private committer(durableLsn: bigint, encoder: ChangeEncoder): ChangeCommitter {
    const { config, metrics, producer } = this.deps;
    const shard = { shard: metrics.shard };
    return new ChangeCommitter(
      {
        producer: new KafkaTransactionLimit(producer, config.kafkaTransaction.timeoutMs),
        progressRecord: (commitLsn) => ({
          topic: this.topics.progress,
          message: progressMessage({ ...this.progress, commitLsn, updatedAtMs: Date.now() }),
        }),
        acknowledge: (lsn) => {
          this.source?.acknowledge(lsn);
          metrics.acknowledgedLsn.set(shard, Number(lsn));
          this.watch?.noteAcknowledged();
        },
        committed: ({ commitTimesMicros, bytes, startedAtMs }) => {
          const nowMicros = Date.now() * 1000;
          for (const commitTs of commitTimesMicros) metrics.commitLag.observe(shard, (nowMicros - Number(commitTs)) / 1e6);
          metrics.transactions.inc(shard, commitTimesMicros.length);
          metrics.bytes.inc(shard, bytes);
          metrics.kafkaTransactionDuration.observe(shard, (Date.now() - startedAtMs) / 1000);
        },
        settled: (error) => this.mailbox.post({ kind: 'commit-settled', ...(error === undefined ? {} : { error }) }),
        confirmSchemas: () => encoder.confirmWritten(),
        schemaArchiveRecords: () => encoder.archiveRecords(),
        schemasArchived: (records) => encoder.archived(records),
        partitionOf: (record) => this.partitionOf(record),
      },
      {
        durableLsn,
        maxTransactions: config.batch.maxTransactions,
        maxBytes: config.batch.maxBytes,
        sendBytes: config.batch.maxRequestBytes,
      },
    );
  }

  private notePartitions(counts: Map<string, number>): void {
    for (const [topic, count] of counts) this.partitionCounts.set(topic, count);
  }

  /** Kafka's default partitioner (murmur2 of the key, as the Java client), on the topic's partition count. */
  private partitionOf(record: OutgoingRecord): number {
    const partitions = this.partitionCounts.get(record.topic);
    if (partitions === undefined) throw new Error(`no partition count known for topic ${record.topic}`);
    const key = record.message.key;
    // Every record the reader writes is keyed (change events by primary key, progress by shard).
    if (key === null || key === undefined) throw new Error(`a record for ${record.topic} without a key`);
    return keyPartition(typeof key === 'string' ? Buffer.from(key) : key, partitions);
  }

  private catalog(tables: TableShape[], encoder: ChangeEncoder): TableCatalog {
    const { config, kafka } = this.deps;
    return new TableCatalog(
      {
        describe: async (schema, table) => {
          const [shape] = await describeTables(this.client, [`${schema}.${table}`], []);
          if (!shape) throw new Error(`table ${schema}.${table} vanished`);
          checkCapturable(shape);
          this.notePartitions(await ensureReaderTopics(kafka, config, [shape]));
          return shape;
        },
        prepare: (table, previous) => encoder.prepare(table, previous),
        topicOf: (schema, table) => changeTopicOf(config.topics.prefix, schema, table),
      },
      tables,
    );
  }

  private async captures(table: string): Promise<boolean> {
    const [schema, name] = table.split('.');
    const captured = await this.client.query(
      'select 1 from pg_publication_tables where pubname = $1 and schemaname = $2 and tablename = $3',
      [this.names.publication, schema, name],
    );
    return captured.rowCount !== 0;
  }

  /** Whether `fleet snapshot` recorded this request (see `requestSnapshot` in the reader contract). */
  private async snapshotRequested(request: { id: string; table: string }): Promise<boolean> {
    try {
      const found = await this.client.query(`select 1 from ${snapshotRequestTable} where id = $1 and table_name = $2`, [
        request.id,
        request.table,
      ]);
      return found.rowCount !== 0;
    } catch (error) {
      this.deps.logger.warn({ err: error }, `cannot read ${snapshotRequestTable}: ad-hoc snapshot signals are refused`);
      return false;
    }
  }

  /**
   * Makes the request table when it is missing and this login may (a superuser's); a least-privilege reader
   * finds it made by `ensureReaderRole`. Without it, every signal is refused.
   */
  private async ensureSnapshotRequestTable(): Promise<void> {
    const found = await this.client.query<{ exists: boolean }>('select to_regclass($1) is not null as exists', [snapshotRequestTable]);
    if (found.rows[0]?.exists) return;
    await this.client
      .query(snapshotRequestTableDdl)
      .catch((error: unknown) =>
        this.deps.logger.warn(
          { err: error },
          `${snapshotRequestTable} is missing and cannot be made by this login: ad-hoc snapshot signals are refused`,
        ),
      );
  }

  /** Commit LSN of the last Postgres transaction this session knows durable in Kafka (0 before it knows). */
  get durableLsn(): bigint {
    return this.committerOfTerm?.durableLsn ?? 0n;
  }

  /** Ends the session as failed (its connection to the leadership lock is gone): the reader restarts it. */
  fail(error: unknown): void {
    this.mailbox.post({ kind: 'watch-failed', error });
  }

  /**
   * Graceful stop: whole Postgres transactions are committed and acknowledged; an open one is abandoned
   * (Postgres resends it to the next session, which produces it whole).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.mailbox.post({ kind: 'stop' });
    await this.running?.catch(() => undefined);
  }
}

function emptyProgress(shard: number): ReaderProgress {
  return {
    shard,
    commitLsn: 0n,
    snapshotComplete: false,
    snapshotLsn: null,
    slotCreatedAtLsn: null,
    pendingSnapshots: [],
    updatedAtMs: Date.now(),
  };
}
