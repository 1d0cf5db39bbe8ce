import { fleetProblems, partitionLagOf, probeOf, readerHaltsOf, type ShardStatus, type SinkStatus, type WorkerProbe } from './fleet-status';

const limits = { maxLagEvents: 100, maxRetainedWalBytes: 1_000_000, maxPendingDeadLetters: 0 };
const leader: WorkerProbe = { name: 'wal-reader-0', url: 'http://r0', reachable: true, ready: true, leader: true };
const standby: WorkerProbe = { name: 'wal-reader-0', url: 'http://r1', reachable: true, ready: false, leader: false };
const healthyShard: ShardStatus = {
  shard: 0,
  slot: 'cdc_inventory_shard0',
  slotFacts: { exists: true, active: true, walStatus: 'reserved', retainedWalBytes: 1_000, confirmedLagBytes: 0 },
  readers: [leader, standby],
};
const healthySink: SinkStatus = {
  sink: 'redis-cache',
  groupId: 'inventory.redis-cache',
  partitions: [{ topic: 'inventory.inventory.stock', partition: 0, committed: '90', high: '100', lag: 10 }],
  totalLag: 10,
  workers: [{ name: 'redis-cache', url: 'http://c0', reachable: true, ready: true }],
};

describe('partitionLagOf', () => {
  it.each([
    ['90', '0', '100', 10],
    [null, '20', '100', 80],
    ['5', '20', '100', 80],
    ['100', '0', '100', 0],
  ])('committed %s, log %s..%s: %d behind', (committed, low, high, lag) => {
    expect(partitionLagOf(committed, low, high)).toBe(lag);
  });
});

describe('fleetProblems', () => {
  it('finds nothing wrong with a streaming slot, one ready leader (standbys may wait) and a sink within its lag', () => {
    expect(fleetProblems([healthyShard], [healthySink], [], limits)).toEqual([]);
  });

  it.each<[string, Partial<ShardStatus>, RegExp]>([
    [
      'a missing slot',
      { slotFacts: { exists: false, active: false, walStatus: null, retainedWalBytes: 0, confirmedLagBytes: 0 } },
      /does not exist/,
    ],
    ['a lost slot', { slotFacts: { ...healthyShard.slotFacts!, walStatus: 'lost' } }, /wal_status is lost/],
    ['an inactive slot', { slotFacts: { ...healthyShard.slotFacts!, active: false } }, /not active/],
    [
      'a slot that is not the reader’s',
      {
        slotFacts: { ...healthyShard.slotFacts!, active: false, identityProblem: 'replication slot s confirms 0/200, beyond the progress' },
      },
      /beyond the progress; its reader halts with slot_lost: re-snapshot the shard with fleet slots reset --shard 0/,
    ],
    ['too much retained WAL', { slotFacts: { ...healthyShard.slotFacts!, retainedWalBytes: 2_000_000 } }, /retains 2000000 bytes/],
    ['no leader', { readers: [standby] }, /no reader leads/],
    ['two leaders', { readers: [leader, { ...leader, url: 'http://r1' }] }, /2 readers claim leadership/],
    [
      'a leader that is not ready',
      { readers: [{ ...leader, ready: false, checks: { acknowledgements: { ok: false, detail: 'no acknowledgement for 40 s' } } }] },
      /not ready \(acknowledgements: no acknowledgement for 40 s\)/,
    ],
    [
      'an unreachable standby',
      { readers: [leader, { ...standby, reachable: false, error: 'ECONNREFUSED' }] },
      /r1 does not answer: ECONNREFUSED/,
    ],
    ['an unreadable Postgres', { slotFacts: undefined, error: 'connection refused' }, /cannot read the slot: connection refused/],
  ])('reports %s', (_, change, problem) => {
    const problems = fleetProblems([{ ...healthyShard, ...change }], [], [], limits);
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
  });

  it.each<[string, Partial<SinkStatus>, RegExp]>([
    ['a partition too far behind', { partitions: [{ ...healthySink.partitions[0]!, lag: 101 }] }, /stock\[0\] is 101 offsets behind/],
    [
      'a member that is not ready',
      { workers: [{ name: 'redis-cache', url: 'http://c0', reachable: true, ready: false }] },
      /c0 is not ready/,
    ],
    ['an unreadable group', { error: 'coordinator not available' }, /cannot read group inventory.redis-cache/],
  ])('reports %s of a sink', (_, change, problem) => {
    expect(fleetProblems([], [{ ...healthySink, ...change }], [], limits)).toEqual([expect.stringMatching(problem)]);
  });

  it('reports dead letters pending beyond the limit', () => {
    expect(fleetProblems([], [{ ...healthySink, pendingDeadLetters: 1_900 }], [], limits)).toEqual([
      'sink redis-cache: 1900 dead letters pending (limit 0); see fleet dlq list --sink redis-cache',
    ]);
    expect(fleetProblems([], [{ ...healthySink, pendingDeadLetters: 3 }], [], { ...limits, maxPendingDeadLetters: 5 })).toEqual([]);
  });

  it('reports a registry that does not answer, or that forgot the subjects of topics holding records', () => {
    const registry = { url: 'http://registry', reachable: true, missingSubjects: [] };
    expect(fleetProblems([], [], [], limits, registry)).toEqual([]);
    expect(fleetProblems([], [], [], limits, { ...registry, reachable: false, error: 'ECONNREFUSED' })).toEqual([
      'schema registry http://registry does not answer: ECONNREFUSED',
    ]);
    expect(fleetProblems([], [], [], limits, { ...registry, missingSubjects: ['p.inventory.stock-value'] })).toEqual([
      expect.stringMatching(/does not know subject p\.inventory\.stock-value .*restarted empty/),
    ]);
  });

  it('reports a reader that halted a table’s stream, even while it answers ready', () => {
    const halted = { ...leader, halts: ['the registry refused a schema change of stock (1 times): its stream is stopped'] };
    expect(fleetProblems([{ ...healthyShard, readers: [halted] }], [], [], limits)).toEqual([
      'shard 0: reader http://r0 halted: the registry refused a schema change of stock (1 times): its stream is stopped',
    ]);
  });

  it('reports any other worker that is not ready', () => {
    const other: WorkerProbe = { name: 'wms-receiver', url: 'http://w', reachable: false, ready: false, error: 'timeout' };
    expect(fleetProblems([], [], [other], limits)).toEqual(['wms-receiver: worker http://w does not answer: timeout']);
  });
});

describe('probeOf', () => {
  it('reads a reader readiness report with its leadership', () => {
    const body = JSON.stringify({
      ready: true,
      checks: { leadership: { ok: true, detail: 'leader' }, replication: { ok: true, detail: 'streaming' } },
    });
    expect(probeOf('wal-reader-0', 'http://r0', 200, body)).toMatchObject({ reachable: true, ready: true, leader: true });
  });

  it('takes a standby (503, leadership false) as reachable but not leading', () => {
    const body = JSON.stringify({ ready: false, checks: { leadership: { ok: false, detail: 'standing by' } } });
    expect(probeOf('wal-reader-0', 'http://r1', 503, body)).toMatchObject({ reachable: true, ready: false, leader: false });
  });

  it('does not trust an answer without a readiness report', () => {
    expect(probeOf('x', 'http://x', 200, 'ok')).toMatchObject({
      reachable: true,
      ready: false,
      error: 'answered 200 without a readiness report',
    });
  });
});

describe('readerHaltsOf', () => {
  it('reads refused schema changes from a reader’s metrics, ignoring counters at zero', () => {
    const metrics = [
      '# TYPE cdc_reader_schema_refused_total counter',
      'cdc_reader_schema_refused_total{service="wal-reader-0",shard="0",table="stock"} 2',
      'cdc_reader_schema_refused_total{service="wal-reader-0",shard="0",table="orders"} 0',
      'cdc_reader_events_total{service="wal-reader-0",shard="0",table="stock",op="u"} 12',
    ].join('\n');
    expect(readerHaltsOf(metrics)).toEqual(['the registry refused a schema change of stock (2 times): its stream is stopped']);
  });
});
