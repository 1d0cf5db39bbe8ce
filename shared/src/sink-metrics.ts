import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricNames, latencyBucketsSeconds } from './metric-names';
import type { FleetMetrics } from './metrics-registry';

export type CircuitState = 'closed' | 'half-open' | 'open';
const circuitValues: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** Metrics every sink reports, registered once on the worker's registry, labelled with the sink's name. */
export class SinkMetrics {
  readonly consumed: Counter<'sink'>;
  readonly applied: Counter<'sink'>;
  readonly skippedStale: Counter<'sink'>;
  readonly deduplicated: Counter<'sink'>;
  readonly coalesced: Counter<'sink'>;
  readonly deadLettered: Counter<'sink' | 'reason'>;
  readonly retries: Counter<'sink'>;
  readonly registryWaits: Counter<'sink'>;
  readonly circuit: Gauge<'sink'>;
  readonly commitToApplied: Histogram<'sink'>;
  readonly lagMessages: Gauge<'sink' | 'topic' | 'partition'>;
  readonly lagSeconds: Gauge<'sink' | 'topic' | 'partition'>;

  constructor(
    fleet: FleetMetrics,
    readonly sink: string,
  ) {
    const registers = [fleet.registry];
    const labelNames = ['sink'] as const;
    this.consumed = new Counter({ name: MetricNames.sinkConsumed, help: 'Records consumed', labelNames, registers });
    this.applied = new Counter({ name: MetricNames.sinkApplied, help: 'Change events applied', labelNames, registers });
    this.skippedStale = new Counter({
      name: MetricNames.sinkSkippedStale,
      help: 'Events older than the stored position',
      labelNames,
      registers,
    });
    this.deduplicated = new Counter({
      name: MetricNames.sinkDeduplicated,
      help: 'Deliveries recognised as duplicates',
      labelNames,
      registers,
    });
    this.coalesced = new Counter({
      name: MetricNames.sinkCoalesced,
      help: 'Events carried by a newer change of the same row in the same batch',
      labelNames,
      registers,
    });
    this.deadLettered = new Counter({
      name: MetricNames.sinkDeadLettered,
      help: 'Events sent to the dead-letter topic',
      labelNames: ['sink', 'reason'],
      registers,
    });
    this.retries = new Counter({ name: MetricNames.sinkRetries, help: 'Retried deliveries', labelNames, registers });
    this.registryWaits = new Counter({
      name: MetricNames.sinkRegistryWaits,
      help: 'Decode attempts that waited for the schema registry',
      labelNames,
      registers,
    });
    this.circuit = new Gauge({
      name: MetricNames.sinkCircuitState,
      help: 'Circuit breaker: 0 closed, 1 half-open, 2 open',
      labelNames,
      registers,
    });
    this.commitToApplied = new Histogram({
      name: MetricNames.sinkCommitToApplied,
      help: 'Source commit to effect applied',
      labelNames,
      buckets: latencyBucketsSeconds,
      registers,
    });
    this.lagMessages = new Gauge({
      name: MetricNames.sinkLagMessages,
      help: 'Messages behind the high watermark',
      labelNames: ['sink', 'topic', 'partition'],
      registers,
    });
    this.lagSeconds = new Gauge({
      name: MetricNames.sinkLagSeconds,
      help: 'Now minus the last processed event’s commit time',
      labelNames: ['sink', 'topic', 'partition'],
      registers,
    });
    for (const counter of [
      this.consumed,
      this.applied,
      this.skippedStale,
      this.deduplicated,
      this.coalesced,
      this.retries,
      this.registryWaits,
    ])
      counter.inc({ sink }, 0);
    this.circuit.set({ sink }, 0);
  }

  setCircuit(state: CircuitState): void {
    this.circuit.set({ sink: this.sink }, circuitValues[state]);
  }

  /** Observes commit → applied for an event whose source commit time is `commitTsMicros`. */
  observeApplied(commitTsMicros: bigint, count = 1): void {
    this.applied.inc({ sink: this.sink }, count);
    const seconds = (Date.now() * 1000 - Number(commitTsMicros)) / 1e6;
    for (let i = 0; i < count; i++) this.commitToApplied.observe({ sink: this.sink }, Math.max(0, seconds));
  }

  /**
   * Observes an event whose state a newer change of its row carried (see `coalesced`): its commit → applied
   * is when that newer change was applied, for the event's effect became visible then.
   */
  observeCoalesced(commitTsMicros: bigint, applied: boolean): void {
    this.coalesced.inc({ sink: this.sink });
    if (!applied) return;
    const seconds = (Date.now() * 1000 - Number(commitTsMicros)) / 1e6;
    this.commitToApplied.observe({ sink: this.sink }, Math.max(0, seconds));
  }
}
