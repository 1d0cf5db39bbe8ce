import { crashPoint } from '@inventory-cdc/shared';
import type { Message } from 'kafkajs';

/** One encoded Kafka record and its topic. */
export interface OutgoingRecord {
  topic: string;
  message: Message;
}

/** The part of a kafkajs transactional producer the committer uses. */
export interface TransactionalProducer {
  transaction(): Promise<{
    sendBatch(batch: { topicMessages: Array<{ topic: string; messages: Message[] }> }): Promise<unknown>;
    commit(): Promise<unknown>;
    abort(): Promise<unknown>;
    isActive(): boolean;
  }>;
}

export interface CommitterPorts {
  producer: TransactionalProducer;
  /** The shard's progress record naming `commitLsn` as the last Postgres commit in Kafka. */
  progressRecord(commitLsn: bigint): OutgoingRecord;
  /** Tells Postgres that everything through `lsn` is durable downstream (the slot may release it). */
  acknowledge(lsn: bigint): void;
  /** A Kafka transaction committed: its Postgres transactions' commit times, and its record bytes. */
  committed(batch: { commitTimesMicros: bigint[]; bytes: number; startedAtMs: number }): void;
  /** A commit started in the background settled (the loop may start the next one). */
  settled(error?: unknown): void;
  /** Checks, just before each Kafka commit, that the schema ids in the transaction are still the registry's. */
  confirmSchemas(): Promise<void>;
  /** Schema archive records not yet committed: each Kafka transaction carries them until one commits. */
  schemaArchiveRecords(): OutgoingRecord[];
  /** A Kafka transaction carrying these schema archive records committed. */
  schemasArchived(records: OutgoingRecord[]): void;
  /** The partition a record goes to (Kafka's default partitioner: murmur2 of the key). */
  partitionOf(record: OutgoingRecord): number;
}

export interface CommitterOptions {
  /** Commit LSN of the last Postgres transaction already in Kafka (the progress record's). */
  durableLsn: bigint;
  /** Whole transactions per Kafka transaction at which the batch is committed even while one is in flight. */
  maxTransactions: number;
  /** Bytes per Kafka transaction (of whole transactions) at which the batch is committed likewise. */
  maxBytes: number;
  /**
   * Record bytes per partition in one produce request: the broker refuses a partition's record batch above
   * its `message.max.bytes`. Also how much of a large transaction is gathered before it is sent.
   */
  sendBytes: number;
}

interface Batch {
  unsent: OutgoingRecord[];
  unsentBytes: number;
  bytes: number;
  /** Commit LSN of the last whole Postgres transaction in the batch; 0 when none. */
  commitLsn: bigint;
  commitTimesMicros: bigint[];
  /** A Postgres transaction is partly in the batch: the Kafka transaction must not commit before its end. */
  open: boolean;
  transaction: Awaited<ReturnType<TransactionalProducer['transaction']>> | undefined;
  startedAtMs: number;
}

const emptyBatch = (): Batch => ({
  unsent: [],
  unsentBytes: 0,
  bytes: 0,
  commitLsn: 0n,
  commitTimesMicros: [],
  open: false,
  transaction: undefined,
  startedAtMs: 0,
});

/**
 * Writes Postgres transactions into Kafka transactions together with the shard's progress record, and is
 * the one place that acknowledges LSNs to Postgres.
 *
 * Group commit: while one Kafka transaction commits in the background, the transactions that arrive
 * meanwhile gather in the next batch, which the loop commits as soon as the first settles (`commitIfDue`).
 * Under load the batches grow by themselves and the round trips overlap decoding; when quiet each
 * transaction is committed at once. kafkajs allows one transaction per producer, so a batch that must send
 * early (a large transaction) waits for the one in flight first: at most one Kafka transaction is open.
 *
 * Why acknowledging is safe: `acknowledge(L)` is called only after the Kafka commit of a batch whose last
 * whole Postgres transaction commits at L, with every earlier transaction in earlier committed batches or
 * skipped as already in Kafka. L is the commit record's start, so Postgres skips exactly these
 * transactions on restart and never a later one whose commit starts at this one's end.
 */
export class ChangeCommitter {
  private building = emptyBatch();
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  private durable: bigint;

  constructor(
    private readonly ports: CommitterPorts,
    private readonly options: CommitterOptions,
  ) {
    this.durable = options.durableLsn;
  }

  /** Commit LSN of the last Postgres transaction committed in Kafka. */
  get durableLsn(): bigint {
    return this.durable;
  }

  /** Encoded bytes gathered for the next Kafka commit (the buffered-bytes gauge). */
  get gatheredBytes(): number {
    return this.building.bytes;
  }

  /** Nothing gathered, sending or committing: everything delivered so far is durable. */
  get idle(): boolean {
    return !this.inFlight && !this.building.open && this.building.bytes === 0 && this.building.commitLsn === 0n;
  }

  /** Already in Kafka: a transaction replayed by Postgres after a restart commits at or below the progress. */
  isDurable(commitLsn: bigint): boolean {
    return commitLsn <= this.durable;
  }

  /**
   * Adds records of the Postgres transaction committing at `commitLsn`; `complete` on its last part. A
   * replayed transaction (already in Kafka) is dropped whole. Returns a promise only when the caller must
   * wait before adding more: a large transaction's records are being sent, or the batch is full.
   */
  add(commitLsn: bigint, commitTsMicros: bigint, records: OutgoingRecord[], complete: boolean): Promise<void> | undefined {
    this.throwIfFailed();
    if (this.isDurable(commitLsn)) {
      if (complete) this.passedIdle(commitLsn);
      return undefined;
    }
    const batch = this.building;
    for (const record of records) {
      const size = bytesOf(record);
      batch.unsent.push(record);
      batch.unsentBytes += size;
      batch.bytes += size;
    }
    batch.open = !complete;
    if (complete) {
      batch.commitLsn = commitLsn;
      batch.commitTimesMicros.push(commitTsMicros);
    }
    if (batch.open && batch.unsentBytes >= this.options.sendBytes) return this.sendUnsent();
    if (this.full) return this.commitWhenPossible();
    return undefined;
  }

  /**
   * `lsn` was passed with nothing open (a heartbeat, or a replayed transaction's commit): when nothing is
   * gathered or in flight, every transaction before it is durable, so the slot may move up to it even when
   * no captured table changes. Beyond the progress record, the move is first committed as a progress
   * record of its own (the next `commitIfDue`), so the slot never confirms past what Kafka's progress
   * says: a restart can then tell a re-created slot from this one (`slotIdentityProblem`).
   */
  passedIdle(lsn: bigint): void {
    if (!this.idle) return;
    if (lsn <= this.durable) this.ports.acknowledge(lsn);
    else this.building.commitLsn = lsn;
  }

  /** Starts committing the gathered whole transactions when nothing is in flight (the group commit). */
  commitIfDue(): void {
    this.throwIfFailed();
    if (this.inFlight || this.building.open || this.building.commitLsn === 0n) return;
    const batch = this.building;
    this.building = emptyBatch();
    this.inFlight = this.commit(batch).then(
      () => {
        this.inFlight = undefined;
        this.ports.settled();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.failure ??= error;
        this.ports.settled(error);
      },
    );
  }

  /** Commits everything gathered and waits until it is durable (shutdown, before a snapshot runs). */
  async flush(): Promise<void> {
    this.throwIfFailed();
    await this.settle();
    this.commitIfDue();
    await this.settle();
  }

  /**
   * Commits `records` (snapshot rows, which have no commit LSN of their own) in a Kafka transaction of their
   * own with the progress record at `progressLsn` (default: the durable position, unchanged); waits for
   * anything in flight first.
   */
  async commitRecords(records: OutgoingRecord[], progressLsn = this.durable): Promise<void> {
    await this.flush();
    if (this.building.open) throw new Error('snapshot rows inside an open transaction');
    const batch = emptyBatch();
    batch.unsent = records;
    batch.commitLsn = progressLsn;
    for (const record of records) batch.bytes += bytesOf(record);
    await this.commit(batch);
  }

  /** Abandons the open Kafka transaction (shutdown mid-transaction): none of it becomes visible. */
  async abort(): Promise<void> {
    await this.settle().catch(() => undefined);
    const transaction = this.building.transaction;
    this.building = emptyBatch();
    if (transaction?.isActive()) await transaction.abort();
  }

  private get full(): boolean {
    const batch = this.building;
    return !batch.open && (batch.commitTimesMicros.length >= this.options.maxTransactions || batch.bytes >= this.options.maxBytes);
  }

  /** A full batch waits for the one in flight (backpressure), then commits. */
  private async commitWhenPossible(): Promise<void> {
    await this.settle();
    this.commitIfDue();
  }

  private async settle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    this.throwIfFailed();
  }

  /** Sends the gathered records inside the batch's Kafka transaction (opened once nothing else is in flight). */
  private async sendUnsent(): Promise<void> {
    await this.settle();
    const batch = this.building;
    await this.send(batch);
  }

  /**
   * Sends the batch's unsent records in as few produce requests as keep every partition's share of a
   * request under `sendBytes`: the broker refuses a partition's record batch above its `message.max.bytes`,
   * and under a flash sale one hot key's partition takes far more than its share.
   */
  private async send(batch: Batch): Promise<void> {
    if (batch.unsent.length === 0) return;
    if (!batch.transaction) {
      batch.transaction = await this.ports.producer.transaction();
      batch.startedAtMs = Date.now();
    }
    const records = batch.unsent;
    batch.unsent = [];
    batch.unsentBytes = 0;
    let next = 0;
    while (next < records.length) {
      const byTopic = new Map<string, Message[]>();
      const partitionBytes = new Map<string, number>();
      for (; next < records.length; next++) {
        const record = records[next]!;
        const partition = this.ports.partitionOf(record);
        const slot = `${partition} ${record.topic}`;
        const bytes = (partitionBytes.get(slot) ?? 0) + bytesOf(record);
        if (bytes > this.options.sendBytes && partitionBytes.has(slot)) break;
        partitionBytes.set(slot, bytes);
        // The record is ours and sent once: naming its partition in place spares a copy per record.
        record.message.partition = partition;
        const messages = byTopic.get(record.topic);
        if (messages) messages.push(record.message);
        else byTopic.set(record.topic, [record.message]);
      }
      await batch.transaction.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      crashPoint('mid-kafka-transaction');
    }
  }

  private async commit(batch: Batch): Promise<void> {
    // The archive records ride in the same transaction as the first records that use their schemas, so a
    // read_committed consumer never sees a record whose schema the archive cannot give it.
    const archive = this.ports.schemaArchiveRecords();
    batch.unsent.push(...archive, this.ports.progressRecord(batch.commitLsn));
    // The registry check runs beside the produce requests: both must succeed before the commit, and the
    // records were encoded before either began.
    await Promise.all([this.send(batch), this.ports.confirmSchemas()]);
    await batch.transaction!.commit();
    if (archive.length > 0) this.ports.schemasArchived(archive);
    this.durable = batch.commitLsn > this.durable ? batch.commitLsn : this.durable;
    this.ports.committed({ commitTimesMicros: batch.commitTimesMicros, bytes: batch.bytes, startedAtMs: batch.startedAtMs });
    crashPoint('after-kafka-commit');
    this.ports.acknowledge(this.durable);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure as unknown;
  }
}

/** Key and value bytes of a record, what the broker's size limits count. */
function bytesOf(record: OutgoingRecord): number {
  return (record.message.key?.length ?? 0) + (record.message.value?.length ?? 0);
}
