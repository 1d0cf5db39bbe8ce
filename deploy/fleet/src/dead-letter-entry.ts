import type { IHeaders } from 'kafkajs';

/** A dead-letter record as the operator sees it (headers written by shared's `DeadLetterQueue`). */
export interface DeadLetterEntry {
  partition: number;
  offset: string;
  reason: string;
  detail: string;
  source: { topic: string; partition: number | null; offset: string | null } | null;
  at: string | null;
  /** The key as the registry decodes it, else its bytes in hex; null for a null key. */
  key: unknown;
  replayed: boolean;
}

/** A record read back from Kafka, before interpretation. */
export interface RawRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

const dlqHeaderPrefix = 'dlq.';

export function headerText(headers: IHeaders, name: string): string | null {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? null : first.toString();
}

export function entryOf(record: RawRecord, key: unknown, replayed: boolean): DeadLetterEntry {
  const topic = headerText(record.headers, 'dlq.source.topic');
  const partition = headerText(record.headers, 'dlq.source.partition');
  return {
    partition: record.partition,
    offset: record.offset,
    reason: headerText(record.headers, 'dlq.reason') ?? 'unknown',
    detail: headerText(record.headers, 'dlq.detail') ?? '',
    source: topic
      ? { topic, partition: partition === null ? null : Number(partition), offset: headerText(record.headers, 'dlq.source.offset') }
      : null,
    at: headerText(record.headers, 'dlq.at'),
    key,
    replayed,
  };
}

/**
 * The original record to publish again: its topic, key and value bytes, and its headers without the
 * dead-letter ones, plus where it was replayed from.
 */
export function replayMessageOf(
  record: RawRecord,
  dlqTopic: string,
): { topic: string; message: { key: Buffer | null; value: Buffer | null; headers: IHeaders } } {
  const topic = headerText(record.headers, 'dlq.source.topic');
  if (!topic) throw new Error(`${dlqTopic}[${record.partition}]@${record.offset} has no dlq.source.topic header: nothing to replay it to`);
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(record.headers))
    if (!name.startsWith(dlqHeaderPrefix) && value !== undefined) headers[name] = value;
  headers['fleet.replayed-from'] = `${dlqTopic}:${record.partition}:${record.offset}`;
  return { topic, message: { key: record.key, value: record.value, headers } };
}
