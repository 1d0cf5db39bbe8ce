import { dispositionOf, type ChangeSink, type ConsumedChange, type DeadLetter, type Logger, type SinkMetrics } from '@inventory-cdc/shared';
import { forEachBounded, lanesBySku } from './sku-lanes';
import { wmsCallOf, wmsTruncateCallOf, type WmsCall } from './wms-call';
import type { WmsDelivery } from './wms-delivery';

interface PendingCall {
  change: ConsumedChange;
  call: WmsCall;
}

/**
 * Sends a partition's stock changes to the WMS, one call per change event.
 *
 * Order: the batch is split into SKU lanes; a lane's calls go out strictly one after another in offset
 * order (a row's changes are in one partition, so this keeps every row's order), and up to
 * `maxConcurrentSkus` lanes run at once. A dead-lettered event does not stop its lane: the next change
 * carries the row's complete state anyway.
 *
 * Idempotence: the WMS dedupes on the idempotency key (`wms-<source position>`), and the consumer commits
 * the partition's offset only after `apply` returns. A crash, rebalance or replay re-sends some events,
 * which the WMS answers as duplicates (counted, not applied twice).
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

  private async deliverLanes(pending: PendingCall[], signal: AbortSignal, letters: DeadLetter[]): Promise<void> {
    const lanes = lanesBySku(pending, (entry) => entry.call.change.sku);
    await forEachBounded(lanes, this.maxConcurrentSkus, async (lane) => {
      for (const entry of lane) {
        const letter = await this.deliver(entry, signal);
        if (letter) letters.push(letter);
      }
    });
  }

  private async deliver({ change, call }: PendingCall, signal: AbortSignal): Promise<DeadLetter | undefined> {
    const outcome = await this.delivery.deliver(call, signal);
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
          },
          'WMS call undeliverable: dead-lettering the event',
        );
        return { record: change, reason: outcome.reason, detail: outcome.detail };
    }
  }
}
