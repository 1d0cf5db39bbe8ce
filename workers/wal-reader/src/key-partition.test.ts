import { randomBytes } from 'node:crypto';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { keyPartition, murmur2 } from './key-partition';

describe('keyPartition', () => {
  it("gives the Java client's murmur2 values (Kafka's own test vectors)", () => {
    const vectors: Array<[Buffer, number]> = [
      [Buffer.from('21'), -973932308],
      [Buffer.from('foobar'), -790332482],
      [Buffer.from('a-little-bit-long-string'), -985981536],
      [Buffer.from('a-little-bit-longer-string'), -1486304829],
      [Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
      [Buffer.from('abc'), 479470107],
    ];
    for (const [key, expected] of vectors) expect([key.toString(), murmur2(key)]).toEqual([key.toString(), expected]);
  });

  it("puts every key on the partition kafkajs's default partitioner picks", () => {
    const partitioner = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 12, 50]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 })) as PartitionMetadata[];
      for (let index = 0; index < 2_000; index++) {
        // Lengths 0–40 cover every remainder of the 4-byte blocks; Avro keys start with a zero magic byte.
        const key = randomBytes(index % 41);
        const expected = partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect(keyPartition(key, partitions)).toBe(expected);
      }
    }
  });
});
