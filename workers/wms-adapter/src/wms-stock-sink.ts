import {
  crashPoint,
  dispositionOf,
  type ChangeSink,
  type ConsumedChange,
  type DeadLetter,
  type Logger,
  type SinkMetrics,
} from '@inventory-cdc/shared';
import { coalesceByRow, type RowChanges } from './row-coalescing';
import { forEachBounded, lanesBySku } from './sku-lanes';
import { wmsCallOf, wmsTruncateCallOf, type WmsCall } from './wms-call';
import type { WmsDelivery } from './wms-delivery';

interface PendingCall {
  change: ConsumedChange;
  call: WmsCall;
}

/** Crash points (see shared crash-points.ts) at the instants the delivery must survive. */
export const wmsCrashPoints = { afterCall: 'wms-after-call' } as const;

/**
 * Sends a partition's stock changes to the WMS: per (SKU, warehouse) row, only the newest change of the
 * batch (`coalesceByRow`), for each call carries the row's whole state and the WMS keeps the newest
 * position per row. The older changes of the row are counted as coalesced.
 *
 * Order: the rows are split into SKU lanes; a lane's calls go out one after another and up to
 * `maxConcurrentSkus` lanes run at once. A row has one call per batch and batches of a partition follow
 * each other, so every row's calls reach the WMS in source order. A dead-lettered call does not stop its
 * lane: the row's next change carries its complete state anyway.
 *
 * Idempotence: the idempotency key is the sent change's own (`wms-<source position>`), so a change keeps
 * its key whichever batch it is sent from, and the consumer commits the partition's offset only after
 * `apply` returns, when every call has been answered. A crash re-fetches from that offset: a change sent
 * before comes back as a duplicate; a replayed batch cut shorter may send an older change of a row than
 * was applied before the crash, which the WMS keeps out of its stock (older position), and the newer
 * one follows in the next batch under its old key.
 */
export class WmsStockSink implements ChangeSink {
  constructor(
    private readonly delivery: Pick<WmsDelivery, 'deliver'>,
    private readonly metrics: SinkMetrics,
    private readonly logger: Logger,
    private readonly maxConcurrentSkus: number,
  ) {}

  async apply(changes: ConsumedChange[], signal: AbortSignal): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    let pending: PendingCall[] = [];
    for (const change of changes) {
      // A truncate waits for every change before it, and every change after it waits for the truncate.
      const truncate = wmsTruncateCallOf(change);
      if (truncate) {
        await this.deliverLanes(pending, signal, letters);
        pending = [];
        const outcome = await this.delivery.deliver(truncate, signal);
        if (outcome.kind === 'dead-letter') letters.push({ record: change, reason: outcome.reason, detail: outcome.detail });
        continue;
      }
      try {
        const call = wmsCallOf(change);
        if (call) pending.push({ change, call });
      } catch (error) {
        if (dispositionOf(error) !== 'poison') throw error;
        letters.push({ record: change, reason: 'malformed', detail: (error as Error).message });
      }
    }
    await this.deliverLanes(pending, signal, letters);
    return letters;
  }

  /** Delivers the newest change of each row (coalesced within what was fetched), rows of one SKU in order. */
  private async deliverLanes(pending: PendingCall[], signal: AbortSignal, letters: DeadLetter[]): Promise<void> {
    const rows = coalesceByRow(pending, ({ call }) => `${call.change.sku}\u0000${call.change.warehouse}`);
    const lanes = lanesBySku(rows, (row) => row.newest.call.change.sku);
    await forEachBounded(lanes, this.maxConcurrentSkus, async (lane) => {
      for (const row of lane) {
        const letter = await this.deliver(row, signal);
        if (letter) letters.push(letter);
        crashPoint(wmsCrashPoints.afterCall);
      }
    });
  }

  private async deliver(row: RowChanges<PendingCall>, signal: AbortSignal): Promise<DeadLetter | undefined> {
    const { change, call } = row.newest;
    const outcome = await this.delivery.deliver(call, signal);
    for (const older of row.superseded) this.metrics.observeCoalesced(older.call.commitTsMicros, outcome.kind === 'applied');
    switch (outcome.kind) {
      case 'applied':
        this.metrics.observeApplied(call.commitTsMicros);
        return undefined;
      case 'duplicate':
        this.metrics.deduplicated.inc({ sink: this.metrics.sink });
        return undefined;
      case 'dead-letter':
        this.logger.warn(
          {
            idempotencyKey: call.idempotencyKey,
            sku: call.change.sku,
            warehouse: call.change.warehouse,
            reason: outcome.reason,
            detail: outcome.detail,
            coalesced: row.superseded.length,
          },
          'WMS call undeliverable: dead-lettering the event',
        );
        // The newest change carries the row's state: replaying it from the dead-letter topic brings the
        // row up to date, so the superseded ones need no letter of their own.
        return { record: change, reason: outcome.reason, detail: outcome.detail };
    }
  }
}
