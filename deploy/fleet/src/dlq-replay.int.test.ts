import { createKafka, createLogger, ensureTopics } from '@inventory-cdc/shared';
import { testStackEndpoints, uniqueName } from '@inventory-cdc/shared/testing';
import type { Kafka } from 'kafkajs';
import { listDeadLetters, replayDeadLetters } from './dlq-commands';
import type { FleetSink } from './fleet-config';
import { readRanges } from './topic-range-reader';

describe('fleet dlq replay --all', () => {
  let kafka: Kafka;

  beforeAll(() => {
    kafka = createKafka(
      { brokers: testStackEndpoints().kafkaBrokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
      'dlq-replay-test',
      createLogger({ service: 'dlq-replay-test', level: 'silent' }),
    );
  });

  it('re-sends every pending dead letter exactly once, across partitions, and the ledger marks exactly those', async () => {
    const prefix = uniqueName('dlq_replay');
    const sink: FleetSink = { name: 'wms-adapter', groupId: `${prefix}.wms-adapter`, topics: [], dlqTopic: `${prefix}.dlq.wms-adapter` };
    const target = `${prefix}.target`;
    await ensureTopics(kafka, [
      { topic: sink.dlqTopic, numPartitions: 2 },
      { topic: target, numPartitions: 1 },
    ]);
    const producer = kafka.producer();
    await producer.connect();
    const plant = (names: string[], partition: number) =>
      producer.send({
        topic: sink.dlqTopic,
        messages: names.map((name) => ({
          partition,
          key: Buffer.from(`key-${name}`),
          value: Buffer.from(`value-${name}`),
          headers: { 'dlq.reason': 'rejected', 'dlq.detail': name, 'dlq.source.topic': target, 'dlq.source.partition': '0' },
        })),
      });
    // Given 5 letters in partition 0 and 2 in partition 1, one of them already replayed by offset.
    await plant(['a', 'b', 'c', 'd', 'e'], 0);
    await plant(['f', 'g'], 1);
    await producer.disconnect();
    const single = await replayDeadLetters(kafka, sink, { kind: 'offset', partition: 0, offset: 2n });

    // When everything is replayed, twice.
    const all = await replayDeadLetters(kafka, sink, { kind: 'all' });
    const again = await replayDeadLetters(kafka, sink, { kind: 'all' });

    // Then each letter reached its topic exactly once, and the ledger says so.
    expect(single.replayed.map((entry) => entry.offset)).toEqual(['2']);
    expect(all.replayed.map(({ partition, offset }) => `${partition}@${offset}`)).toEqual(['0@0', '0@1', '0@3', '0@4', '1@0', '1@1']);
    expect(again.replayed).toEqual([]);
    const republished = await readRanges(kafka, target, [{ partition: 0, from: 0n, to: 100n }], 15_000);
    expect(republished.map((record) => record.value?.toString()).sort()).toEqual(
      ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((name) => `value-${name}`),
    );
    const listed = await listDeadLetters(kafka, sink, 10);
    expect(listed).toHaveLength(7);
    expect(listed.every((entry) => entry.replayed)).toBe(true);
  });

  it('re-sends a source record dead-lettered twice (a sink crashed between its letters and its effect) once', async () => {
    const prefix = uniqueName('dlq_twice');
    const sink: FleetSink = { name: 'redis-cache', groupId: `${prefix}.redis-cache`, topics: [], dlqTopic: `${prefix}.dlq.redis-cache` };
    const target = `${prefix}.target`;
    await ensureTopics(kafka, [
      { topic: sink.dlqTopic, numPartitions: 1 },
      { topic: target, numPartitions: 1 },
    ]);
    const producer = kafka.producer();
    await producer.connect();
    const letter = (name: string, sourceOffset: string) => ({
      key: Buffer.from(`key-${name}`),
      value: Buffer.from(`value-${name}`),
      headers: { 'dlq.reason': 'malformed', 'dlq.source.topic': target, 'dlq.source.partition': '0', 'dlq.source.offset': sourceOffset },
    });
    await producer.send({ topic: sink.dlqTopic, messages: [letter('a', '7'), letter('b', '9'), letter('a', '7')] });
    await producer.disconnect();

    const all = await replayDeadLetters(kafka, sink, { kind: 'all' });

    expect(all.replayed.map(({ offset }) => offset)).toEqual(['0', '1']);
    expect(all.duplicates).toEqual([{ partition: 0, offset: '2', of: '0@0' }]);
    const republished = await readRanges(kafka, target, [{ partition: 0, from: 0n, to: 100n }], 15_000);
    expect(republished.map((record) => record.value?.toString())).toEqual(['value-a', 'value-b']);
    expect((await listDeadLetters(kafka, sink, 10)).every((entry) => entry.replayed)).toBe(true);
  });

  it('reads any number of ranges of one partition', async () => {
    const topic = uniqueName('ranges');
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 8 }, (_, index) => ({ value: `v${index}` })) });
    await producer.disconnect();

    const records = await readRanges(kafka, topic, [
      { partition: 0, from: 1n, to: 2n },
      { partition: 0, from: 4n, to: 6n },
      { partition: 0, from: 7n, to: 8n },
    ]);

    expect(records.map((record) => record.value?.toString())).toEqual(['v1', 'v4', 'v5', 'v7']);
  });
});
