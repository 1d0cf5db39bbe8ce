import {
  asEnvelope,
  createChangeCodec,
  createKafka,
  createLogger,
  encodePosition,
  positionOf,
  schemaFingerprintOf,
  schemaHeaders,
} from '@inventory-cdc/shared';
import { uniqueName } from '@inventory-cdc/shared/testing';
import { setTimeout as sleep } from 'node:timers/promises';

/** A source position found at more than one place of a change topic: a change written twice. */
export interface DoubledChange {
  position: string;
  offsets: string[];
}

/** A partition whose high watermark is above its last stable offset: a transaction is open on it. */
export interface OpenTransaction {
  partition: number;
  lastStableOffset: number;
  highWatermark: number;
}

/**
 * Reads a change topic from the start, as sinks do (read_committed), and answers every source position
 * that occurs in more than one record. Exactly-once into Kafka means none: Redis and the WMS would hide a
 * doubled change (newer-wins, idempotency keys), the ERP's deltas would book it twice. Also answers the
 * partitions where a transaction is still open (the fetches' high watermark above the last stable offset
 * listed first): read_committed consumers stop there until Kafka completes it.
 */
export async function doubledChanges(
  brokers: string[],
  registryUrl: string,
  prefix: string,
  topic: string,
): Promise<{ changes: number; doubled: DoubledChange[]; open: OpenTransaction[] }> {
  const logger = createLogger({ service: 'fault-matrix', level: 'warn' });
  const kafka = createKafka({ brokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 }, 'fault-matrix-audit', logger);
  const codec = createChangeCodec({ url: registryUrl, compatibility: 'BACKWARD' }, kafka, prefix, logger);
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => [partition, Number(high)]));
  await admin.disconnect();

  const seen = new Map<string, string[]>();
  const highWatermarks = new Map<number, number>();
  const reached = new Set<number>([...ends].filter(([, high]) => high === 0).map(([partition]) => partition));
  const consumer = kafka.consumer({ groupId: uniqueName('fault_matrix_audit'), readUncommitted: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          if (!message.value) continue;
          const position = encodePosition(
            positionOf(
              asEnvelope(await codec.deserialize(topic, 'value', message.value, schemaFingerprintOf(message.headers, schemaHeaders.value))),
            ),
          );
          seen.set(position, [...(seen.get(position) ?? []), `${batch.partition}@${message.offset}`]);
        }
        highWatermarks.set(batch.partition, Math.max(highWatermarks.get(batch.partition) ?? 0, Number(batch.highWatermark)));
        // The last offset may be a transaction marker, which read_committed never hands out.
        if (Number(batch.highWatermark) - Number(batch.lastOffset()) <= 2) reached.add(batch.partition);
      },
    });
    const deadline = Date.now() + 120_000;
    while (reached.size < ends.size && Date.now() < deadline) await sleep(200);
    if (reached.size < ends.size) throw new Error(`${topic} not read to its end within 120 s`);
  } finally {
    await consumer.disconnect();
    await codec.close();
  }
  const doubled = [...seen].filter(([, offsets]) => offsets.length > 1).map(([position, offsets]) => ({ position, offsets }));
  const open = [...highWatermarks]
    .filter(([partition, high]) => high > (ends.get(partition) ?? 0))
    .map(([partition, highWatermark]) => ({ partition, lastStableOffset: ends.get(partition) ?? 0, highWatermark }));
  return { changes: seen.size, doubled, open };
}
