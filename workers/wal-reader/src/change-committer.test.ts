import { ChangeCommitter, type CommitterPorts, type OutgoingRecord, type TransactionalProducer } from './change-committer';

/** A producer whose Kafka commits complete only when the test says so, recording what happens in order. */
class FakeProducer implements TransactionalProducer {
  readonly log: string[] = [];
  private releases: Array<() => void> = [];
  private open = 0;

  transaction(): ReturnType<TransactionalProducer['transaction']> {
    if (this.open > 0) throw new Error('kafkajs allows one transaction at a time');
    this.open++;
    let active = true;
    return Promise.resolve({
      sendBatch: ({ topicMessages }) => {
        this.log.push(`send ${topicMessages.flatMap((entry) => entry.messages.map((message) => String(message.value))).join(',')}`);
        return Promise.resolve();
      },
      commit: () =>
        new Promise<void>((resolve) => {
          this.releases.push(() => {
            this.log.push('commit');
            active = false;
            this.open--;
            resolve();
          });
        }),
      abort: () => {
        this.log.push('abort');
        active = false;
        this.open--;
        return Promise.resolve();
      },
      isActive: () => active,
    });
  }

  /** Lets the oldest pending Kafka commit complete. */
  async completeCommit(): Promise<void> {
    for (let tries = 0; tries < 50 && this.releases.length === 0; tries++) await Promise.resolve();
    const release = this.releases.shift();
    if (!release) throw new Error('no Kafka commit is pending');
    release();
    for (let tick = 0; tick < 20; tick++) await Promise.resolve();
  }
}

const record = (value: string): OutgoingRecord => ({ topic: 't', message: { key: null, value: Buffer.from(value) } });

function setUp(options: Partial<{ durableLsn: bigint; maxTransactions: number; maxBytes: number; sendBytes: number }> = {}) {
  const producer = new FakeProducer();
  const acknowledged: bigint[] = [];
  /** Schema archive records waiting for a commit, as the encoder keeps them. */
  const unarchived = new Set<string>();
  const ports: CommitterPorts = {
    producer,
    progressRecord: (commitLsn) => record(`progress@${commitLsn.toString(16)}`),
    acknowledge: (lsn) => {
      producer.log.push(`ack ${lsn.toString(16)}`);
      acknowledged.push(lsn);
    },
    committed: () => undefined,
    settled: () => undefined,
    // One partition per topic: a request's share of it is the whole request.
    partitionOf: () => 0,
    confirmSchemas: () => {
      producer.log.push('confirm');
      return Promise.resolve();
    },
    schemaArchiveRecords: () => [...unarchived].map(record),
    schemasArchived: (records) => {
      producer.log.push(`archived ${records.map((archived) => String(archived.message.value)).join(',')}`);
      for (const archived of records) unarchived.delete(String(archived.message.value));
    },
  };
  const committer = new ChangeCommitter(ports, {
    durableLsn: 0n,
    maxTransactions: 1000,
    maxBytes: 1 << 20,
    sendBytes: 1 << 20,
    ...options,
  });
  return { producer, committer, acknowledged, ports, unarchived };
}

const flushMicrotasks = async (): Promise<void> => {
  for (let tick = 0; tick < 20; tick++) await Promise.resolve();
};

describe('ChangeCommitter', () => {
  it('acknowledges a transaction only after its Kafka commit, with the progress record in the same Kafka transaction', async () => {
    const { producer, committer, acknowledged } = setUp();
    await committer.add(0x100n, 1n, [record('a')], true);
    committer.commitIfDue();
    await flushMicrotasks();
    expect(producer.log).toEqual(['confirm', 'send a,progress@100']);
    expect(acknowledged).toEqual([]);
    await producer.completeCommit();
    expect(producer.log).toEqual(['confirm', 'send a,progress@100', 'commit', 'ack 100']);
    expect(committer.durableLsn).toBe(0x100n);
  });

  it('puts schema archive records into every Kafka transaction until one that carries them commits', async () => {
    const { producer, committer, unarchived } = setUp();
    unarchived.add('schema-1');
    await committer.add(0x100n, 1n, [record('a')], true);
    committer.commitIfDue();
    await flushMicrotasks();
    expect(producer.log).toEqual(['confirm', 'send a,schema-1,progress@100']);
    // Registered while the first commit is in flight: the next transaction carries it, and not schema-1 again.
    unarchived.add('schema-2');
    await producer.completeCommit();
    await committer.add(0x200n, 1n, [record('b')], true);
    committer.commitIfDue();
    await flushMicrotasks();
    await producer.completeCommit();
    expect(producer.log).toEqual([
      'confirm',
      'send a,schema-1,progress@100',
      'commit',
      'archived schema-1',
      'ack 100',
      'confirm',
      'send b,schema-2,progress@200',
      'commit',
      'archived schema-2',
      'ack 200',
    ]);
  });

  it('keeps schema archive records for the next transaction when the commit carrying them fails', async () => {
    const { producer, committer, ports, unarchived } = setUp();
    unarchived.add('schema-1');
    ports.confirmSchemas = () => Promise.reject(new Error('registry forgot'));
    await committer.add(0x100n, 1n, [record('a')], true);
    committer.commitIfDue();
    await flushMicrotasks();
    expect(producer.log).toEqual(['send a,schema-1,progress@100']);
    expect([...unarchived]).toEqual(['schema-1']);
  });

  it('gathers the transactions that arrive while a commit is in flight into the next Kafka transaction', async () => {
    const { producer, committer } = setUp();
    await committer.add(0x100n, 1n, [record('a')], true);
    committer.commitIfDue();
    await committer.add(0x200n, 1n, [record('b')], true);
    await committer.add(0x300n, 1n, [record('c')], true);
    committer.commitIfDue(); // one is in flight: nothing starts
    await producer.completeCommit();
    committer.commitIfDue();
    await flushMicrotasks();
    await producer.completeCommit();
    expect(producer.log).toEqual([
      'confirm',
      'send a,progress@100',
      'commit',
      'ack 100',
      'confirm',
      'send b,c,progress@300',
      'commit',
      'ack 300',
    ]);
  });

  it('never commits inside an open Postgres transaction: a due commit waits for the transaction to end', async () => {
    const { producer, committer } = setUp({ sendBytes: 20 });
    await committer.add(0x100n, 1n, [record('a')], true);
    await committer.add(0x200n, 1n, [record('b'.repeat(19))], false); // a large transaction's first part: sent early
    committer.commitIfDue();
    await flushMicrotasks();
    expect(producer.log).toEqual([`send a,${'b'.repeat(19)}`]);
    await committer.add(0x200n, 1n, [record('b2')], true);
    committer.commitIfDue();
    await flushMicrotasks();
    await producer.completeCommit();
    expect(producer.log).toEqual([`send a,${'b'.repeat(19)}`, 'send b2,progress@200', 'confirm', 'commit', 'ack 200']);
  });

  it('sends a batch in produce requests that keep each partition under sendBytes (the broker caps a partition batch)', async () => {
    const { producer, committer, ports } = setUp({ sendBytes: 4 });
    await committer.add(0x100n, 1n, [record('aa'), record('bb'), record('cc')], true);
    committer.commitIfDue();
    await producer.completeCommit();
    expect(producer.log).toEqual(['confirm', 'send aa,bb', 'send cc', 'send progress@100', 'commit', 'ack 100']);

    // Spread over partitions, the same bytes fit one request.
    producer.log.length = 0;
    ports.partitionOf = (outgoing) => String(outgoing.message.value).charCodeAt(0);
    await committer.add(0x200n, 1n, [record('aa'), record('bb'), record('cc')], true);
    committer.commitIfDue();
    await producer.completeCommit();
    expect(producer.log).toEqual(['confirm', 'send aa,bb,cc,progress@200', 'commit', 'ack 200']);
  });

  it('confirms the schema ids with the registry before each Kafka commit, and a failed confirmation commits nothing', async () => {
    const { producer, committer, acknowledged, ports } = setUp();
    ports.confirmSchemas = () => Promise.reject(new Error('the registry forgot'));
    await committer.add(0x100n, 1n, [record('a')], true);
    committer.commitIfDue();
    await flushMicrotasks();
    expect(producer.log).toEqual(['send a,progress@100']);
    expect(acknowledged).toEqual([]);
    await expect(committer.flush()).rejects.toThrow('the registry forgot');
  });

  it('skips transactions Kafka already has (replayed after a restart) and acknowledges them when idle', async () => {
    const { producer, committer, acknowledged } = setUp({ durableLsn: 0x500n });
    await committer.add(0x400n, 1n, [record('old')], true);
    await committer.add(0x500n, 1n, [record('old too')], true);
    committer.commitIfDue();
    await flushMicrotasks();
    expect(producer.log).toEqual(['ack 400', 'ack 500']);
    await committer.add(0x600n, 1n, [record('new')], true);
    committer.commitIfDue();
    await producer.completeCommit();
    expect(acknowledged).toEqual([0x400n, 0x500n, 0x600n]);
  });

  it('moves the slot on a heartbeat only when nothing is gathered or in flight, and only after Kafka records it', async () => {
    const { producer, committer, acknowledged } = setUp();
    await committer.add(0x100n, 1n, [record('a')], true);
    committer.passedIdle(0x150n);
    committer.commitIfDue();
    committer.passedIdle(0x160n);
    await producer.completeCommit();
    committer.passedIdle(0x170n);
    expect(acknowledged).toEqual([0x100n]);
    committer.commitIfDue();
    await producer.completeCommit();
    expect(acknowledged).toEqual([0x100n, 0x170n]);
    expect(producer.log.slice(-4)).toEqual(['confirm', 'send progress@170', 'commit', 'ack 170']);
    expect(committer.durableLsn).toBe(0x170n);
  });

  it('waits for the commit in flight when the next batch is full (backpressure)', async () => {
    const { producer, committer } = setUp({ maxTransactions: 2 });
    // Room in the batch: nothing to wait for, so no promise (the loop's fast path).
    expect(committer.add(0x100n, 1n, [record('a')], true)).toBeUndefined();
    committer.commitIfDue();
    expect(committer.add(0x200n, 1n, [record('b')], true)).toBeUndefined();
    let added = false;
    const waiting = committer.add(0x300n, 1n, [record('c')], true);
    expect(waiting).toBeInstanceOf(Promise);
    const adding = (waiting as Promise<void>).then(() => (added = true));
    await flushMicrotasks();
    expect(added).toBe(false);
    await producer.completeCommit();
    await adding;
    await producer.completeCommit();
    expect(producer.log).toEqual([
      'confirm',
      'send a,progress@100',
      'commit',
      'ack 100',
      'confirm',
      'send b,c,progress@300',
      'commit',
      'ack 300',
    ]);
  });

  it('abandons an open transaction on abort: nothing of it is committed or acknowledged', async () => {
    const { producer, committer, acknowledged } = setUp({ sendBytes: 1 });
    await committer.add(0x200n, 1n, [record('b1')], false);
    await committer.abort();
    expect(producer.log).toEqual(['send b1', 'abort']);
    expect(acknowledged).toEqual([]);
  });
});
