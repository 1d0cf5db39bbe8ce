import { HaltError, crashPoint, type AvroCodec, type Logger, type RegistryConfig } from '@inventory-cdc/shared';
import type { Message, Producer, Transaction } from 'kafkajs';
import type { ChangeRecord } from './change-builder';
import type { ReaderMetrics } from './reader-metrics';
import type { CompiledTable } from './table-schema';

interface SchemaIds {
  key: number;
  value: number;
}

interface PendingMessage {
  topic: string;
  message: Message;
}

/**
 * Writes encoded change records into one open Kafka transaction at a time, in produce requests of
 * `chunkEvents` records (a huge Postgres transaction flows through in chunks instead of being held in
 * memory), and commits it together with the shard's progress record.
 *
 * Contract: `commit` returns only after Kafka acknowledged the commit; until then nothing written since the
 * previous commit is visible to read_committed consumers, and after it all of it is, atomically.
 */
export class ChangePublisher {
  private readonly schemaIds = new Map<string, Promise<SchemaIds>>();
  private transaction: Transaction | undefined;
  private transactionStartedAt = 0;
  private pending: PendingMessage[] = [];
  private pendingBytes = 0;
  /** Bytes written into the open transaction, for the batching policy. */
  transactionBytes = 0;

  constructor(
    private readonly producer: Producer,
    private readonly codec: AvroCodec,
    private readonly metrics: ReaderMetrics,
    private readonly logger: Logger,
    private readonly options: { chunkEvents: number; maxBufferedBytes: number; compatibility: RegistryConfig['compatibility'] },
  ) {}

  get inTransaction(): boolean {
    return this.transaction !== undefined;
  }

  /**
   * Registers a table shape's key and value schemas before the first event that needs them. A refused
   * registration (the compatibility rule) halts the shard: skipping the table's events would lose them.
   */
  async schemaIdsOf(table: CompiledTable, previous?: CompiledTable): Promise<SchemaIds> {
    let ids = this.schemaIds.get(table.fingerprint);
    if (!ids) {
      ids = this.register(table, previous);
      this.schemaIds.set(table.fingerprint, ids);
      ids.catch(() => this.schemaIds.delete(table.fingerprint));
    }
    return ids;
  }

  private async register(table: CompiledTable, previous: CompiledTable | undefined): Promise<SchemaIds> {
    try {
      const key = await this.registerSubject(`${table.topic}-key`, table.keySchema);
      const value = await this.registerSubject(`${table.topic}-value`, table.valueSchema);
      this.logger.info({ topic: table.topic, keySchemaId: key, valueSchemaId: value }, 'schema registered');
      return { key, value };
    } catch (error) {
      const message = String((error as Error).message ?? error);
      if (!/409|incompatible/i.test(message)) throw error;
      const name = `${table.shape.schema}.${table.shape.table}`;
      this.metrics.schemaRefused.inc({ shard: this.metrics.shard, table: name });
      throw new HaltError(
        'schema_refused',
        `the registry refused the new schema of ${name}: ${describeRefusal(message, table, previous)}`,
        `make the change compatible (e.g. add columns as nullable, do not change a column's type), or change the subject's compatibility rule for ${table.topic}-value deliberately`,
        { cause: error },
      );
    }
  }

  /**
   * Sets the subject's compatibility rule, then registers. The rule is set first, on every start, so the
   * registry judges even the first new version after a restart by it (the registry enforces nothing on a
   * subject without a configured rule).
   */
  async registerSubject(subject: string, schema: object): Promise<number> {
    await this.codec.setCompatibility(this.options.compatibility, subject);
    return this.codec.register(subject, schema);
  }

  /** Encodes records into the open transaction (opening one if needed); sends a chunk when one is full. */
  async append(records: ChangeRecord[]): Promise<void> {
    for (const record of records) {
      const ids = await this.schemaIdsOf(record.table);
      const topic = record.table.topic;
      const key = record.key ? await this.codec.serialize(topic, 'key', ids.key, record.key) : null;
      const value = record.value ? await this.codec.serialize(topic, 'value', ids.value, record.value) : null;
      this.push(topic, { key, value });
      if (record.value)
        this.metrics.events.inc({
          shard: this.metrics.shard,
          table: `${record.table.shape.schema}.${record.table.shape.table}`,
          op: record.value.op,
        });
    }
    if (this.pending.length >= this.options.chunkEvents || this.pendingBytes >= this.options.maxBufferedBytes) await this.sendPending();
  }

  /** Adds an already encoded message (transaction boundaries). */
  push(topic: string, message: Message): void {
    const size = (message.key?.length ?? 0) + (message.value?.length ?? 0);
    this.pending.push({ topic, message });
    this.pendingBytes += size;
    this.transactionBytes += size;
    this.metrics.bufferedBytes.set({ shard: this.metrics.shard }, this.pendingBytes);
  }

  /** Sends what is buffered, adds `progress`, and commits the Kafka transaction. */
  async commit(progress: PendingMessage): Promise<void> {
    this.push(progress.topic, progress.message);
    await this.sendPending();
    const transaction = this.transaction;
    if (!transaction) return;
    await transaction.commit();
    this.metrics.kafkaTransactionDuration.observe({ shard: this.metrics.shard }, (Date.now() - this.transactionStartedAt) / 1000);
    this.metrics.bytes.inc({ shard: this.metrics.shard }, this.transactionBytes);
    this.transaction = undefined;
    this.transactionBytes = 0;
  }

  /** Drops the open transaction: nothing of it becomes visible. */
  async abort(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    this.transactionBytes = 0;
    const transaction = this.transaction;
    this.transaction = undefined;
    if (transaction?.isActive()) await transaction.abort();
  }

  private async sendPending(): Promise<void> {
    if (this.pending.length === 0) return;
    if (!this.transaction) {
      this.transaction = await this.producer.transaction();
      this.transactionStartedAt = Date.now();
    }
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of this.pending) {
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      messages.push(message);
    }
    this.pending = [];
    this.pendingBytes = 0;
    await this.transaction.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    crashPoint('mid-kafka-transaction');
    this.metrics.bufferedBytes.set({ shard: this.metrics.shard }, 0);
  }
}

/** Names the columns whose Avro type changed since the previous shape of the table, with the registry's words. */
function describeRefusal(message: string, table: CompiledTable, previous: CompiledTable | undefined): string {
  if (!previous) return message;
  const before = new Map(previous.shape.columns.map((column, index) => [column.name, JSON.stringify(previous.codecs[index]?.avro)]));
  const changed = table.shape.columns.filter(
    (column, index) => before.has(column.name) && before.get(column.name) !== JSON.stringify(table.codecs[index]?.avro),
  );
  return changed.length > 0 ? `column ${changed.map((column) => column.name).join(', ')} changed type (${message})` : message;
}
