import {
  formatBytes,
  formatSeconds,
  progressBar,
  renderLiveView,
  renderReaderLatency,
  renderSaleLatency,
  renderSinkLine,
  targetVerdict,
  type LiveModel,
} from './live-view-render';

describe('live view rendering', () => {
  const model: LiveModel = {
    phase: 'flash sale',
    progress: 0.5,
    elapsedSeconds: 15,
    durationSeconds: 30,
    sale: { purchases: 12_345, purchasesPerSecond: 812.4, soldOut: 3, restocks: 40, shipments: 900, errors: 0 },
    shards: [{ id: 0, eventsPerSecond: 1500, slotLagBytes: 2048, retainedWalBytes: 3 * 1024 * 1024, sourceToKafkaP99: 0.042, ready: true }],
    sinks: [
      { name: 'redis-cache', eventsPerSecond: 1490, lagMessages: 12, lagSeconds: 0.2, p50: 0.031, p99: 0.25, targetP99: 0.05, ready: true },
    ],
    hot: [
      { sku: 'SKU-000001', postgres: 100, redis: 100 },
      { sku: 'SKU-000002', postgres: 98, redis: 99 },
      { sku: 'SKU-000003', postgres: 5, redis: undefined },
    ],
  };

  it('shows the sale, each shard, each sink and the hot SKUs side by side', () => {
    const lines = renderLiveView(model);
    expect(lines[0]).toBe(`flash sale ${progressBar(0.5, 30)}  50%  15/30 s`);
    expect(lines[1]).toBe('  12,345 purchases (812/s), 3 refused as sold out, 40 restocks, 900 shipments');
    expect(lines[3]).toMatch(/^shard\s+reader\s+events\/s\s+slot lag\s+retained WAL\s+src→kafka p99$/);
    expect(lines[4]).toMatch(/^0\s+ready\s+1,500\s+2\.0 kB\s+3\.0 MB\s+42 ms$/);
    expect(lines[7]).toMatch(/^redis-cache\s+ready\s+1,490\s+12\s+0\.2\s+31 ms\s+250 ms\s+≤ 50 ms MISSED$/);
    expect(lines[10]).toMatch(/^SKU-000001\s+100\s+100\s+equal$/);
    expect(lines[11]).toMatch(/^SKU-000002\s+98\s+99\s+1$/);
    expect(lines[12]).toMatch(/^SKU-000003\s+5\s+–\s+–$/);
  });

  it('judges each sink’s p99 against its target, over the sale and live', () => {
    expect(targetVerdict(0.9, 1)).toBe('≤ 1.00 s met');
    expect(targetVerdict(1.2, 1)).toBe('≤ 1.00 s MISSED');
    expect(targetVerdict(undefined, 0.05)).toBe('≤ 50 ms');
    expect(renderSinkLine(model)).toBe('  commit→applied p99: redis-cache 250 ms (≤ 50 ms MISSED)');
    const lines = renderSaleLatency([
      { sink: 'redis-cache', events: 30_000, p50: 0.012, p99: 0.045, targetP99: 0.05 },
      { sink: 'wms-adapter', events: 29_000, p50: 0.3, p99: 1.4, targetP99: 1 },
    ]);
    expect(lines[1]).toMatch(/^\s+sink\s+events\s+p50\s+p99\s+target p99$/);
    expect(lines[2]).toMatch(/^\s+redis-cache\s+30,000\s+12 ms\s+45 ms\s+≤ 50 ms met$/);
    expect(lines[3]).toMatch(/^\s+wms-adapter\s+29,000\s+300 ms\s+1\.40 s\s+≤ 1\.00 s MISSED$/);
  });

  it('shows each reader’s share: commit → received → in Kafka', () => {
    const lines = renderReaderLatency([
      {
        shard: 0,
        transactions: 5_000,
        receivedP50: 0.008,
        receivedP99: 0.12,
        kafkaP50: 0.06,
        kafkaP99: 0.3,
        kafkaTransactionP50: 0.02,
        kafkaTransactionP99: 0.09,
      },
    ]);
    expect(lines[1]).toMatch(/^\s+shard\s+transactions\s+received p50\s+p99\s+in Kafka p50\s+p99\s+Kafka txn p50\s+p99$/);
    expect(lines[2]).toMatch(/^\s+0\s+5,000\s+8 ms\s+120 ms\s+60 ms\s+300 ms\s+20 ms\s+90 ms$/);
  });

  it('formats sizes, durations and the bar', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 kB');
    expect(formatBytes(undefined)).toBe('–');
    expect(formatSeconds(1.5)).toBe('1.50 s');
    expect(progressBar(0.25, 4)).toBe('[█░░░]');
    expect(progressBar(2, 2)).toBe('[██]');
  });
});
