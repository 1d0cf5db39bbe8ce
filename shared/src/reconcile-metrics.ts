import { Counter, Gauge } from 'prom-client';
import { MetricNames } from './metric-names';
import type { FleetMetrics } from './metrics-registry';

/** Metrics of a shadow audit comparing a sink's copy of the stock with Postgres, labelled with the sink. */
export class ReconcileMetrics {
  readonly driftRows: Gauge<'sink'>;
  readonly comparedRows: Counter<'sink'>;
  readonly repairedRows: Counter<'sink'>;
  readonly auditLsn: Gauge<'sink' | 'shard'>;
  readonly lastPass: Gauge<'sink'>;

  constructor(
    fleet: FleetMetrics,
    readonly sink: string,
  ) {
    const registers = [fleet.registry];
    const labelNames = ['sink'] as const;
    this.driftRows = new Gauge({
      name: MetricNames.reconcileDriftRows,
      help: 'Rows drifting from Postgres in the last audit pass',
      labelNames,
      registers,
    });
    this.comparedRows = new Counter({
      name: MetricNames.reconcileComparedRows,
      help: 'Rows compared with Postgres',
      labelNames,
      registers,
    });
    this.repairedRows = new Counter({ name: MetricNames.reconcileRepairedRows, help: 'Drifting rows repaired', labelNames, registers });
    this.auditLsn = new Gauge({
      name: MetricNames.reconcileAuditLsn,
      help: 'Commit LSN of the snapshot the audit last compared at',
      labelNames: ['sink', 'shard'],
      registers,
    });
    this.lastPass = new Gauge({
      name: MetricNames.reconcileLastPass,
      help: 'Unix time of the last full audit pass',
      labelNames,
      registers,
    });
    this.driftRows.set({ sink }, 0);
    this.comparedRows.inc({ sink }, 0);
    this.repairedRows.inc({ sink }, 0);
    this.lastPass.set({ sink }, 0);
  }
}
