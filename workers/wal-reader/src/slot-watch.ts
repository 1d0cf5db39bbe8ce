import { HaltError, slotLag, type Logger, type Readiness } from '@inventory-cdc/shared';
import type { Client } from 'pg';
import type { ReaderConfig } from './reader-config';
import type { ReaderMetrics } from './reader-metrics';

/**
 * Watches the slot while streaming: retained WAL and confirmed lag as gauges, a lost or dropped slot as a
 * halt (never a silent restart from "now"), and acknowledgements advancing as readiness. It also writes
 * the heartbeat into the WAL, so an idle shard's slot keeps moving while the database's other tables or
 * other databases of the server produce WAL.
 */
export class SlotWatch {
  private timers: NodeJS.Timeout[] = [];
  private lastAckAt = Date.now();
  private heartbeatWarned = false;

  constructor(
    private readonly client: Client,
    private readonly slot: string,
    private readonly config: ReaderConfig,
    private readonly metrics: ReaderMetrics,
    private readonly readiness: Readiness,
    private readonly logger: Logger,
    private readonly heartbeatPrefix: string,
  ) {}

  noteAcknowledged(): void {
    this.lastAckAt = Date.now();
  }

  /** Starts the timers; the promise rejects when the slot is lost. */
  start(): Promise<never> {
    return new Promise<never>((_, reject) => {
      this.timers.push(setInterval(() => void this.check().catch(reject), this.config.slotMonitor.intervalMs));
      if (this.config.heartbeat.intervalMs > 0)
        this.timers.push(setInterval(() => void this.heartbeat(), this.config.heartbeat.intervalMs));
      void this.check().catch(reject);
    });
  }

  stop(): void {
    this.timers.forEach(clearInterval);
    this.timers = [];
  }

  private async check(): Promise<void> {
    const shard = this.metrics.shard;
    const lag = await slotLag(this.client, this.slot);
    if (!lag || lag.walStatus === 'lost') {
      this.metrics.slotHealthy.set({ shard }, 0);
      throw new HaltError(
        'slot_lost',
        `replication slot ${this.slot} was ${lag ? 'invalidated (wal_status lost)' : 'dropped'} while streaming`,
        're-snapshot the shard (fleet slots reset)',
      );
    }
    this.metrics.slotHealthy.set({ shard }, 1);
    this.metrics.slotActive.set({ shard }, lag.active ? 1 : 0);
    this.metrics.slotRetainedWal.set({ shard }, lag.retainedBytes);
    this.metrics.slotConfirmedLag.set({ shard }, lag.confirmedLagBytes);
    // With heartbeats on, an idle slot is acknowledged at least once per heartbeat; a longer silence while
    // WAL accumulates means acknowledgements are stuck.
    const patienceMs = Math.max(30_000, 3 * this.config.heartbeat.intervalMs);
    const stuck = Date.now() - this.lastAckAt > patienceMs && lag.confirmedLagBytes > 0;
    this.readiness.set(
      'acknowledgements',
      !stuck,
      stuck ? `no acknowledgement for ${Math.round((Date.now() - this.lastAckAt) / 1000)} s` : 'advancing',
    );
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.client.query('select pg_logical_emit_message(false, $1, now()::text)', [this.heartbeatPrefix]);
      this.metrics.heartbeats.inc({ shard: this.metrics.shard });
    } catch (error) {
      // e.g. on a read replica, where emitting WAL is impossible: status updates alone must do.
      if (!this.heartbeatWarned) this.logger.warn({ err: error }, 'heartbeat message failed; relying on status updates');
      this.heartbeatWarned = true;
    }
  }
}
