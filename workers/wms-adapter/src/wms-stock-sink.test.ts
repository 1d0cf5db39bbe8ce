import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, FleetMetrics, SinkMetrics, type ChangeEnvelope, type ConsumedChange } from '@inventory-cdc/shared';
import type { WmsAnyCall, WmsCall } from './wms-call';
import type { DeliveryOutcome } from './wms-delivery';
import { WmsStockSink } from './wms-stock-sink';

let offset = 0;
/** A stock update of `sku` in `warehouse` at the next offset (and position). */
function update(sku: string, onHand = 5, warehouse = 'WH-A'): ConsumedChange {
  offset++;
  const positionText = `0000:0000000000000010:${offset.toString(16).padStart(8, '0')}`;
  const envelope = {
    before: null,
    after: { sku, warehouse, on_hand: onHand, reserved: 0 },
    op: 'u',
    source: {
      shard: 0,
      database: 'd',
      schema: 's',
      table: 'stock',
      lsn: 16n,
      txId: 1n,
      commitTs: BigInt(Date.now() - 100) * 1000n,
      snapshot: false,
      seq: BigInt(offset),
    },
    unchangedToast: [],
    tsMs: 0n,
  } as ChangeEnvelope;
  return {
    topic: 't',
    partition: 0,
    offset: String(offset),
    key: null,
    envelope,
    position: null,
    positionText,
    rawKey: null,
    rawValue: null,
  };
}

/** A delivery that records the order of calls per SKU and the peak of SKUs in flight at once. */
function recordingDelivery(outcomeOf: (call: WmsCall) => DeliveryOutcome = () => ({ kind: 'applied' })) {
  const order: string[] = [];
  const inFlight = new Set<string>();
  let peak = 0;
  return {
    order,
    peak: () => peak,
    deliver: async (call: WmsCall): Promise<DeliveryOutcome> => {
      if (inFlight.has(call.change.sku)) throw new Error(`two calls of ${call.change.sku} at once`);
      inFlight.add(call.change.sku);
      peak = Math.max(peak, inFlight.size);
      await sleep(1 + Math.floor(Math.random() * 3));
      order.push(`${call.change.sku}@${call.change.position.slice(-2)}`);
      inFlight.delete(call.change.sku);
      return outcomeOf(call);
    },
  };
}

function sinkWith(delivery: ReturnType<typeof recordingDelivery>, maxConcurrentSkus = 4) {
  const metrics = new SinkMetrics(new FleetMetrics('test'), 'wms-adapter');
  return { sink: new WmsStockSink(delivery, metrics, createLogger({ service: 'test', level: 'silent' }), maxConcurrentSkus), metrics };
}

const never = new AbortController().signal;

describe('WmsStockSink', () => {
  it('sends only the newest change of each row, one SKU’s rows one after another, at most maxConcurrentSkus SKUs at once', async () => {
    const delivery = recordingDelivery();
    const { sink, metrics } = sinkWith(delivery, 3);
    const skus = ['A', 'B', 'C', 'D', 'E', 'F'];
    const batch = Array.from({ length: 60 }, (_, i) => update(skus[i % skus.length]!, i, i % 12 < 6 ? 'WH-A' : 'WH-B'));
    await expect(sink.apply(batch, never)).resolves.toEqual([]);
    expect(delivery.peak()).toBe(3);
    const newest = skus.flatMap((sku) =>
      ['WH-A', 'WH-B'].map((warehouse) =>
        batch.findLast((c) => c.envelope!.after!.sku === sku && c.envelope!.after!.warehouse === warehouse)!,
      ),
    );
    expect([...delivery.order].sort()).toEqual(
      newest.map((change) => `${String(change.envelope!.after!.sku)}@${change.positionText!.slice(-2)}`).sort(),
    );
    expect((await metrics.applied.get()).values[0]?.value).toBe(12);
    expect((await metrics.coalesced.get()).values[0]?.value).toBe(48);
    // Every event's commit → applied is observed: the sent ones and those their row's newer change carried.
    const histogram = await metrics.commitToApplied.get();
    expect(histogram.values.find((value) => value.metricName?.endsWith('_count'))?.value).toBe(60);
  });

  it('sends the row’s newest state under the newest change’s idempotency key', async () => {
    const sent: WmsCall[] = [];
    const { sink } = sinkWith({
      ...recordingDelivery(),
      deliver: (call: WmsCall) => Promise.resolve((sent.push(call), { kind: 'applied' as const })),
    });
    const batch = [update('A', 1), update('A', 2), update('A', 3)];
    await sink.apply(batch, never);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      idempotencyKey: `wms-${batch[2]!.positionText}`,
      change: { onHand: 3, position: batch[2]!.positionText },
    });
  });

  it('dead-letters only the newest change of an undeliverable row; other rows carry on', async () => {
    const batch = [update('A', 1), update('A', 2), update('B', 3), update('A', 4)];
    const rejected = batch[3]!.positionText!;
    const delivery = recordingDelivery((call) =>
      call.change.position === rejected
        ? { kind: 'dead-letter', reason: 'rejected', detail: 'HTTP 400: {"error":"sku rejected"}' }
        : { kind: 'applied' },
    );
    const { sink, metrics } = sinkWith(delivery);
    const letters = await sink.apply(batch, never);
    expect(letters).toEqual([{ record: batch[3], reason: 'rejected', detail: 'HTTP 400: {"error":"sku rejected"}' }]);
    expect(delivery.order).toHaveLength(2);
    expect((await metrics.applied.get()).values[0]?.value).toBe(1);
  });

  it('counts duplicates apart from applied events', async () => {
    const { sink, metrics } = sinkWith(recordingDelivery(() => ({ kind: 'duplicate' })));
    await sink.apply([update('A'), update('B')], never);
    expect((await metrics.deduplicated.get()).values[0]?.value).toBe(2);
    expect((await metrics.applied.get()).values[0]?.value).toBe(0);
  });

  it('dead-letters a malformed stock event as malformed and skips tombstones', async () => {
    const broken = update('A');
    broken.envelope!.after = { warehouse: 'WH-A', on_hand: 1, reserved: 0 };
    const tombstone = { ...update('A'), envelope: null, positionText: null };
    const delivery = recordingDelivery();
    const { sink } = sinkWith(delivery);
    const letters = await sink.apply([broken, tombstone, update('B')], never);
    expect(letters.map((letter) => letter.reason)).toEqual(['malformed']);
    expect(delivery.order).toHaveLength(1);
  });

  it('fails the batch (for the consumer to retry) when a delivery throws, after the running SKUs finish', async () => {
    const delivery = recordingDelivery();
    const failing = {
      ...delivery,
      deliver: async (call: WmsCall): Promise<DeliveryOutcome> => {
        if (call.change.sku === 'B') throw new Error('stopping');
        return delivery.deliver(call);
      },
    };
    const { sink } = sinkWith(failing, 2);
    await expect(sink.apply([update('A'), update('B'), update('A', 5, 'WH-B')], never)).rejects.toThrow('stopping');
    expect(delivery.order.filter((entry) => entry.startsWith('A@'))).toHaveLength(2);
  });

  it('sends a TRUNCATE after every change before it and before every change after it', async () => {
    const truncate = update('A');
    truncate.envelope = { ...truncate.envelope!, op: 't', before: null, after: null };
    const batch = [update('A'), update('B'), truncate, update('A'), update('C')];
    const order: string[] = [];
    const delivery = {
      deliver: async (call: WmsAnyCall): Promise<DeliveryOutcome> => {
        await sleep(1 + Math.floor(Math.random() * 3));
        order.push(
          'truncation' in call ? `truncate@${call.truncation.position.slice(-2)}` : `${call.change.sku}@${call.change.position.slice(-2)}`,
        );
        return { kind: 'applied' };
      },
    };
    const sink = new WmsStockSink(
      delivery,
      new SinkMetrics(new FleetMetrics('test'), 'wms-adapter'),
      createLogger({ service: 'test', level: 'silent' }),
      4,
    );
    await expect(sink.apply(batch, never)).resolves.toEqual([]);
    const at = (change: ConsumedChange): string => change.positionText!.slice(-2);
    expect(order.slice(0, 2).sort()).toEqual([`A@${at(batch[0]!)}`, `B@${at(batch[1]!)}`]);
    expect(order[2]).toBe(`truncate@${at(truncate)}`);
    expect(order.slice(3).sort()).toEqual([`A@${at(batch[3]!)}`, `C@${at(batch[4]!)}`]);
  });
});
