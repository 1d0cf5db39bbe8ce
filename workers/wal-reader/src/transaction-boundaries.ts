import type { AvroCodec } from '@inventory-cdc/shared';
import type { IHeaders } from 'kafkajs';
import type { OutgoingRecord } from './change-committer';
import type { AssembledTransaction } from './transaction-assembler';
import { transactionKeySchema, transactionValueSchema } from './table-schema';

export type BoundaryMode = 'begin-end' | 'end' | 'none';

/**
 * Records on `<prefix>.transactions` marking where a Postgres transaction begins and ends (Debezium's
 * transaction metadata), for consumers that need to know when they hold a whole transaction. Off by
 * default: no consumer of this fleet reads them, and for one-row transactions they double the records.
 */
export class TransactionBoundaries {
  private ids: { key: number; value: number; headers: IHeaders } | undefined;

  constructor(
    readonly mode: BoundaryMode,
    private readonly topic: string,
    private readonly codec: AvroCodec,
    /** Registers the schemas, and notes records written with them (confirmed with the registry before commit). */
    private readonly schemas: {
      registerSubject(subject: string, schema: object): Promise<number>;
      headersOf(topic: string): IHeaders;
      markWritten(topic: string): void;
    },
  ) {}

  /** Registers the boundary schemas (only when boundaries are written). */
  async prepare(): Promise<void> {
    if (this.mode === 'none') return;
    const key = await this.schemas.registerSubject(`${this.topic}-key`, transactionKeySchema);
    const value = await this.schemas.registerSubject(`${this.topic}-value`, transactionValueSchema);
    this.ids = { key, value, headers: this.schemas.headersOf(this.topic) };
  }

  /** The BEGIN record, when the mode writes one (before the transaction's first records). */
  begin(transaction: AssembledTransaction): OutgoingRecord[] {
    return this.mode === 'begin-end' ? [this.record('BEGIN', transaction)] : [];
  }

  /** The END record with the transaction's event counts, when the mode writes one (after its last records). */
  end(transaction: AssembledTransaction): OutgoingRecord[] {
    return this.mode === 'none' ? [] : [this.record('END', transaction)];
  }

  private record(status: 'BEGIN' | 'END', transaction: AssembledTransaction): OutgoingRecord {
    const ids = this.ids;
    if (!ids) throw new Error('transaction boundary schemas are not registered');
    const { context } = transaction;
    this.schemas.markWritten(this.topic);
    const dataCollections =
      status === 'END' ? [...transaction.eventsByTopic].map(([topic, count]) => ({ topic, eventCount: BigInt(count) })) : [];
    return {
      topic: this.topic,
      message: {
        headers: ids.headers,
        key: this.codec.encode(ids.key, { shard: context.shard, txId: context.txId }),
        value: this.codec.encode(ids.value, {
          status,
          shard: context.shard,
          txId: context.txId,
          lsn: context.commitLsn,
          commitTs: context.commitTsMicros,
          eventCount: BigInt(status === 'END' ? transaction.eventCount : 0),
          dataCollections,
        }),
      },
    };
  }
}
