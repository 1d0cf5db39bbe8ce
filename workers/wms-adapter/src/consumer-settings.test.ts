import type { Consumer, ConsumerConfig, EachBatchPayload, Kafka } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { heartbeatDuring, withConsumerSettings } from './consumer-settings';

describe('heartbeatDuring', () => {
  it('heartbeats while a long batch runs, and stops when it ends', async () => {
    let beats = 0;
    const payload = { heartbeat: async () => void beats++ } as unknown as EachBatchPayload;
    await heartbeatDuring(() => sleep(120), 20)(payload);
    const during = beats;
    await sleep(60);
    expect(during).toBeGreaterThanOrEqual(3);
    expect(beats).toBe(during);
  });

  it('keeps going when a heartbeat fails (a rebalance has begun) and passes the batch’s error on', async () => {
    const payload = { heartbeat: () => Promise.reject(new Error('rebalancing')) } as unknown as EachBatchPayload;
    await expect(heartbeatDuring(() => sleep(50).then(() => Promise.reject(new Error('batch failed'))), 10)(payload)).rejects.toThrow(
      'batch failed',
    );
  });
});

describe('withConsumerSettings', () => {
  it('creates consumers with the fetch size, the caller’s config winning, and heartbeats in their batches', async () => {
    const created: ConsumerConfig[] = [];
    let handler: ((payload: EachBatchPayload) => Promise<void>) | undefined;
    const kafka = {
      consumer: (config: ConsumerConfig) => {
        created.push(config);
        return { run: async (run: { eachBatch: typeof handler }) => void (handler = run.eachBatch) } as unknown as Consumer;
      },
    } as unknown as Kafka;
    const consumer = withConsumerSettings(kafka, { heartbeatIntervalMs: 10, maxBytesPerPartition: 4_096 }).consumer({
      groupId: 'g',
      sessionTimeout: 7_000,
    });
    expect(created).toEqual([{ groupId: 'g', sessionTimeout: 7_000, maxBytesPerPartition: 4_096 }]);

    await consumer.run({ eachBatch: () => sleep(60) });
    let beats = 0;
    await handler!({ heartbeat: async () => void beats++ } as unknown as EachBatchPayload);
    expect(beats).toBeGreaterThanOrEqual(2);
  });
});
