import { setTimeout as sleep } from 'node:timers/promises';
import { heartbeatWhile } from './change-consumer';
import { dlqTopicOf, sinkGroupIdOf } from './sink-config';

describe('heartbeatWhile', () => {
  it('heartbeats while a long batch runs, and stops when it ends', async () => {
    let beats = 0;
    expect(
      await heartbeatWhile(
        () => sleep(120).then(() => 'done'),
        () => Promise.resolve(void beats++),
        20,
      ),
    ).toBe('done');
    const during = beats;
    await sleep(60);
    expect(during).toBeGreaterThanOrEqual(3);
    expect(beats).toBe(during);
  });

  it('keeps going when a heartbeat fails (a rebalance has begun) and passes the batch’s error on', async () => {
    await expect(
      heartbeatWhile(
        () => sleep(50).then(() => Promise.reject(new Error('batch failed'))),
        () => Promise.reject(new Error('rebalancing')),
        10,
      ),
    ).rejects.toThrow('batch failed');
  });
});

describe('sink naming', () => {
  const topics = { prefix: 'inventory', stockSchema: 'inventory' };

  it('puts dead letters on <prefix>.dlq.<sink>, or under the configured dead-letter prefix', () => {
    expect(dlqTopicOf(topics, 'wms-adapter')).toBe('inventory.dlq.wms-adapter');
    expect(dlqTopicOf({ ...topics, dlqPrefix: 'ops' }, 'wms-adapter')).toBe('ops.dlq.wms-adapter');
  });

  it('names the group <prefix>.<sink> unless one is configured', () => {
    expect(sinkGroupIdOf({ topics, consumer: {} }, 'redis-cache')).toBe('inventory.redis-cache');
    expect(sinkGroupIdOf({ topics, consumer: { groupId: 'g' } }, 'redis-cache')).toBe('g');
  });
});
