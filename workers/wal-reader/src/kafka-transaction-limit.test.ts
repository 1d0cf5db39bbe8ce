import { HaltError } from '@inventory-cdc/shared';
import type { TransactionalProducer } from './change-committer';
import { KafkaTransactionLimit } from './kafka-transaction-limit';

const expired = new Error('Producer attempted an operation with an old epoch');

/** A producer whose transactions fail every send and commit, as after the broker aborted them. */
const failing: TransactionalProducer = {
  transaction: () =>
    Promise.resolve({
      sendBatch: () => Promise.reject(expired),
      commit: () => Promise.reject(expired),
      abort: () => Promise.resolve(),
      isActive: () => true,
    }),
};

describe('KafkaTransactionLimit', () => {
  it.each(['sendBatch', 'commit'] as const)(
    'turns a %s failure of a transaction open beyond the limit into a halt naming it',
    async (operation) => {
      const transaction = await new KafkaTransactionLimit(failing, 0).transaction();
      const failure = operation === 'commit' ? transaction.commit() : transaction.sendBatch({ topicMessages: [] });
      await expect(failure).rejects.toThrow(HaltError);
      await expect(failure).rejects.toThrow(/beyond kafkaTransaction\.timeoutMs \(0 ms\), and the broker aborted it \(Producer attempted/);
    },
  );

  it('leaves the failure of a transaction within the limit as it is (retried by a new session)', async () => {
    const transaction = await new KafkaTransactionLimit(failing, 60_000).transaction();
    await expect(transaction.commit()).rejects.toBe(expired);
  });
});
