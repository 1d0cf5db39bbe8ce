import { progressMessage, parseProgress, slotIdentityProblem, type ReaderProgress } from './reader-contract';

const progress: ReaderProgress = {
  shard: 0,
  commitLsn: 0x5000n,
  snapshotComplete: true,
  snapshotLsn: 0x1000n,
  slotCreatedAtLsn: 0x1000n,
  systemIdentifier: '7714685828711323199',
  updatedAtMs: 0,
};

describe('slotIdentityProblem', () => {
  it.each<[string, bigint | null]>([
    ['acknowledged through the progress (confirmed = commit LSN + 1)', 0x5001n],
    ['not yet acknowledged after the last Kafka commit (a crash in between)', 0x4000n],
    ['just created, at the snapshot point', 0x1000n],
    ['without a confirmed position', null],
  ])('accepts the reader’s own slot: %s', (_, confirmed) => {
    expect(slotIdentityProblem('s', { confirmedFlushLsn: confirmed }, progress, progress.systemIdentifier!)).toBeUndefined();
  });

  it.each<[string, bigint, string, RegExp]>([
    [
      'a slot confirmed beyond the progress (re-created or advanced)',
      0x5002n,
      '7714685828711323199',
      /confirms 0\/5002, beyond the progress in Kafka \(0\/5000\)/,
    ],
    [
      'a slot confirmed before the reader’s slot was created',
      0x0fffn,
      '7714685828711323199',
      /before the point the reader's slot was created at \(0\/1000\)/,
    ],
    ['another cluster', 0x5000n, '1', /another cluster \(system identifier 1\)/],
  ])('refuses %s', (_, confirmed, systemIdentifier, problem) => {
    expect(slotIdentityProblem('s', { confirmedFlushLsn: confirmed }, progress, systemIdentifier)).toMatch(problem);
  });

  it('cannot judge a progress record without an identity (an older reader’s, or a reset)', () => {
    const { systemIdentifier: _, ...legacy } = progress;
    expect(slotIdentityProblem('s', { confirmedFlushLsn: 0x9000n }, legacy, '1')).toBeUndefined();
  });

  it('keeps the system identifier through the record’s encoding', () => {
    expect(parseProgress(progressMessage(progress).value as Buffer)).toEqual(progress);
  });
});
