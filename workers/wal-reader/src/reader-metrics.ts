import { MetricNames, latencyBucketsSeconds, type FleetMetrics } from '@inventory-cdc/shared';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The wal-reader's metrics, registered once on the worker's registry; every series has the `shard` label. */
export class ReaderMetrics {
  readonly events: Counter<'shard' | 'table' | 'op'>;
  readonly transactions: Counter<'shard'>;
  readonly bytes: Counter<'shard'>;
  readonly commitLag: Histogram<'shard'>;
  readonly sourceToReceived: Histogram<'shard'>;
  readonly kafkaTransactionDuration: Histogram<'shard'>;
  readonly slotRetainedWal: Gauge<'shard'>;
  readonly slotConfirmedLag: Gauge<'shard'>;
  readonly slotHealthy: Gauge<'shard'>;
  readonly slotActive: Gauge<'shard'>;
  readonly acknowledgedLsn: Gauge<'shard'>;
  readonly snapshotProgress: Gauge<'shard'>;
  readonly snapshotRows: Counter<'shard' | 'table'>;
  readonly bufferedBytes: Gauge<'shard'>;
  readonly leader: Gauge<'shard'>;
  readonly schemaRefused: Counter<'shard' | 'table'>;
  readonly heartbeats: Counter<'shard'>;
  readonly signalsRefused: Counter<'shard' | 'reason'>;

  constructor(
    fleet: FleetMetrics,
    readonly shard: string,
  ) {
    const registers = [fleet.registry];
    const shardLabel = ['shard'] as const;
    this.events = new Counter({
      name: MetricNames.readerEvents,
      help: 'Change events produced',
      labelNames: ['shard', 'table', 'op'],
      registers,
    });
    this.transactions = new Counter({
      name: MetricNames.readerTransactions,
      help: 'Postgres transactions committed into Kafka',
      labelNames: shardLabel,
      registers,
    });
    this.bytes = new Counter({ name: MetricNames.readerBytes, help: 'Kafka record bytes produced', labelNames: shardLabel, registers });
    this.commitLag = new Histogram({
      name: MetricNames.readerCommitLag,
      help: 'Postgres commit to Kafka commit',
      labelNames: shardLabel,
      buckets: latencyBucketsSeconds,
      registers,
    });
    this.sourceToReceived = new Histogram({
      name: MetricNames.readerSourceToReceived,
      help: 'Postgres commit to the reader taking the commit message',
      labelNames: shardLabel,
      buckets: latencyBucketsSeconds,
      registers,
    });
    this.kafkaTransactionDuration = new Histogram({
      name: MetricNames.readerKafkaTransactionDuration,
      help: 'Kafka transaction begin to commit',
      labelNames: shardLabel,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.slotRetainedWal = new Gauge({
      name: MetricNames.readerSlotRetainedWal,
      help: 'WAL bytes retained by the slot',
      labelNames: shardLabel,
      registers,
    });
    this.slotConfirmedLag = new Gauge({
      name: MetricNames.readerSlotConfirmedLag,
      help: 'Current WAL LSN minus confirmed_flush_lsn',
      labelNames: shardLabel,
      registers,
    });
    this.slotHealthy = new Gauge({
      name: MetricNames.readerSlotHealthy,
      help: 'Slot exists and is not invalidated',
      labelNames: shardLabel,
      registers,
    });
    this.slotActive = new Gauge({ name: MetricNames.readerSlotActive, help: 'Slot is being streamed', labelNames: shardLabel, registers });
    this.acknowledgedLsn = new Gauge({
      name: MetricNames.readerAcknowledgedLsn,
      help: 'Last LSN acknowledged to Postgres',
      labelNames: shardLabel,
      registers,
    });
    this.snapshotProgress = new Gauge({
      name: MetricNames.readerSnapshotProgress,
      help: 'Snapshot rows emitted over estimated rows',
      labelNames: shardLabel,
      registers,
    });
    this.snapshotRows = new Counter({
      name: MetricNames.readerSnapshotRows,
      help: 'Snapshot rows emitted',
      labelNames: ['shard', 'table'],
      registers,
    });
    this.bufferedBytes = new Gauge({
      name: MetricNames.readerBufferedBytes,
      help: 'Encoded bytes gathered for the next Kafka commit',
      labelNames: shardLabel,
      registers,
    });
    this.leader = new Gauge({
      name: MetricNames.readerLeader,
      help: 'This process streams the shard (1) or stands by (0)',
      labelNames: shardLabel,
      registers,
    });
    this.schemaRefused = new Counter({
      name: MetricNames.readerSchemaRefused,
      help: 'Schema registrations refused',
      labelNames: ['shard', 'table'],
      registers,
    });
    this.heartbeats = new Counter({
      name: MetricNames.readerHeartbeats,
      help: 'Heartbeats emitted into the WAL',
      labelNames: shardLabel,
      registers,
    });
    this.signalsRefused = new Counter({
      name: MetricNames.readerSignalsRefused,
      help: 'Ad-hoc snapshot signals refused, by reason',
      labelNames: ['shard', 'reason'],
      registers,
    });
    for (const metric of [this.transactions, this.bytes, this.heartbeats]) metric.inc({ shard }, 0);
    this.leader.set({ shard }, 0);
    this.bufferedBytes.set({ shard }, 0);
  }
}
