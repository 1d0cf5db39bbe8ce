import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { MetricNames } from './metric-names';
import { errorKindOf } from './errors';

/**
 * The process's one Prometheus registry with the process metrics (CPU, memory, event-loop lag) and the
 * metrics every worker has. Worker-specific metrics are registered on `registry` by their own modules.
 */
export class FleetMetrics {
  readonly registry = new Registry();
  readonly ready: Gauge;
  private readonly errors: Counter<'kind'>;

  constructor(service: string, version = '0.1.0') {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.ready = new Gauge({
      name: MetricNames.workerReady,
      help: 'Worker is connected and making progress (1) or not (0)',
      registers: [this.registry],
    });
    this.errors = new Counter({ name: MetricNames.errors, help: 'Errors by kind', labelNames: ['kind'], registers: [this.registry] });
    // A series from the start, so an error rate reads 0 (not "no data") on a worker that has had none.
    this.errors.inc({ kind: 'unclassified' }, 0);
    new Gauge({ name: MetricNames.buildInfo, help: 'Build information', labelNames: ['version'], registers: [this.registry] }).set(
      { version },
      1,
    );
  }

  /** Counts an error under its bounded kind (see errors.ts). */
  countError(error: unknown): void {
    this.errors.inc({ kind: errorKindOf(error) });
  }
}
