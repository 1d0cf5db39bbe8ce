/**
 * Every metric name the fleet exports, in one place: dashboards and alert rules are checked against this
 * list and the running workers' /metrics. Names follow Prometheus style: a `cdc_` namespace, base units,
 * `_total` for counters, `_seconds` / `_bytes` suffixes. Label values are bounded (table, op, kind, ...).
 */
export const MetricNames = {
  /** Gauge 1/0: the worker is connected and making progress (what /readyz answers). */
  workerReady: 'cdc_worker_ready',
  /** Counter of errors by `kind` (bounded set from the error classes). */
  errors: 'cdc_errors_total',
  /** Gauge with the build's version and the worker's role as labels; always 1. */
  buildInfo: 'cdc_build_info',

  // wal-reader (labels: shard, and table/op where named)
  /** Counter of change events produced, by table and op. */
  readerEvents: 'cdc_reader_events_total',
  /** Counter of Postgres transactions committed into Kafka. */
  readerTransactions: 'cdc_reader_transactions_total',
  /** Counter of Kafka record bytes (keys + values) produced. */
  readerBytes: 'cdc_reader_bytes_total',
  /** Histogram: Postgres commit → Kafka commit of the transaction, seconds. */
  readerCommitLag: 'cdc_reader_source_to_kafka_lag_seconds',
  /**
   * Histogram: Postgres commit → the reader's loop taking the transaction's COMMIT message, seconds: the part
   * of the source → Kafka lag spent before the reader could act (walsender, network, the loop's own backlog).
   */
  readerSourceToReceived: 'cdc_reader_source_to_received_seconds',
  /** Histogram: duration of one Kafka transaction (begin → commit), seconds. */
  readerKafkaTransactionDuration: 'cdc_reader_kafka_transaction_duration_seconds',
  /** Gauge: WAL bytes the slot retains (current WAL LSN − restart_lsn). */
  readerSlotRetainedWal: 'cdc_reader_slot_retained_wal_bytes',
  /** Gauge: current WAL LSN − confirmed_flush_lsn, bytes. */
  readerSlotConfirmedLag: 'cdc_reader_slot_confirmed_lag_bytes',
  /** Gauge 1/0: the slot exists and is usable (not lost/invalidated). */
  readerSlotHealthy: 'cdc_reader_slot_healthy',
  /** Gauge 1/0: the slot is being streamed by some walsender. */
  readerSlotActive: 'cdc_reader_slot_active',
  /** Gauge: last LSN acknowledged to Postgres (as a number; exact below 2^53). */
  readerAcknowledgedLsn: 'cdc_reader_acknowledged_lsn',
  /** Gauge: snapshot rows emitted / estimated rows; 1 when done. */
  readerSnapshotProgress: 'cdc_reader_snapshot_progress_ratio',
  /** Counter of snapshot rows emitted, by table. */
  readerSnapshotRows: 'cdc_reader_snapshot_rows_total',
  /** Gauge: bytes encoded and not yet taken by Kafka (reading pauses at the configured bound). */
  readerBufferedBytes: 'cdc_reader_buffered_bytes',
  /** Gauge 1/0: this process holds the shard's leadership (streams the slot); 0 while standing by. */
  readerLeader: 'cdc_reader_leader',
  /** Counter of schema registrations refused by the registry's compatibility rule, by table. */
  readerSchemaRefused: 'cdc_reader_schema_refused_total',
  /** Counter of heartbeats emitted into the WAL. */
  readerHeartbeats: 'cdc_reader_heartbeats_total',
  readerSignalsRefused: 'cdc_reader_signals_refused_total',

  // sinks (label `sink`; topic/partition where named)
  /** Counter of records consumed (change events and tombstones). */
  sinkConsumed: 'cdc_sink_consumed_total',
  /** Counter of change events whose effect was applied. */
  sinkApplied: 'cdc_sink_applied_total',
  /** Counter of events skipped because the sink already held a newer source position. */
  sinkSkippedStale: 'cdc_sink_skipped_stale_total',
  /** Counter of deliveries the receiving side recognised as duplicates (idempotency key / posting id). */
  sinkDeduplicated: 'cdc_sink_deduplicated_total',
  /**
   * Counter of change events not delivered on their own because a newer change of the same row, in the
   * same batch, carried the row's whole state (the WMS keeps the newest state per row).
   */
  sinkCoalesced: 'cdc_sink_coalesced_total',
  /** Counter of events sent to the dead-letter topic, by reason. */
  sinkDeadLettered: 'cdc_sink_dead_lettered_total',
  /** Counter of retried deliveries. */
  sinkRetries: 'cdc_sink_retries_total',
  /**
   * Counter of decode attempts that waited for the schema registry (down, 5xx, or not knowing a schema id
   * yet); the records are held, never dead-lettered, while it grows.
   */
  sinkRegistryWaits: 'cdc_sink_registry_waits_total',
  /** Gauge: circuit breaker state, 0 closed, 1 half-open, 2 open. */
  sinkCircuitState: 'cdc_sink_circuit_state',
  /** Histogram: source commit (source.commitTs) → effect applied, seconds. */
  sinkCommitToApplied: 'cdc_sink_commit_to_applied_seconds',
  /** Gauge per topic/partition: messages between the last processed offset and the high watermark. */
  sinkLagMessages: 'cdc_sink_consumer_lag_messages',
  /** Gauge per topic/partition: now − source commit time of the last processed event, seconds. */
  sinkLagSeconds: 'cdc_sink_consumer_lag_seconds',

  // shadow audit (label `sink`; `shard` where named)
  /** Gauge: rows found drifting from Postgres (still after a grace period) in the audit's last full pass. */
  reconcileDriftRows: 'cdc_reconcile_drift_rows',
  /** Counter of rows compared with Postgres at the audit's position. */
  reconcileComparedRows: 'cdc_reconcile_compared_rows_total',
  /** Counter of drifting rows repaired (written at the audit's position where it was still the newer). */
  reconcileRepairedRows: 'cdc_reconcile_repaired_rows_total',
  /** Gauge per shard: commit LSN (as a number) of the snapshot the audit last compared at. */
  reconcileAuditLsn: 'cdc_reconcile_audit_lsn',
  /** Gauge: Unix time the audit last completed a full pass over every shard, seconds. */
  reconcileLastPass: 'cdc_reconcile_last_pass_timestamp_seconds',
} as const;

/**
 * Buckets of the fleet's latency histograms: fine below a second, where the flash-sale targets lie, and
 * between 1 and 2.5 s, where the ERP's posting window (1 s by default) puts its changes: with nothing
 * between 1 and 2.5 s, a p99 read off the histogram is interpolated across that whole bucket.
 */
export const latencyBucketsSeconds = [
  0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 5, 10, 30, 60,
];

export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];
