import { HaltError } from '@inventory-cdc/shared';
import type { TransactionalProducer } from './change-committer';

type KafkaTransaction = Awaited<ReturnType<TransactionalProducer['transaction']>>;

/**
 * The committer's producer, timing each Kafka transaction. One Postgres transaction is written in one Kafka
 * transaction, so one that takes longer to stream than `kafkaTransaction.timeoutMs` is aborted by the broker,
 * and every restart meets it again. A send or commit that fails once the transaction has been open beyond the
 * limit therefore halts, naming the limit, instead of failing anonymously session after session. (A broker
 * outage fails a request within kafkajs's retry budget, seconds, long before a timeout of minutes.)
 */
export class KafkaTransactionLimit implements TransactionalProducer {
  constructor(
    private readonly producer: TransactionalProducer,
    private readonly timeoutMs: number,
  ) {}

  async transaction(): Promise<KafkaTransaction> {
    const transaction = await this.producer.transaction();
    const openedAtMs = Date.now();
    const limited =
      <A extends unknown[], R>(operation: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        try {
          return await operation(...args);
        } catch (error) {
          throw this.explain(error, Date.now() - openedAtMs);
        }
      };
    return {
      sendBatch: limited((batch: Parameters<KafkaTransaction['sendBatch']>[0]) => transaction.sendBatch(batch)),
      commit: limited(() => transaction.commit()),
      abort: () => transaction.abort(),
      isActive: () => transaction.isActive(),
    };
  }

  private explain(error: unknown, openMs: number): unknown {
    if (openMs < this.timeoutMs) return error;
    return new HaltError(
      'kafka_transaction_timeout',
      `a Kafka transaction was open for ${openMs} ms, beyond kafkaTransaction.timeoutMs (${this.timeoutMs} ms), and the broker aborted it (${
        error instanceof Error ? error.message : String(error)
      }): a Postgres transaction is written in one Kafka transaction, and this one takes longer to stream than the limit`,
      'raise kafkaTransaction.timeoutMs above the time the largest transaction needs (at most the broker’s transaction.max.timeout.ms), then restart the reader: the transaction is still in the slot',
      { cause: error },
    );
  }
}
