import { firstAtLeastLatencies } from './sink-latency';

describe('outside observer: commit → first state at least as new', () => {
  it('counts every commit, coalesced ones from the notification of a newer value', () => {
    // Values 1..4 committed at 1000, 1010, 1020, 1030 ms; the observer saw 2 at 1050 and 4 at 1080.
    const committedAt = new Map([
      [1, 1_000],
      [2, 1_010],
      [3, 1_020],
      [4, 1_030],
    ]);
    const latencies = firstAtLeastLatencies(
      [
        { value: 4, at: 1_080 },
        { value: 2, at: 1_050 },
      ],
      committedAt,
    );
    expect(latencies).toEqual([0.05, 0.04, 0.06, 0.05]);
  });

  it('takes the earliest arrival of any state at least as new, and leaves out commits never seen', () => {
    // A newer value (3) arrived before an older one (2) was seen again: 1 and 2 count from 3's arrival.
    const committedAt = new Map([
      [1, 0],
      [2, 10],
      [3, 20],
      [5, 30],
    ]);
    const latencies = firstAtLeastLatencies(
      [
        { value: 2, at: 90 },
        { value: 3, at: 60 },
      ],
      committedAt,
    );
    expect(latencies).toEqual([0.06, 0.05, 0.04]);
  });
});
