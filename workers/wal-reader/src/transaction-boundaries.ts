import type { AvroCodec } from '@inventory-cdc/shared';
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
  private ids: { key: number; value: number } | undefined;

  constructor(
    readonly mode: BoundaryMode,
    private readonly topic: string,
    private readonly codec: AvroCodec,
    /** Notes that records with this topic's schema ids were written (confirmed with the registry before commit). */
    private readonly written: (topic: string) => void,
  ) {}

  /** Registers the boundary schemas (only when boundaries are written). */
  async prepare(register: (subject: string, schema: object) => Promise<number>): Promise<void> {
    if (this.mode === 'none') return;
    this.ids = {
      key: await register(`${this.topic}-key`, transactionKeySchema),
      value: await register(`${this.topic}-value`, transactionValueSchema),
    };
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
    this.written(this.topic);
    const dataCollections =
      status === 'END' ? [...transaction.eventsByTopic].map(([topic, count]) => ({ topic, eventCount: BigInt(count) })) : [];
    return {
      topic: this.topic,
      message: {
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
