import { formatBytes, formatReplay, formatStatus, renderTable, toJson } from './fleet-output';

describe('fleet output', () => {
  it('pads table columns to their widest cell', () => {
    expect(
      renderTable(
        ['a', 'bb'],
        [
          ['xyz', '1'],
          ['', '22'],
        ],
      ),
    ).toBe(['a    bb', '---  --', 'xyz  1', '     22'].join('\n'));
  });

  it.each([
    [512, '512 B'],
    [2048, '2.0 KiB'],
    [5 * 1024 ** 3, '5.0 GiB'],
  ])('writes %d bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('writes bigints in JSON as decimal strings', () => {
    expect(JSON.parse(toJson({ lsn: 123456789012345678901n }))).toEqual({ lsn: '123456789012345678901' });
  });

  it('shows each slot, marks the leading reader and lists the problems under the verdict', () => {
    const text = formatStatus({
      healthy: false,
      problems: ['shard 1: replication slot cdc_inventory_shard1 does not exist'],
      shards: [
        {
          shard: 0,
          slot: 'cdc_inventory_shard0',
          slotFacts: { exists: true, active: true, walStatus: 'reserved', retainedWalBytes: 4096, confirmedLagBytes: 0 },
          readers: [{ name: 'wal-reader-0', url: 'http://r0', reachable: true, ready: true, leader: true }],
        },
        {
          shard: 1,
          slot: 'cdc_inventory_shard1',
          slotFacts: { exists: false, active: false, walStatus: null, retainedWalBytes: 0, confirmedLagBytes: 0 },
          readers: [],
        },
      ],
      sinks: [],
      otherWorkers: [],
    });
    expect(text).toContain('cdc_inventory_shard0  yes      reserved    4.0 KiB   0 B            http://r0 ready (leader)');
    expect(text).toContain('cdc_inventory_shard1  missing');
    expect(text).toMatch(/UNHEALTHY\n {2}- shard 1: replication slot cdc_inventory_shard1 does not exist$/);
  });

  it('says when a replay had nothing to do', () => {
    expect(formatReplay({ sink: 'wms-adapter', dlqTopic: 'inventory.dlq.wms-adapter', replayed: [], alreadyReplayed: [] })).toBe(
      'wms-adapter: nothing to replay',
    );
  });
});
