import { schemaFingerprintOf, schemaHeaders, type AvroCodec } from '@inventory-cdc/shared';
import type { Admin, Kafka } from 'kafkajs';
import { entryOf, headerText, replayMessageOf, type DeadLetterEntry, type RawRecord } from './dead-letter-entry';
import type { FleetSink } from './fleet-config';
import { OperationError } from './operation-error';
import { isReplayed, ledgerCommit, ledgerOf, pendingOffsets, withReplayed, type ReplayLedger } from './replay-ledger';
import { readRanges } from './topic-range-reader';

interface PartitionState {
  partition: number;
  low: bigint;
  high: bigint;
  ledger: ReplayLedger;
}

/** The group whose committed offsets on a dead-letter topic record what was replayed. */
export function replayGroupOf(sink: FleetSink): string {
  return `${sink.dlqTopic}.fleet-dlq-replay`;
}

/** The latest `limit` dead letters of each partition, oldest first, each marked replayed or not. */
export async function listDeadLetters(kafka: Kafka, sink: FleetSink, limit: number, codec?: AvroCodec): Promise<DeadLetterEntry[]> {
  const partitions = await partitionStates(kafka, sink);
  if (!partitions) return [];
  const ranges = partitions.map(({ partition, low, high }) => ({
    partition,
    from: high - BigInt(limit) > low ? high - BigInt(limit) : low,
    to: high,
  }));
  const records = await readRanges(kafka, sink.dlqTopic, ranges);
  const ledgers = new Map(partitions.map((state) => [state.partition, state.ledger]));
  return Promise.all(
    records.map(async (record) => {
      const key = record.key
        ? await keyOf(
            record.key,
            record.headers['dlq.source.topic']?.toString(),
            schemaFingerprintOf(record.headers, schemaHeaders.key),
            codec,
          )
        : null;
      return entryOf(record, key, isReplayed(ledgers.get(record.partition)!, BigInt(record.offset)));
    }),
  );
}

/** How many dead letters of the sink wait for a replay (none when its topic does not exist). */
export async function pendingDeadLetterCount(kafka: Kafka, sink: FleetSink): Promise<number> {
  const partitions = await partitionStates(kafka, sink);
  return (partitions ?? []).reduce((sum, state) => sum + pendingOffsets(state.ledger, state.low, state.high).length, 0);
}

export interface ReplayResult {
  sink: string;
  dlqTopic: string;
  replayed: { partition: number; offset: string; topic: string }[];
  /** Offsets asked for that an earlier replay already sent. */
  alreadyReplayed: { partition: number; offset: string }[];
  /**
   * Dead letters of the same source record as one replayed in this run (marked, not sent): a sink that
   * crashes after sending a batch's dead letters and before storing its progress sends them again.
   */
  duplicates?: { partition: number; offset: string; of: string }[];
}

/**
 * Publishes dead letters again to their original topic, exactly once per dead-letter offset: a transactional
 * producer sends the records and commits the replay ledger in one Kafka transaction. Its transactional id
 * is per dead-letter topic, so two replays of one sink at once fence each other instead of both sending.
 */
export async function replayDeadLetters(
  kafka: Kafka,
  sink: FleetSink,
  target: { kind: 'all' } | { kind: 'offset'; partition: number; offset: bigint },
): Promise<ReplayResult> {
  const producer = kafka.producer({ transactionalId: replayGroupOf(sink), idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    // Registers the transactional id: an earlier replay's unfinished transaction is settled before the
    // ledger is read, so what it marked is seen.
    await (await producer.transaction()).abort();
    const partitions = await partitionStates(kafka, sink);
    if (!partitions)
      throw new OperationError(`${sink.dlqTopic} does not exist`, `the ${sink.name} sink has not dead-lettered anything yet`);
    const result: ReplayResult = { sink: sink.name, dlqTopic: sink.dlqTopic, replayed: [], alreadyReplayed: [] };
    const plan = planReplay(partitions, target, result);
    const records = await readRanges(
      kafka,
      sink.dlqTopic,
      plan.flatMap(({ state, offsets }) => offsets.map((offset) => ({ partition: state.partition, from: offset, to: offset + 1n }))),
    );
    if (records.length === 0 && plan.every(({ offsets }) => offsets.length === 0)) return result;
    const messages = withoutDuplicates(records, result).map((record) => ({ record, ...replayMessageOf(record, sink.dlqTopic) }));
    const transaction = await producer.transaction();
    try {
      const byTopic = new Map<string, (typeof messages)[number]['message'][]>();
      for (const { topic, message, record } of messages) {
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), message]);
        result.replayed.push({ partition: record.partition, offset: record.offset, topic });
      }
      await transaction.sendBatch({ topicMessages: [...byTopic].map(([topic, topicMessages]) => ({ topic, messages: topicMessages })) });
      const partitionsToCommit = plan.map(({ state, offsets }) => ({
        partition: state.partition,
        ...ledgerCommit(
          target.kind === 'all' ? withReplayed(state.ledger, rangeOf(state.ledger.next, state.high)) : withReplayed(state.ledger, offsets),
        ),
      }));
      await transaction.sendOffsets({
        consumerGroupId: replayGroupOf(sink),
        topics: [{ topic: sink.dlqTopic, partitions: partitionsToCommit }],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
    return result;
  } finally {
    await producer.disconnect();
  }
}

/** The records to send: the first dead letter of each source record (topic, partition, offset) of this run. */
function withoutDuplicates(records: RawRecord[], result: ReplayResult): RawRecord[] {
  const first = new Map<string, RawRecord>();
  return records.filter((record) => {
    const source = ['dlq.source.topic', 'dlq.source.partition', 'dlq.source.offset'].map((name) => headerText(record.headers, name));
    if (source.some((part) => part === null)) return true;
    const key = source.join(':');
    const original = first.get(key);
    if (!original) {
      first.set(key, record);
      return true;
    }
    (result.duplicates ??= []).push({ partition: record.partition, offset: record.offset, of: `${original.partition}@${original.offset}` });
    return false;
  });
}

function planReplay(
  partitions: PartitionState[],
  target: { kind: 'all' } | { kind: 'offset'; partition: number; offset: bigint },
  result: ReplayResult,
): { state: PartitionState; offsets: bigint[] }[] {
  if (target.kind === 'all') return partitions.map((state) => ({ state, offsets: pendingOffsets(state.ledger, state.low, state.high) }));
  const state = partitions.find((candidate) => candidate.partition === target.partition);
  if (!state) throw new OperationError(`${result.dlqTopic} has no partition ${target.partition}`);
  if (target.offset < state.low || target.offset >= state.high)
    throw new OperationError(
      `${result.dlqTopic}[${target.partition}] holds offsets ${state.low} to ${state.high - 1n}, not ${target.offset}`,
    );
  if (isReplayed(state.ledger, target.offset)) {
    result.alreadyReplayed.push({ partition: target.partition, offset: target.offset.toString() });
    return [];
  }
  return [{ state, offsets: [target.offset] }];
}

/** Each partition's bounds and replay ledger; undefined when the topic does not exist. */
async function partitionStates(kafka: Kafka, sink: FleetSink): Promise<PartitionState[] | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await topicExists(admin, sink.dlqTopic))) return undefined;
    const ends = await admin.fetchTopicOffsets(sink.dlqTopic);
    const [committed] = await admin.fetchOffsets({ groupId: replayGroupOf(sink), topics: [sink.dlqTopic] });
    return ends
      .sort((a, b) => a.partition - b.partition)
      .map((end) => {
        const mark = committed?.partitions.find((entry) => entry.partition === end.partition);
        const low = BigInt(end.low);
        return {
          partition: end.partition,
          low,
          high: BigInt(end.high),
          ledger: ledgerOf(mark?.offset ?? '-1', mark?.metadata ?? null, low),
        };
      });
  } finally {
    await admin.disconnect();
  }
}

async function topicExists(admin: Admin, topic: string): Promise<boolean> {
  return (await admin.listTopics()).includes(topic);
}

function rangeOf(from: bigint, to: bigint): bigint[] {
  const offsets: bigint[] = [];
  for (let offset = from; offset < to; offset++) offsets.push(offset);
  return offsets;
}

async function keyOf(
  key: Buffer,
  topic: string | undefined,
  fingerprint: Buffer | undefined,
  codec: AvroCodec | undefined,
): Promise<unknown> {
  if (codec && topic) {
    const decoded = await codec.deserialize(topic, 'key', key, fingerprint).catch(() => undefined);
    if (decoded !== undefined) return decoded;
  }
  return key.toString('hex');
}
