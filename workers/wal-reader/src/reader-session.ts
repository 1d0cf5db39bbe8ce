import { HaltError, crashPoint, formatLsn, pgClientConfig, type AvroCodec, type Logger, type Readiness } from '@inventory-cdc/shared';
import type { Kafka, Producer } from 'kafkajs';
import { Client } from 'pg';
import { adhocSnapshotChunks } from './adhoc-snapshot';
import { recordsOf, type TransactionContext } from './change-builder';
import { ChangePublisher } from './change-publisher';
import { changeTopicOf, readerTopicsOf, slotNamesOf, type ReaderConfig } from './reader-config';
import type { ReaderMetrics } from './reader-metrics';
import { progressMessage, readProgress, type ReaderProgress } from './reader-progress';
import { ReplicationStream } from './replication-stream';
import {
  checkCapturable,
  checkWalLevel,
  createSlotWithSnapshot,
  describeTables,
  dropSlot,
  ensurePublication,
  readSlot,
  slotProblem,
} from './slot-manager';
import { estimateRows, readSnapshot } from './snapshot-reader';
import { StreamHandler } from './stream-handler';
import { TableCatalog } from './table-catalog';
import { transactionKeySchema, transactionValueSchema, type TableShape } from './table-schema';
import { SlotWatch } from './slot-watch';
import { ensureReaderTopics } from './reader-topics';

export const heartbeatPrefix = 'cdc-heartbeat';

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
 * if needed, then stream until stopped or failed. The producer is connected by the caller (which fences
 * any older instance of this shard's reader before anything is read).
 */
export class ReaderSession {
  private readonly client: Client;
  private stream: ReplicationStream | undefined;
  private handler: StreamHandler | undefined;
  private watch: SlotWatch | undefined;
  private stopping = false;
  private readonly names: { slot: string; publication: string };
  private readonly topics: { transactions: string; progress: string };

  constructor(private readonly deps: SessionDeps) {
    this.client = new Client(pgClientConfig(deps.config.shard.connection, `${deps.config.serviceName}-control`));
    this.names = slotNamesOf(deps.config);
    this.topics = readerTopicsOf(deps.config.topics.prefix, deps.config.shard.id);
  }

  async run(): Promise<void> {
    const { config, logger } = this.deps;
    await this.client.connect();
    try {
      await checkWalLevel(this.client);
      const tables = await describeTables(this.client, config.capture.tables, config.capture.schemas);
      tables.forEach(checkCapturable);
      await ensurePublication(this.client, this.names.publication, config.capture.tables, config.capture.schemas);
      await ensureReaderTopics(this.deps.kafka, config, tables);
      const progress = await readProgress(this.deps.kafka, this.topics.progress, config.shard.id, logger);
      const start = await this.settleStart(progress, tables);
      if (this.stopping) return;
      await this.stream_(start.progress, tables, start.confirmedFlushLsn);
    } finally {
      this.watch?.stop();
      await this.client.end().catch(() => undefined);
    }
  }

  /**
   * Decides where streaming starts. Progress with a finished snapshot and a healthy slot: resume. No
   * progress (first start) or an unfinished snapshot: (re)create the slot and snapshot (mode `initial`).
   * A lost or dropped slot under existing progress is a gap we cannot fill from the WAL: halt, unless the
   * mode is `when-needed`, which re-snapshots.
   */
  private async settleStart(
    progress: ReaderProgress | undefined,
    tables: TableShape[],
  ): Promise<{ progress: ReaderProgress; confirmedFlushLsn: bigint }> {
    const { config, logger, metrics } = this.deps;
    const mode = config.snapshot.mode;
    const slot = await readSlot(this.client, this.names.slot);
    const problem = slot && slotProblem(slot, this.names.slot, config.shard.connection.database);
    metrics.slotHealthy.set({ shard: metrics.shard }, slot && !problem ? 1 : 0);
    const resumable = progress && (progress.snapshotComplete || mode === 'never');
    if (resumable && slot && !problem) return { progress, confirmedFlushLsn: slot.confirmedFlushLsn ?? 0n };
    if (!progress && mode === 'never' && slot && !problem) {
      // Streaming only, from a slot made elsewhere (e.g. provisioned by an operator): take it as it is.
      const startProgress = {
        shard: config.shard.id,
        commitLsn: 0n,
        snapshotComplete: false,
        snapshotLsn: null,
        slotCreatedAtLsn: null,
        updatedAtMs: Date.now(),
      };
      return { progress: startProgress, confirmedFlushLsn: slot.confirmedFlushLsn ?? 0n };
    }
    if (resumable && mode !== 'when-needed') {
      throw new HaltError(
        'slot_lost',
        problem ??
          `replication slot ${this.names.slot} is missing, but Kafka holds progress through ${formatLsn(progress.commitLsn)}: changes after it are lost`,
        `re-snapshot the shard (fleet slots reset, or snapshot.mode when-needed), after checking max_slot_wal_keep_size`,
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
    await replication.connect();
    try {
      const exportSnapshot = mode !== 'never';
      const created = await createSlotWithSnapshot(replication, this.names.slot, exportSnapshot);
      logger.info({ slot: this.names.slot, consistentPoint: formatLsn(created.consistentPoint) }, 'replication slot created');
      const base = { shard: config.shard.id, slotCreatedAtLsn: created.consistentPoint, updatedAtMs: Date.now() };
      if (!exportSnapshot || !created.snapshotName) {
        return {
          progress: { ...base, commitLsn: 0n, snapshotComplete: false, snapshotLsn: null },
          confirmedFlushLsn: created.consistentPoint,
        };
      }
      const finished = await this.snapshot(created.snapshotName, created.consistentPoint, tables, base);
      return { progress: finished, confirmedFlushLsn: created.consistentPoint };
    } finally {
      await replication.end().catch(() => undefined);
    }
  }

  /**
   * Emits every captured row as an `r` event at the slot's consistent point. Each chunk is its own Kafka
   * transaction with an "unfinished" progress record; a crash mid-snapshot re-runs the snapshot from a new
   * slot (its rows are idempotent upserts for the sinks), and only the final record marks it complete.
   */
  private async snapshot(
    snapshotName: string,
    consistentPoint: bigint,
    tables: TableShape[],
    base: Pick<ReaderProgress, 'shard' | 'slotCreatedAtLsn'>,
  ): Promise<ReaderProgress> {
    const { config, metrics, logger } = this.deps;
    const publisher = this.publisher();
    const catalog = this.catalog(tables, publisher);
    const snapshotClient = new Client(pgClientConfig(config.shard.connection, `${config.serviceName}-snapshot`));
    await snapshotClient.connect();
    const estimate = Math.max(1, await estimateRows(snapshotClient, tables));
    // Snapshot rows sort before every streamed change: streamed transactions commit at or after the
    // consistent point, snapshot rows claim the LSN just below it.
    const context: TransactionContext = {
      shard: config.shard.id,
      database: config.shard.connection.database,
      commitLsn: consistentPoint - 1n,
      txId: 0n,
      commitTsMicros: BigInt(Date.now()) * 1000n,
      snapshot: true,
    };
    const progress: ReaderProgress = {
      ...base,
      commitLsn: 0n,
      snapshotComplete: false,
      snapshotLsn: consistentPoint,
      updatedAtMs: Date.now(),
    };
    let seq = 0n;
    let rows = 0;
    logger.info({ tables: tables.length, estimatedRows: estimate }, 'snapshot started');
    try {
      const compiled = new Map<number, Awaited<ReturnType<TableCatalog['compileForSnapshot']>>>();
      for await (const chunk of readSnapshot(snapshotClient, snapshotName, tables, config.snapshot.chunkRows)) {
        if (this.stopping) throw new Error('stopped during the snapshot');
        let table = compiled.get(chunk.table.relationOid);
        if (!table) compiled.set(chunk.table.relationOid, (table = await catalog.compileForSnapshot(chunk.table)));
        const nowMs = BigInt(Date.now());
        const records = chunk.rows.flatMap((after) => recordsOf({ kind: 'read', after }, table, context, () => seq++, nowMs));
        await publisher.append(records);
        await publisher.commit({ topic: this.topics.progress, message: progressMessage({ ...progress, updatedAtMs: Date.now() }) });
        crashPoint('mid-snapshot');
        rows += chunk.rows.length;
        metrics.snapshotRows.inc({ shard: metrics.shard, table: `${chunk.table.schema}.${chunk.table.table}` }, chunk.rows.length);
        metrics.snapshotProgress.set({ shard: metrics.shard }, Math.min(0.99, rows / estimate));
      }
      const finished: ReaderProgress = { ...progress, commitLsn: consistentPoint - 1n, snapshotComplete: true, updatedAtMs: Date.now() };
      await publisher.commit({ topic: this.topics.progress, message: progressMessage(finished) });
      metrics.snapshotProgress.set({ shard: metrics.shard }, 1);
      logger.info({ rows }, 'snapshot finished');
      return finished;
    } catch (error) {
      await publisher.abort().catch(() => undefined);
      throw error;
    } finally {
      await snapshotClient.end().catch(() => undefined);
    }
  }

  private async stream_(progress: ReaderProgress, tables: TableShape[], confirmedFlushLsn: bigint): Promise<void> {
    const { config, metrics, readiness, logger } = this.deps;
    const publisher = this.publisher();
    const catalog = this.catalog(tables, publisher);
    const stream = new ReplicationStream(
      {
        clientConfig: pgClientConfig(config.shard.connection, `${config.serviceName}-stream`),
        slot: this.names.slot,
        publication: this.names.publication,
        statusIntervalMs: config.heartbeat.statusIntervalMs,
        logger,
      },
      confirmedFlushLsn,
    );
    this.stream = stream;
    let failTimer: (error: unknown) => void = () => undefined;
    const timerFailure = new Promise<never>((_, reject) => (failTimer = reject));
    const handler = new StreamHandler(
      {
        shard: config.shard.id,
        database: config.shard.connection.database,
        transactionsTopic: this.topics.transactions,
        progressTopic: this.topics.progress,
        skipThroughLsn: progress.commitLsn,
        progressBase: {
          snapshotComplete: progress.snapshotComplete,
          snapshotLsn: progress.snapshotLsn,
          slotCreatedAtLsn: progress.slotCreatedAtLsn,
        },
        maxTransactions: config.batch.maxTransactions,
        maxBytes: config.batch.maxBytes,
        maxDelayMs: config.batch.maxDelayMs,
        heartbeatPrefix,
        boundaries: config.topics.transactionBoundaries,
        pendingSnapshots: progress.pendingSnapshots ?? [],
        snapshotChunks: (request, signalTxId) =>
          adhocSnapshotChunks(
            {
              connection: config.shard.connection,
              serviceName: config.serviceName,
              shard: config.shard.id,
              database: config.shard.connection.database,
              chunkRows: config.snapshot.chunkRows,
              compile: (schema, table) => catalog.compileFresh(schema, table),
              logger,
            },
            request,
            signalTxId,
          ),
        checkSnapshotRequest: async ({ table }) => {
          const [schema, name] = table.split('.');
          const captured = await this.client.query(
            'select 1 from pg_publication_tables where pubname = $1 and schemaname = $2 and tablename = $3',
            [this.names.publication, schema, name],
          );
          if (captured.rowCount === 0) throw new Error(`${table} is not in publication ${this.names.publication}`);
        },
      },
      catalog,
      publisher,
      this.deps.codec,
      metrics,
      logger,
      (lsn) => {
        stream.acknowledge(lsn);
        metrics.acknowledgedLsn.set({ shard: metrics.shard }, Number(lsn));
        this.watch?.noteAcknowledged();
      },
      (error) => failTimer(error),
    );
    this.handler = handler;
    const topic = this.topics.transactions;
    handler.setTransactionSchemas({
      key: await publisher.registerSubject(`${topic}-key`, transactionKeySchema),
      value: await publisher.registerSubject(`${topic}-value`, transactionValueSchema),
    });
    if (progress.pendingSnapshots?.length) {
      logger.info({ snapshots: progress.pendingSnapshots }, 'resuming ad-hoc snapshots the previous session did not finish');
      await handler.exclusive(() => handler.runPendingSnapshots());
    }
    this.watch = new SlotWatch(this.client, this.names.slot, config, metrics, readiness, logger, heartbeatPrefix);
    const watchFailure = this.watch.start();
    readiness.set('replication', true, `streaming slot ${this.names.slot}`);
    try {
      await Promise.race([
        stream.run(
          (message) => handler.handle(message),
          () => undefined,
        ),
        timerFailure,
        watchFailure,
      ]);
    } finally {
      readiness.set('replication', false, 'not streaming');
      await stream.stop();
    }
  }

  private publisher(): ChangePublisher {
    const { config, codec, metrics, logger, producer } = this.deps;
    return new ChangePublisher(producer, codec, metrics, logger, {
      chunkEvents: config.batch.chunkEvents,
      maxBufferedBytes: config.batch.maxBufferedBytes,
      compatibility: config.registry.compatibility,
    });
  }

  private catalog(tables: TableShape[], publisher: ChangePublisher): TableCatalog {
    const { config, kafka } = this.deps;
    return new TableCatalog(
      {
        describe: async (schema, table) => {
          const [shape] = await describeTables(this.client, [`${schema}.${table}`], []);
          if (!shape) throw new Error(`table ${schema}.${table} vanished`);
          checkCapturable(shape);
          await ensureReaderTopics(kafka, config, [shape]);
          return shape;
        },
        prepare: async (table, previous) => void (await publisher.schemaIdsOf(table, previous)),
        topicOf: (schema, table) => changeTopicOf(config.topics.prefix, schema, table),
      },
      tables,
    );
  }

  /**
   * Graceful stop: a Kafka transaction holding only whole Postgres transactions is committed and
   * acknowledged; one that ends inside a Postgres transaction is aborted (Postgres resends that
   * transaction to the next session, which produces it whole).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const handler = this.handler;
    if (handler) {
      await handler
        .exclusive(async () => {
          handler.close();
          if (handler.inTransaction) await handler.abort();
          else await handler.flush();
        })
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'final flush failed; the next session resends'));
    }
    await this.stream?.stop();
  }
}
