import { entryOf, replayMessageOf, type RawRecord } from './dead-letter-entry';

const record: RawRecord = {
  partition: 0,
  offset: '7',
  key: Buffer.from('k'),
  value: Buffer.from('v'),
  headers: {
    'dlq.reason': Buffer.from('retries-exhausted'),
    'dlq.detail': Buffer.from('503 Service Unavailable'),
    'dlq.source.topic': Buffer.from('inventory.inventory.stock'),
    'dlq.source.partition': Buffer.from('3'),
    'dlq.source.offset': Buffer.from('1234'),
    'dlq.at': Buffer.from('2026-11-26T01:00:00.000Z'),
    traceparent: Buffer.from('00-abc-def-01'),
  },
};

describe('dead-letter records', () => {
  it('shows the reason, the detail and where the original record was', () => {
    expect(entryOf(record, 'key', false)).toEqual({
      partition: 0,
      offset: '7',
      reason: 'retries-exhausted',
      detail: '503 Service Unavailable',
      source: { topic: 'inventory.inventory.stock', partition: 3, offset: '1234' },
      at: '2026-11-26T01:00:00.000Z',
      key: 'key',
      replayed: false,
    });
  });

  it('replays the original key, value and headers to the original topic, without the dead-letter headers', () => {
    const { topic, message } = replayMessageOf(record, 'inventory.dlq.wms-adapter');
    expect(topic).toBe('inventory.inventory.stock');
    expect(message.key).toEqual(Buffer.from('k'));
    expect(message.value).toEqual(Buffer.from('v'));
    expect(Object.keys(message.headers).sort()).toEqual(['fleet.replayed-from', 'traceparent']);
    expect(message.headers['fleet.replayed-from']).toBe('inventory.dlq.wms-adapter:0:7');
  });

  it('refuses to replay a record that does not say where it came from', () => {
    expect(() => replayMessageOf({ ...record, headers: {} }, 'inventory.dlq.wms-adapter')).toThrow(/no dlq.source.topic header/);
    expect(entryOf({ ...record, headers: {} }, null, false)).toMatchObject({ reason: 'unknown', source: null });
  });
});
